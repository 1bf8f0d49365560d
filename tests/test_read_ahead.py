"""Iteration reads ahead on a thread of the reader's own (issue 13): it starts
with the first event asked for, gives the same events as before, and stops
with close(), or when the file has been read."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pyetwkit
import pytest

TASKS = Path("/proc/self/task")
needs_proc = pytest.mark.skipif(not TASKS.is_dir(), reason="counts threads through /proc")


def threads() -> int:
    return len(list(TASKS.iterdir()))


def quiet_threads() -> int:
    """The thread count once readers left by earlier tests are collected and
    their threads gone: the same two readings 50 ms apart."""
    gc.collect()
    last = threads()
    while True:
        time.sleep(0.05)
        now = threads()
        if now == last:
            return now
        last = now


def threads_settle_at(count: int) -> bool:
    """Whether the thread count comes down to ``count`` within two seconds: a
    joined thread leaves /proc a moment after the join returns."""
    deadline = time.monotonic() + 2
    while threads() != count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@needs_proc
def test_a_file_opened_but_not_iterated_starts_no_thread() -> None:
    before = quiet_threads()
    files = [pyetwkit.open_etl(pyetwkit.sample_etl_path()) for _ in range(20)]
    assert threads() <= before
    for etl in files:
        etl.close()


#: Large enough that the reading thread is still at work (waiting for room in
#: its queue) after the first event: 168,298 events.
LARGE = "perfview_net.4.5.2.x86.etl"


def open_descriptors(path: Path) -> int:
    """How many of this process's file descriptors point at ``path``."""
    target = str(path.resolve())
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if _link(fd) == target)


def _link(fd: Path) -> str | None:
    try:
        return str(fd.readlink())
    except OSError:  # closed between listing and reading
        return None


@needs_proc
def test_close_stops_the_reading_thread_and_releases_the_file(corpus: Path) -> None:
    path = corpus / LARGE
    before = quiet_threads()
    etl = pyetwkit.open_etl(path)
    next(iter(etl))
    assert threads() == before + 1
    assert open_descriptors(path) == 1
    etl.close()
    assert threads_settle_at(before)
    assert open_descriptors(path) == 0
    assert etl.closed
    assert list(etl) == []


@needs_proc
def test_the_thread_ends_with_the_file_and_with_an_abandoned_reader(corpus: Path) -> None:
    before = quiet_threads()
    events = list(pyetwkit.open_etl(pyetwkit.sample_etl_path()))
    assert events
    assert threads_settle_at(before)
    etl = pyetwkit.open_etl(corpus / LARGE)
    next(iter(etl))
    assert threads() == before + 1
    del etl
    gc.collect()
    assert threads_settle_at(before)


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
