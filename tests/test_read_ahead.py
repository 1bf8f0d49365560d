"""Iteration reads ahead on a thread of the reader's own (issue 13): it starts
with the first event asked for, gives the same events as before, and stops
with close(), or when the file has been read."""

from __future__ import annotations

import gc
from pathlib import Path

import pyetwkit
import pytest

TASKS = Path("/proc/self/task")
needs_proc = pytest.mark.skipif(not TASKS.is_dir(), reason="counts threads through /proc")


def threads() -> int:
    return len(list(TASKS.iterdir()))


@needs_proc
def test_a_file_opened_but_not_iterated_starts_no_thread() -> None:
    before = threads()
    files = [pyetwkit.open_etl(pyetwkit.sample_etl_path()) for _ in range(20)]
    assert threads() == before
    for etl in files:
        etl.close()


@needs_proc
def test_close_stops_the_reading_thread_and_releases_the_file(tmp_path: Path) -> None:
    path = tmp_path / "copy.etl"
    path.write_bytes(Path(pyetwkit.sample_etl_path()).read_bytes())
    before = threads()
    etl = pyetwkit.open_etl(path)
    next(iter(etl))
    assert threads() == before + 1
    etl.close()
    assert threads() == before
    assert etl.closed
    assert list(etl) == []
    path.unlink()


@needs_proc
def test_the_thread_ends_with_the_file_and_with_an_abandoned_reader() -> None:
    before = threads()
    events = list(pyetwkit.open_etl(pyetwkit.sample_etl_path()))
    assert events
    assert threads() == before
    etl = pyetwkit.open_etl(pyetwkit.sample_etl_path())
    next(iter(etl))
    del etl
    gc.collect()
    assert threads() == before


@pytest.mark.parametrize(
    "name", ["airbus_ShutdownPerfDiagLogger.etl", "etwanalyzer_TraceLoggingTester.etl"]
)
def test_read_ahead_gives_the_events_of_the_inline_reader_in_order(corpus: Path, name: str) -> None:
    """Iteration (threaded) against the Arrow stream, which reads the same
    stages inline on the caller's thread."""
    pa = pytest.importorskip("pyarrow")
    path = corpus / name
    columns = ["filetime", "provider_id", "event_id", "opcode", "pid"]
    inline = pa.RecordBatchReader.from_stream(pyetwkit.open_etl(path).batches(columns=columns))
    expected = list(zip(*inline.read_all().to_pydict().values(), strict=True))
    threaded = [
        (e.filetime, e.provider_id, e.event_id, e.opcode, e.pid) for e in pyetwkit.open_etl(path)
    ]
    assert threaded == expected
    assert threaded
