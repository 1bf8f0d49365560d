"""Simulated ETW: inside simulated_etw(recording), live sessions deliver exactly
the events ETW's enablement rules select from the recording. The expected set
is computed here, independently, from each event's header."""

from __future__ import annotations

import os
import subprocess
import time

import pyetwkit
import pytest
from conftest import PYTHON_WITH_CTRL_C, corpus_dir, corpus_files
from pyetwkit import EtwEvent, EtwListener, EtwStreamer, SessionExistsError
from pyetwkit import providers as p
from pyetwkit.testing import simulated_etw

# The kernel classes each flag enables, by class name (written out here, not
# taken from pyetwkit, so that the test checks the table).
FLAG_CLASSES = {
    p.KernelFlags.PROCESS: {"Process"},
    p.KernelFlags.THREAD: {"Thread"},
    p.KernelFlags.IMAGE_LOAD: {"Image"},
    p.KernelFlags.DISK_IO: {"DiskIo"},
    p.KernelFlags.FILE_IO: {"FileIo"},
    p.KernelFlags.REGISTRY: {"Registry"},
    p.KernelFlags.NETWORK_TCPIP: {"TcpIp", "UdpIp"},
    p.KernelFlags.MEMORY_PAGE_FAULTS: {"PageFault"},
    p.KernelFlags.MEMORY_HARD_FAULTS: {"PageFault"},
    p.KernelFlags.PROFILE: {"PerfInfo"},
}
# What every kernel session receives: its header and rundown.
ALWAYS = {"EventTrace"}
LEVELS = (5, 4, 2, 0)


def session_for(events: list[EtwEvent]) -> tuple[list[p.Provider], int]:
    """Providers of the recording with a mix of levels, keywords, event-id and
    pid filters, and two flags."""
    guids = sorted({e.provider_id for e in events if e.kind != "kernel"})
    keywords = sorted({e.keywords for e in events if e.keywords})
    chosen = []
    for i, guid in enumerate(guids):
        any_mask = keywords[i % len(keywords)] if keywords and i % 3 == 1 else 0
        all_mask = any_mask & -any_mask if i % 6 == 4 else 0  # the lowest bit
        own = [e for e in events if e.provider_id == guid]
        ids = sorted({e.event_id for e in own})[:2] if i % 4 == 2 else []
        pids = sorted({e.pid for e in own if e.pid is not None})[:1] if i % 5 == 3 else []
        chosen.append(
            p.Provider(
                f"p{i}",
                guid,
                level=LEVELS[i % 4],
                keywords_any=any_mask,
                keywords_all=all_mask,
                event_ids=tuple(ids),
                exclude_event_ids=i % 8 == 6,
                pids=tuple(pids),
            )
        )
    return chosen, int(p.KernelFlags.PROCESS | p.KernelFlags.IMAGE_LOAD | p.KernelFlags.PROFILE)


def etw_delivers(event: EtwEvent, chosen: list[p.Provider], flags: int) -> bool:
    """ETW's rules, from the header alone."""
    if event.kind == "kernel":
        enabled = set().union(*(c for f, c in FLAG_CLASSES.items() if flags & f))
        enabled |= ALWAYS if flags else set()
        return event.provider_name in enabled
    for provider in chosen:
        if provider.guid != event.provider_id:
            continue
        level_ok = provider.level == 0 or event.level <= provider.level
        k = event.keywords
        any_mask = provider.keywords_any or (1 << 64) - 1
        keywords_ok = k == 0 or (
            k & any_mask and k & provider.keywords_all == provider.keywords_all
        )
        ids_ok = not provider.event_ids or (
            (event.event_id in provider.event_ids) != provider.exclude_event_ids
        )
        pids_ok = not provider.pids or event.pid in provider.pids
        if level_ok and keywords_ok and ids_ok and pids_ok:
            return True
    return False


def recordings() -> list[str]:
    return [pyetwkit.sample_etl_path()] + [str(corpus_dir() / n) for n in corpus_files()]


@pytest.mark.parametrize("path", recordings(), ids=os.path.basename)
def test_a_simulated_session_delivers_what_etw_would(path: str) -> None:
    with pyetwkit.open_etl(path) as etl:
        everything = list(etl)
    chosen, flags = session_for(everything)
    expected = [e for e in everything if etw_delivers(e, chosen, flags)]
    kernel = p.KernelProvider("test flags", p.KernelFlags(flags), ())
    with simulated_etw(path), EtwListener([*chosen, kernel]) as listener:
        got = list(listener)
        stats = listener.stats()
    assert got == expected
    assert (stats.received, stats.delivered, stats.dropped) == (len(expected), len(expected), 0)
    assert (stats.etw_events_lost, stats.etw_buffers_lost) == (0, 0), "ETW's counters, polled"


async def test_the_streamer_is_served_too() -> None:
    path = pyetwkit.sample_etl_path()
    with pyetwkit.open_etl(path) as etl:
        everything = list(etl)
    expected = [e for e in everything if etw_delivers(e, [], int(p.KernelFlags.PROCESS))]
    with simulated_etw(path):
        async with EtwStreamer([p.kernel_logger_process()]) as stream:
            got = [e async for e in stream]
    assert got == expected
    assert any(e.provider_name == "Process" for e in got), "the sample holds Process events"


def test_a_slow_consumer_loses_events_and_they_are_counted() -> None:
    path = str(corpus_dir() / "perfview_net.4.5.2.x64.etl")
    if not os.path.exists(path):
        pytest.skip("no corpus")
    with simulated_etw(path, overflow="drop"):
        with EtwListener(
            [p.kernel_logger(p.KernelFlags(0xFFFFFFFF))], capacity=1, batch_size=64
        ) as listener:
            first = listener.next_event(timeout=10)
            assert first is not None
            time.sleep(0.5)  # the source outruns this consumer
            rest = list(listener)
        stats = listener.stats()
    assert stats.dropped > 0
    assert stats.delivered == 1 + len(rest)
    assert stats.received == stats.delivered + stats.dropped + stats.filtered_out


def test_session_names_clash_as_in_etw() -> None:
    path = pyetwkit.sample_etl_path()
    with simulated_etw(path, at_end="wait"):  # the first stays open, as in ETW
        first = EtwListener([p.kernel_logger_process()], label="twin").start()
        with pytest.raises(SessionExistsError, match="on_conflict"):
            EtwListener([p.kernel_logger_process()], label="twin").start()
        replaced = EtwListener(
            [p.kernel_logger_process()], label="twin", on_conflict="replace"
        ).start()
        replaced.close()
        first.close()


def test_a_session_that_waits_at_the_end_stays_open_until_stopped() -> None:
    path = pyetwkit.sample_etl_path()
    with simulated_etw(path), EtwListener([p.kernel_logger_process()]) as listener:
        expected = len(list(listener))
    with simulated_etw(path, at_end="wait"), EtwListener([p.kernel_logger_process()]) as listener:
        got = [listener.next_event(timeout=10) for _ in range(expected)]
        assert None not in got
        # Nothing more to say, but the session is open: a timeout, not the end.
        started = time.monotonic()
        assert listener.next_event(timeout=0.2) is None
        assert time.monotonic() - started >= 0.2
        assert not listener.done
        listener.stop()
        assert list(listener) == []


def test_at_end_is_checked() -> None:
    simulation = simulated_etw(pyetwkit.sample_etl_path(), at_end="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at_end"):
        simulation.__enter__()


def test_outside_a_simulation_live_sessions_are_unsupported_here() -> None:
    if pyetwkit._core.live_sessions_supported():
        pytest.skip("this build has live sessions")
    with pytest.raises(pyetwkit.EtwUnsupportedPlatformError, match="simulated_etw"):
        EtwListener([p.kernel_logger_process()])


def test_explicit_buffers_are_checked_and_apply_to_live_sessions_only() -> None:
    path = pyetwkit.sample_etl_path()
    with simulated_etw(path):
        big = pyetwkit.Buffers(buffer_kb=4096)
        with pytest.raises(ValueError, match="buffer_kb"):
            EtwListener([p.kernel_logger_process()], buffers=big).start()
        ok = pyetwkit.Buffers(buffer_kb=512, flush_ms=5)
        with EtwListener([p.kernel_logger_process()], buffers=ok, preset="low_latency") as fine:
            assert {e.provider_name for e in fine} == {"Process", "EventTrace"}
    with pytest.raises(TypeError, match="Buffers"):
        EtwListener(etl_file=path, buffers={"buffer_kb": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="live sessions only"):
        EtwListener(etl_file=path, buffers=ok)


def test_providers_resolve_by_name_from_the_recording() -> None:
    path = pyetwkit.sample_etl_path()
    with simulated_etw(path), EtwListener([p.by_name("PYETWKIT-sample-app", level=2)]) as byname:
        named = list(byname)
    app = "6f2a1c7e-5b0d-4e8a-9a51-3c1d2b7e9044"
    with simulated_etw(path), EtwListener([p.Provider("app", app, level=2)]) as byguid:
        assert named == list(byguid)
    assert named
    with simulated_etw(path), pytest.raises(ValueError, match="No-Such"):
        EtwListener([p.by_name("No-Such")]).start()


@pytest.mark.parametrize("how", ["exit", "ctrl-c"])
def test_open_sessions_stop_at_exit_and_on_ctrl_c(how: str) -> None:
    """A session left open, or a loop interrupted by Ctrl-C, ends the process
    promptly and cleanly: the session is stopped, no thread is left waiting."""
    script = f"""
import os, signal, sys, threading
import pyetwkit
from pyetwkit import EtwListener, providers as p
from pyetwkit.testing import simulated_etw
with simulated_etw(pyetwkit.sample_etl_path(), at_end="wait"):
    listener = EtwListener([p.kernel_logger_process()]).start()
    print("started", flush=True)
    if {how!r} == "ctrl-c":
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            with listener:
                for _ in listener:
                    pass
        except KeyboardInterrupt:
            print("interrupted", flush=True)
"""
    done = subprocess.run(
        [*PYTHON_WITH_CTRL_C, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == (["started"] if how == "exit" else ["started", "interrupted"])
    assert "Traceback" not in done.stderr


def test_the_exit_hook_stops_every_open_session() -> None:
    from pyetwkit import _session

    with simulated_etw(pyetwkit.sample_etl_path(), at_end="wait"):
        listener = EtwListener([p.kernel_logger_process()]).start()
        assert listener.next_event(timeout=10) is not None
        _session._close_live_sessions()  # what atexit runs
        while listener.next_event(timeout=5) is not None:
            pass
        assert listener.done, "the stream ended: the session was stopped"
        listener.close()
        # Its name is free again.
        EtwListener([p.kernel_logger_process()]).start().close()
