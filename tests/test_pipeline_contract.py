"""One pipeline for every source: open_etl (stages inline) and the listener
(stages on the source thread) agree; a provider name filters exactly the events
that carry it; Kernel-Process manifest events name processes; no argument
makes Rust panic; closed sessions and drops are reported."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

import pyetwkit
import pytest
from conftest import corpus_dir, corpus_files, needs_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyetwkit import EtwEvent, EtwListener, EtwStreamer, SessionClosedError
from pyetwkit import filters as f
from pyetwkit._core import Session


def all_files() -> list[str]:
    return [pyetwkit.sample_etl_path()] + [str(corpus_dir() / n) for n in corpus_files()]


def names_by_origin(path: str) -> dict[str, Counter[str]]:
    """The file's provider names, by where a name comes from."""
    origins: dict[str, Counter[str]] = defaultdict(Counter)
    with pyetwkit.open_etl(path) as etl:
        for e in etl:
            if e.provider_name is None:
                continue
            if e.kind == "kernel":
                origin = "kernel"
            elif any(t == 11 for t, _ in e.extended_data):  # a TraceLogging schema item
                origin = "tracelogging"
            else:
                origin = "schema"  # embedded metadata, EventSource or KernelTraceControl
            origins[origin][e.provider_name] += 1
    return origins


def mixed_filter(path: str) -> f.Filter:
    """A filter naming one provider of each origin the file has, plus a header test."""
    origins = names_by_origin(path)
    names = [c.most_common()[-1][0] for c in origins.values()]  # the rarest of each origin
    wanted = f.provider(*names) if names else f.event_id(1)
    return (wanted & ~f.max_level(1)) | f.opcode(2)


@pytest.mark.parametrize("path", all_files(), ids=os.path.basename)
def test_open_etl_and_the_listener_yield_the_same_events(path: str) -> None:
    flt = mixed_filter(path)
    with pyetwkit.open_etl(path, filter=flt) as etl:
        inline = list(etl)
    with EtwListener(etl_file=path, filter=flt) as listener:
        threaded = list(listener)
        stats = listener.stats()
    assert threaded == inline
    # Context the stages add (not part of equality) agrees too.
    assert [e.process_name for e in threaded] == [e.process_name for e in inline]
    assert [e.provider_name for e in threaded] == [e.provider_name for e in inline]
    assert stats.delivered == len(inline)
    assert stats.received == stats.delivered + stats.filtered_out + stats.dropped


@needs_corpus
def test_a_provider_name_filters_exactly_the_events_that_carry_it() -> None:
    # Every name in the corpus, checked on the smallest file that holds it.
    where: dict[str, tuple[int, str, int]] = {}
    for path in all_files():
        size = os.path.getsize(path)
        for counts in names_by_origin(path).values():
            for name, n in counts.items():
                if name not in where or size < where[name][0]:
                    where[name] = (size, path, n)
    assert "Microsoft-Windows-DotNETRuntime" in where, "a name from embedded schemas"
    assert "Process" in where, "a kernel class name"
    for name, (_, path, expected) in sorted(where.items()):
        with pyetwkit.open_etl(path, filter=f.provider(name.upper())) as etl:
            got = [e.provider_name for e in etl]
        assert len(got) == expected, (name, path)
        assert set(got) == {name}


def test_the_readme_filter_example_matches_events() -> None:
    net = corpus_dir() / "perfview_net.4.5.2.x64.etl"
    if not net.is_file():
        pytest.skip("no corpus")
    with pyetwkit.open_etl(net, filter=f.provider("Microsoft-Windows-DotNETRuntime")) as etl:
        assert sum(1 for _ in etl) == 32_729


def process_starts(event: EtwEvent) -> tuple[int, str] | None:
    """A Kernel-Process ProcessStart's pid and image file name, read independently."""
    if event.provider_name != "Microsoft-Windows-Kernel-Process" or event.event_id != 1:
        return None
    image = str(event.properties["ImageName"])
    return int(str(event.properties["ProcessID"])), image.split("\\")[-1]


def expected_name(history: list[tuple[int, str]], event: EtwEvent) -> str | None:
    before = [image for t, image in sorted(history) if t <= event.filetime]
    return before[-1] if before else None


@needs_corpus
@pytest.mark.parametrize("prescan", [False, True])
def test_kernel_process_manifest_events_name_their_processes(prescan: bool) -> None:
    shared = corpus_dir().parent
    trace = shared / "manifests/microsoft-tx/traces/Process.etl"
    manifest = shared / "manifests/microsoft-tx/SystemEvents.man"
    with pyetwkit.open_etl(trace, manifests=[manifest], prescan_processes=prescan) as etl:
        events = list(etl)
    # Independently: each ProcessStart's pid, time and image file name; streamed,
    # only the starts read so far are known, prescanned, all of them.
    starts: dict[int, list[tuple[int, str]]] = defaultdict(list)
    if prescan:
        for e in events:
            if (start := process_starts(e)) is not None:
                starts[start[0]].append((e.filetime, start[1]))
    named = 0
    for e in events:
        start = process_starts(e)
        if start is not None and not prescan:
            starts[start[0]].append((e.filetime, start[1]))
        if e.pid is None or start is not None:
            continue  # a ProcessStart is logged by its parent
        want = expected_name(starts.get(e.pid, []), e)
        if want is not None:
            assert e.process_name == want, (e.name, e.pid)
            named += 1
    assert named > 1000, named


def test_dump_filter_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from pyetwkit.cli import main

    sample = pyetwkit.sample_etl_path()
    assert main(["dump", sample, "--filter", "provider('pyetwkit-sample-app') & max_level(2)"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4, "the four failed requests"
    with pytest.raises(SystemExit) as exit:
        main(["dump", sample, "--filter", "provider('x') & os.system('x')"])
    assert exit.value.code == 2
    assert "column" in capsys.readouterr().err


def test_a_closed_session_raises_an_etw_error() -> None:
    session = Session.replay(pyetwkit.sample_etl_path())
    session.close()
    with pytest.raises(SessionClosedError):
        session.next_events(1)
    assert issubclass(SessionClosedError, pyetwkit.EtwError)


def test_drops_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pyetwkit")
    with EtwListener(etl_file=pyetwkit.sample_etl_path(), batch_size=1) as listener:
        assert listener.next_event(timeout=10) is not None
    stats = listener.stats()
    assert stats.dropped > 0, "closed with events unread"
    assert any("dropped" in r.getMessage() for r in caplog.records)


# No argument may make Rust panic: absurd values are ValueError (or TypeError
# for the wrong type), never PanicException (a BaseException from pyo3).

ABSURD_FLOATS = st.sampled_from(
    [math.inf, -math.inf, math.nan, 1e300, 1e19, 2.0**64, -1.0, 0.0, 1e-300, 5e-324, -0.0]
) | st.floats(allow_nan=True, allow_infinity=True)
ABSURD_INTS = st.sampled_from([0, -1, 2**63, 2**64, 2**64 + 1, -(2**70), 2**200]) | st.integers()
NUMBERS = ABSURD_FLOATS | ABSURD_INTS

ALLOWED = (ValueError, TypeError, OverflowError, OSError, pyetwkit.EtwError)


def no_panic(call: object, *args: object, **kwargs: object) -> object:
    try:
        return call(*args, **kwargs)  # type: ignore[operator]
    except ALLOWED:
        return None
    except BaseException as e:
        assert type(e).__name__ != "PanicException", f"{call}: {e!r}"  # noqa: PT017
        raise


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacity=NUMBERS,
    batch_size=NUMBERS,
    flush_interval=NUMBERS,
    replay_speed=st.none() | NUMBERS,
)
def test_listener_options_never_panic(
    capacity: float, batch_size: float, flush_interval: float, replay_speed: float | None
) -> None:
    listener = no_panic(
        EtwListener,
        etl_file=pyetwkit.sample_etl_path(),
        capacity=capacity,
        batch_size=batch_size,
        flush_interval=flush_interval,
        replay_speed=replay_speed,
    )
    if isinstance(listener, EtwListener):
        # A paced replay may hold its next event for ages: wait briefly, then
        # close, which must wake the sleeping source.
        with listener:
            no_panic(listener.next_event, timeout=0.01)
        stats = listener.stats()
        assert stats.received == stats.delivered + stats.dropped + stats.filtered_out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeout=st.none() | NUMBERS, max_events=st.none() | ABSURD_INTS)
def test_listener_waits_never_panic(timeout: float | None, max_events: int | None) -> None:
    # Unpaced: events are waiting, or the stream ends, so no wait lasts long
    # whatever the timeout; the timeout still crosses into Rust.
    with EtwListener(etl_file=pyetwkit.sample_etl_path(), batch_size=1) as listener:
        no_panic(listener.next_event, timeout)
        bounded = None if max_events is None else min(max_events, 5)
        no_panic(lambda: list(listener.events(timeout=timeout, max_events=bounded)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timeout=NUMBERS, flush_interval=NUMBERS)
async def test_streamer_arguments_never_panic(timeout: float, flush_interval: float) -> None:
    streamer = no_panic(
        EtwStreamer, etl_file=pyetwkit.sample_etl_path(), flush_interval=flush_interval
    )
    if streamer is None:
        return
    assert isinstance(streamer, EtwStreamer)
    async with streamer:
        small = timeout if isinstance(timeout, float) and 0 <= timeout < 0.05 else 0.01
        with contextlib.suppress(ALLOWED):
            await streamer.next(timeout=timeout if not (0.05 <= timeout < math.inf) else small)


@settings(max_examples=150, deadline=None)
@given(value=NUMBERS | st.text(max_size=5) | st.none())
def test_filters_and_open_etl_never_panic(value: object) -> None:
    for make in (
        f.event_id,
        f.opcode,
        f.max_level,
        f.keywords_any,
        f.keywords_all,
        f.pid,
        f.provider,
        f.process_name,
        lambda v: f.property_equals("x", v),
        lambda v: f.property_range("x", min=v),
        lambda v: f.property_range("x", max=v),
        lambda v: f.property_contains("x", v),
        lambda v: f.property_regex("x", v),
    ):
        flt = no_panic(make, value)
        if isinstance(flt, f.Filter):
            with pyetwkit.open_etl(pyetwkit.sample_etl_path(), filter=flt) as etl:
                no_panic(lambda etl=etl: sum(1 for _ in etl))
    no_panic(pyetwkit.open_etl, pyetwkit.sample_etl_path(), filter=value)
    no_panic(pyetwkit.open_etl, value)


def test_events_between_ticks_keep_their_order_with_tiny_batches() -> None:
    path = Path(pyetwkit.sample_etl_path())
    with pyetwkit.open_etl(path) as etl:
        direct: list[EtwEvent] = list(etl)
    with EtwListener(etl_file=path, batch_size=1, capacity=1, flush_interval=0) as listener:
        assert list(listener) == direct


def test_the_reported_panics_are_gone() -> None:
    sample = pyetwkit.sample_etl_path()
    with EtwListener(etl_file=sample) as listener:
        assert listener.next_event(timeout=math.inf) is not None, "inf: no limit"
        assert listener.next_event(timeout=1e19) is not None, "past the clock: no limit"
        with pytest.raises(ValueError, match="too large"):
            listener.next_event(timeout=2**64)
        with pytest.raises(ValueError, match="too large"):
            list(listener.events(timeout=1e300))
        with pytest.raises(ValueError, match="timeout"):
            listener.next_event(timeout=math.nan)
    with pytest.raises(ValueError, match="flush_interval"):
        EtwListener(etl_file=sample, flush_interval=1e300)
    # A pace so slow that the second event is due past the clock's range: the
    # source waits for its stop instead of panicking.
    with EtwListener(etl_file=sample, replay_speed=1e-300) as slow:
        assert slow.next_event(timeout=5) is not None
        assert slow.next_event(timeout=0.05) is None
    stats = slow.stats()
    assert stats.received == stats.delivered + stats.dropped + stats.filtered_out


def test_the_logger_is_silent_by_default(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import pyetwkit\n"
        "with pyetwkit.EtwListener(etl_file=pyetwkit.sample_etl_path(), batch_size=1) as l:\n"
        "    l.next_event(timeout=10)\n"
        "assert l.stats().dropped > 0\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", "nothing is printed unless the application configures logging"


def test_live_session_errors_are_etw_errors() -> None:
    # Raised by live sessions (Windows); their classes exist on every OS so that
    # scripts can catch them anywhere.
    from pyetwkit.exceptions import SessionExistsError, SessionLimitError, SessionNotFoundError

    for cls in (SessionExistsError, SessionLimitError, SessionNotFoundError, SessionClosedError):
        assert issubclass(cls, pyetwkit.EtwError)
