"""Bad input: clear exceptions, never a crash, hang or panic, and every event
before a fault is delivered before the fault is raised."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyetwkit
import pytest
from conftest import corpus_dir, have_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyetwkit import EtlFormatError, EtwError, EtwEvent, NotAnEtlFileError

# Small files of each shape: uncompressed user session, compressed relog (SYS32
# header), compressed merge with many buffers, kernel logger.
FUZZ_FILES = [
    "perfview_primitive-types.etl",
    "perfview_smallEtlFile.etl",
    "perfview_SelfDescribingSingleEvent.etl",
    "krabsetw_powershell.etl",
    "perfview_gcrundown_PerfViewData.clrRundown.etl",
]


def read_all(path: str | os.PathLike[str]) -> tuple[list[EtwEvent], EtlFormatError | None]:
    events: list[EtwEvent] = []
    try:
        with pyetwkit.open_etl(path) as etl:
            for event in etl:
                events.append(event)
    except EtlFormatError as e:
        return events, e
    return events, None


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.etl"
    with pytest.raises(FileNotFoundError) as info:
        pyetwkit.open_etl(missing)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == str(missing)


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        pyetwkit.open_etl(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello, world\n" * 100,
        b"\x89PNG\r\n\x1a\n" + bytes(4096),
        os.urandom(70_000),
        bytes(8192),
    ],
    ids=["empty", "text", "png", "random", "zeros"],
)
def test_not_an_etl_file_fails_at_open(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.etl"
    path.write_bytes(content)
    with pytest.raises(NotAnEtlFileError) as info:
        pyetwkit.open_etl(path)
    err = info.value
    assert isinstance(err, EtlFormatError)
    assert isinstance(err, EtwError)
    assert err.path == str(path)
    assert err.offset == 0
    assert "not an .etl file" in str(err)
    assert str(path) in str(err)


def test_truncated_file_delivers_the_events_before_the_fault(tmp_path: Path) -> None:
    source = Path(pyetwkit.sample_etl_path())
    full, error = read_all(source)
    assert error is None
    data = source.read_bytes()
    cut = len(data) - 1000  # inside the last buffer
    path = tmp_path / "cut.etl"
    path.write_bytes(data[:cut])
    events, error = read_all(path)
    assert error is not None
    assert error.path == str(path)
    assert 0 < error.offset <= cut
    assert "truncated" in str(error)
    assert f"{error.offset:#x}" in str(error)
    # Exactly the events of the complete buffers, in order, came first.
    assert events == full[: len(events)]
    assert all(e.file_offset < error.offset for e in events)
    assert len(events) == sum(1 for e in full if e.file_offset < error.offset)


def test_error_is_raised_once_then_iteration_ends(tmp_path: Path) -> None:
    data = Path(pyetwkit.sample_etl_path()).read_bytes()
    path = tmp_path / "cut.etl"
    path.write_bytes(data[:-100])
    etl = pyetwkit.open_etl(path)
    it = iter(etl)
    with pytest.raises(EtlFormatError):
        for _ in it:
            pass
    assert list(it) == []


def test_batches_deliver_events_before_raising(tmp_path: Path) -> None:
    data = Path(pyetwkit.sample_etl_path()).read_bytes()
    path = tmp_path / "cut.etl"
    path.write_bytes(data[:-100])
    full, _ = read_all(path)
    reader = pyetwkit._core.EtlReader(path)
    batch = reader.next_batch(100_000)
    assert batch == full
    with pytest.raises(EtlFormatError):
        reader.next_batch(10)
    assert reader.next_batch(10) == []


def _scratch_file(data: bytes) -> Iterator[str]:
    fd, name = tempfile.mkstemp(suffix=".etl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield name
    finally:
        os.unlink(name)


_originals: dict[str, tuple[bytes, list[EtwEvent]]] = {}


def _original(name: str) -> tuple[bytes, list[EtwEvent]]:
    if name not in _originals:
        path = corpus_dir() / name
        events, error = read_all(path)
        assert error is None
        _originals[name] = (path.read_bytes(), events)
    return _originals[name]


needs_corpus = pytest.mark.skipif(not have_corpus(), reason="no .etl corpus (PYETWKIT_TEST_DATA)")


@needs_corpus
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FUZZ_FILES), fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_truncation_anywhere_gives_a_prefix_then_an_error(name: str, fraction: float) -> None:
    data, full = _original(name)
    cut = int(len(data) * fraction)
    first_buffer_size = int.from_bytes(data[:4], "little")
    for path in _scratch_file(data[:cut]):
        try:
            events, error = read_all(path)
        except NotAnEtlFileError:
            assert cut < first_buffer_size, "only a cut inside the first buffer is unreadable"
            continue
        assert events == full[: len(events)]
        # Everything located before the fault (or the clean end) was delivered.
        end = cut if error is None else error.offset
        assert end <= cut
        assert len(events) == sum(1 for e in full if e.file_offset < end)


@needs_corpus
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(FUZZ_FILES),
    edits=st.lists(
        st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
)
def test_mutations_never_crash(name: str, edits: list[tuple[float, int]]) -> None:
    data, _ = _original(name)
    mutated = bytearray(data)
    for where, value in edits:
        mutated[int(where * len(data))] = value
    for path in _scratch_file(bytes(mutated)):
        try:
            events, error = read_all(path)
        except NotAnEtlFileError as e:
            assert e.offset == 0  # noqa: PT017 - the exception is the outcome under test
            continue
        if error is not None:
            assert 0 <= error.offset < len(data)
        for event in events:
            # Every attribute is computable on whatever was decoded.
            event.to_dict()
            event.to_json()
            repr(event)
