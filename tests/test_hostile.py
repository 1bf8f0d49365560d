"""Hostile input a reader meets: crafted manifests, FIFOs, odd paths, cut
files. Each ends quickly, with a clean result or a documented exception."""

from __future__ import annotations

import errno
import itertools
import os
import threading
import time
from pathlib import Path

import pyetwkit
import pytest
from conftest import corpus_dir, have_corpus
from pyetwkit import EtlFormatError, NotAnEtlFileError

NS = "http://schemas.microsoft.com/win/2004/08/events"
GUID = "{6b3e4f1a-0c2d-4e5f-8a9b-1c2d3e4f5a6b}"


def manifest(tmp_path: Path, events: str, templates: str) -> pyetwkit.Manifest:
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<instrumentationManifest xmlns="{NS}"><instrumentation><events>
<provider name="Crafted" guid="{GUID}" symbol="C" resourceFileName="c.dll" messageFileName="c.dll">
<events>{events}</events><templates>{templates}</templates>
</provider></events></instrumentation></instrumentationManifest>"""
    path = tmp_path / "crafted.man"
    path.write_text(xml, encoding="utf-8")
    return pyetwkit.Manifest(path)


def test_nested_counts_over_an_empty_payload_stay_bounded(tmp_path: Path) -> None:
    """4.3 billion values asked for by 485 bytes of manifest: partly decoded, fast."""
    m = manifest(
        tmp_path,
        '<event value="1" version="0" template="T"/>',
        '<template tid="T"><struct name="Outer" count="65535">'
        '<struct name="Inner" count="65535"><data name="S" inType="win:UnicodeString" '
        'length="0"/></struct></struct></template>',
    )
    started = time.monotonic()
    decoded = m.decode(GUID, 1, 0, b"")
    assert decoded is not None
    _, properties, complete = decoded
    assert complete is False, "past the bound the event is partly decoded, and says so"
    assert properties == {}
    assert time.monotonic() - started < 10


def test_an_event_that_cannot_load_is_listed_as_skipped(tmp_path: Path) -> None:
    m = manifest(
        tmp_path,
        '<event value="70000" version="0" template="T"/><event value="2" version="0"/>',
        '<template tid="T"><data name="A" inType="win:UInt32"/></template>',
    )
    assert m.event_count == 1
    assert any("70000" in reason for reason in m.skipped), m.skipped


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.etl"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def open_it() -> None:
        try:
            pyetwkit.open_etl(fifo)
        except BaseException as e:  # the outcome under test
            outcome.append(e)

    t = threading.Thread(target=open_it, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "open_etl blocked on a FIFO with no writer"
    assert isinstance(outcome[0], NotAnEtlFileError)
    assert "FIFO" in str(outcome[0])


def test_paths_behave_as_open_does(tmp_path: Path) -> None:
    sample = pyetwkit.sample_etl_path()
    expected = pyetwkit.count_records(sample)
    assert pyetwkit.count_records(os.fsencode(sample)) == expected
    with pyetwkit.open_etl(os.fsencode(sample)) as etl:
        assert etl.path == sample
        assert sum(1 for _ in etl) > 0
    with pyetwkit.EtwListener(etl_file=os.fsencode(sample)) as listener:
        assert sum(1 for _ in listener) > 0
    for bad in (sample + "\0x", os.fsencode(sample) + b"\0"):
        with pytest.raises(ValueError, match="null"):
            pyetwkit.open_etl(bad)
        with pytest.raises(ValueError, match="null"):
            pyetwkit.count_records(bad)
    with pytest.raises(TypeError, match=r"os\.PathLike"):
        pyetwkit.open_etl(42)  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError) as info:
        pyetwkit.open_etl(tmp_path)
    assert info.value.errno == errno.EISDIR
    with pytest.raises(FileNotFoundError) as missing:
        pyetwkit.open_etl(tmp_path / "none.etl")
    assert "os error" not in str(missing.value)


@pytest.mark.skipif(not have_corpus(), reason="no .etl corpus (PYETWKIT_TEST_DATA)")
def test_a_real_file_cut_inside_a_buffer_gives_every_whole_record(tmp_path: Path) -> None:
    source = corpus_dir() / "etwanalyzer_TraceLoggingTester.etl"
    data = source.read_bytes()
    with pyetwkit.open_etl(source) as etl:
        full = list(etl)
        buffer_size = etl.header.buffer_size
    # One byte short of the second buffer's end, and `head -c 100000` (inside the first).
    for cut in (2 * buffer_size - 1, 100_000):
        path = tmp_path / f"cut{cut}.etl"
        path.write_bytes(data[:cut])
        events = []
        with pytest.raises(EtlFormatError) as info, pyetwkit.open_etl(path) as etl:
            events.extend(etl)
        error = info.value
        assert not isinstance(error, NotAnEtlFileError), "the logfile header was valid"
        assert events == full[: len(events)]
        # Every whole record before the cut came: at least those the next
        # record starts after, at most those that start before the cut.
        whole = sum(1 for _, b in itertools.pairwise(full) if b.file_offset <= cut)
        assert whole <= len(events) <= sum(1 for e in full if e.file_offset < cut)
        cut_buffer_starts = cut // buffer_size * buffer_size
        before_it = sum(1 for e in full if e.file_offset < cut_buffer_starts)
        assert len(events) > before_it, "the cut buffer's whole records came too"
        # The error is where the first record not delivered starts (or the fill).
        assert events[-1].file_offset < error.offset <= full[len(events)].file_offset
        assert "truncated" in str(error)
