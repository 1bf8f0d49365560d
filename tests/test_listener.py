"""EtwListener on file replay: same events as open_etl, exact accounting,
timeouts, stop from another thread, Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pyetwkit
import pytest
from conftest import corpus_files, drain, needs_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyetwkit import EtlFormatError, EtwListener, EtwUnsupportedPlatformError
from pyetwkit import filters as f


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
def test_replay_yields_exactly_the_events_of_open_etl(corpus: Path, name: str) -> None:
    with pyetwkit.open_etl(corpus / name) as etl:
        direct = list(etl)
    with EtwListener(etl_file=corpus / name, capacity=4, batch_size=256) as listener:
        replayed = list(listener)
        stats = listener.stats()
    assert len(replayed) == len(direct)
    assert replayed == direct
    assert (stats.received, stats.delivered, stats.dropped, stats.filtered_out) == (
        len(direct),
        len(direct),
        0,
        0,
    )
    assert stats.etw_events_lost is None
    assert stats.etw_buffers_lost is None


@pytest.mark.parametrize("preload", [False, True])
def test_preload_changes_nothing_but_when_the_file_is_read(preload: bool, tmp_path: Path) -> None:
    data = Path(pyetwkit.sample_etl_path()).read_bytes()
    cut = tmp_path / "cut.etl"
    cut.write_bytes(data[:-700])
    direct, direct_error = drain(pyetwkit.open_etl(cut))
    with EtwListener(etl_file=cut, preload=preload) as listener:
        got, error = drain(listener)
    assert got == direct
    assert isinstance(error, EtlFormatError)
    assert isinstance(direct_error, EtlFormatError)
    assert error.offset == direct_error.offset


def test_process_names_come_from_process_events() -> None:
    with EtwListener(etl_file=pyetwkit.sample_etl_path()) as listener:
        events = list(listener)
    app = [e for e in events if e.pid == 4242]
    assert app
    assert {e.process_name for e in app} == {"sampleapp.exe"}
    assert events[1].process_name is None  # Process/Start is logged by the parent


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacity=st.integers(1, 4),
    batch_size=st.integers(1, 48),
    pause_every=st.integers(1, 40),
    pause=st.sampled_from([0.0, 0.0005, 0.002]),
    filtered=st.booleans(),
)
def test_drop_accounting_is_exact(
    capacity: int, batch_size: int, pause_every: int, pause: float, filtered: bool
) -> None:
    """With a slow consumer and overflow="drop": received = delivered + dropped + filtered."""
    flt = ~f.provider("PerfInfo") if filtered else None
    seen = 0
    with EtwListener(
        etl_file=pyetwkit.sample_etl_path(),
        filter=flt,
        overflow="drop",
        capacity=capacity,
        batch_size=batch_size,
    ) as listener:
        for _ in listener:
            seen += 1
            if pause and seen % pause_every == 0:
                time.sleep(pause)
        s = listener.stats()
    assert s.received == 128
    assert s.delivered == seen
    assert s.received == s.delivered + s.dropped + s.filtered_out
    assert s.filtered_out == (40 if filtered else 0)


def test_slow_consumer_with_drop_really_drops() -> None:
    with EtwListener(
        etl_file=pyetwkit.sample_etl_path(), overflow="drop", capacity=1, batch_size=2
    ) as listener:
        for _ in listener:
            time.sleep(0.005)
        s = listener.stats()
    assert s.dropped > 0
    assert s.received == s.delivered + s.dropped


def test_events_timeout_returns_when_nothing_arrives() -> None:
    # At 1/1000 of recorded speed the second event is due 10 s after the first.
    with EtwListener(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.001) as listener:
        t = time.monotonic()
        got = list(listener.events(timeout=0.3))
        waited = time.monotonic() - t
        assert len(got) == 1
        assert 0.25 < waited < 5
        t = time.monotonic()
        assert listener.next_event(timeout=0.2) is None
        assert 0.15 < time.monotonic() - t < 5
        assert not listener.done


def test_events_max_events_keeps_the_rest() -> None:
    with EtwListener(etl_file=pyetwkit.sample_etl_path()) as listener:
        first = list(listener.events(max_events=5))
        rest = list(listener)
    assert len(first) == 5
    assert len(rest) == 123
    assert listener.done


def test_stop_from_another_thread_ends_iteration() -> None:
    listener = EtwListener(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.001)
    with listener:
        threading.Timer(0.3, listener.stop).start()
        t = time.monotonic()
        got = list(listener)
        assert time.monotonic() - t < 5
    assert len(got) < 128
    s = listener.stats()
    assert s.received == s.delivered + s.dropped + s.filtered_out


@pytest.mark.usefixtures("sigint_handled")
def test_ctrl_c_interrupts_a_blocked_wait() -> None:
    main = threading.main_thread().ident
    assert main is not None
    with EtwListener(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.001) as listener:
        listener.next_event()  # the first event comes at once
        threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT)).start()
        t = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            listener.next_event()  # the next is 10 s away
        assert time.monotonic() - t < 3


def test_close_leaves_no_thread_behind() -> None:
    before = native_threads()
    for _ in range(5):
        with EtwListener(etl_file=pyetwkit.sample_etl_path(), replay_speed=0.01) as listener:
            listener.next_event()
    assert native_threads() == before


def test_errors_arrive_after_the_events_before_them(tmp_path: Path) -> None:
    data = Path(pyetwkit.sample_etl_path()).read_bytes()
    cut = tmp_path / "cut.etl"
    cut.write_bytes(data[:-500])
    direct, direct_error = drain(pyetwkit.open_etl(cut))
    with EtwListener(etl_file=cut) as listener:
        got, error = drain(listener)
    assert isinstance(direct_error, EtlFormatError)
    assert isinstance(error, EtlFormatError)
    assert got == direct
    assert error.path == str(cut)
    assert error.offset == direct_error.offset


def test_bad_arguments_fail_early(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="providers"):
        EtwListener()
    with pytest.raises(FileNotFoundError):
        EtwListener(etl_file=tmp_path / "missing.etl").start()
    with pytest.raises(ValueError, match="overflow"):
        EtwListener(etl_file=pyetwkit.sample_etl_path(), overflow="lose")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="regular expression"):
        f.property_regex("x", "(unclosed")
    with pytest.raises(TypeError):
        EtwListener(etl_file=pyetwkit.sample_etl_path(), filter="id=1")  # type: ignore[arg-type]


@pytest.mark.skipif(os.name == "nt", reason="live sessions are possible on Windows")
def test_live_listener_off_windows_raises_a_clear_error() -> None:
    with pytest.raises(EtwUnsupportedPlatformError) as info:
        EtwListener(pyetwkit.providers.kernel_process())
    message = str(info.value)
    assert "need Windows" in message
    assert "etl" in message
    assert isinstance(info.value, pyetwkit.EtwError)
