"""The live-session examples (examples/live_*.py), run as a user runs them, with
``--simulate`` so that they run on any OS. What each prints is checked against
what the recording holds, computed here from ``open_etl`` independently of the
example's own selection."""

from __future__ import annotations

import _thread
import functools
import importlib.util
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from types import ModuleType

import pyetwkit
import pytest
from conftest import EXAMPLES, corpus_dir, needs_corpus, run_example
from pyetwkit import EtwEvent
from pyetwkit.testing import simulated_etw

SAMPLE = pyetwkit.sample_etl_path()
SAMPLE_APP = "6f2a1c7e-5b0d-4e8a-9a51-3c1d2b7e9044"  # Pyetwkit-Sample-App, TraceLogging
SAMPLE_MANIFEST_PROVIDER = "0c3e6e25-7d7b-4c2f-8e0e-62419f1a5d33"  # event id 100, level 5


def run(example: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = run_example(example, *args)
    assert "SessionStats received=" in done.stderr, "the statistics at the end"
    return done


def lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return done.stdout.splitlines()


def recorded(path: str | Path) -> list[EtwEvent]:
    with pyetwkit.open_etl(path) as etl:
        return list(etl)


def load(example: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(example.removesuffix(".py"), EXAMPLES / example)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# live_process_monitor.py


def test_process_monitor_prints_each_start_and_end() -> None:
    expected = [e for e in recorded(SAMPLE) if e.name in ("Process/Start", "Process/End")]
    assert len(expected) == 2, "the sample holds one start and one end"
    out = lines(run("live_process_monitor.py", "--simulate", SAMPLE, "--ends"))
    assert len(out) == len(expected)
    for line, event in zip(out, expected, strict=True):
        assert line.startswith(event.timestamp)
        assert f"pid {event.properties['ProcessId']:>6}" in line
    start = next(e for e in expected if e.name == "Process/Start")
    assert any(start.properties["CommandLine"] in line for line in out)
    # Without --ends, the start alone.
    assert len(lines(run("live_process_monitor.py", "--simulate", SAMPLE))) == 1


@needs_corpus
def test_process_monitor_selects_by_image_and_parent_in_rust() -> None:
    path = corpus_dir() / "perfview_diaghub_diaghub.kernel.1.etl"
    starts = [e for e in recorded(path) if e.name == "Process/Start"]
    by_image = [e for e in starts if e.properties["ImageFileName"].lower() == "conhost.exe"]
    by_parent = [e for e in starts if e.process_name == "devenv.exe"]
    assert 0 < len(by_image) < len(starts)
    assert 0 < len(by_parent) < len(starts)

    out = lines(run("live_process_monitor.py", "--simulate", str(path), "--image", "CONHOST.EXE"))
    assert len(out) == len(by_image)
    assert all("conhost.exe" in line.lower() for line in out)

    out = lines(run("live_process_monitor.py", "--simulate", str(path), "--parent", "devenv.exe"))
    assert len(out) == len(by_parent)
    assert all("(devenv.exe)" in line for line in out)


# live_provider.py


def test_provider_by_guid_at_a_level() -> None:
    expected = [e for e in recorded(SAMPLE) if e.provider_id == SAMPLE_APP and 0 < e.level <= 2]
    assert len(expected) == 4
    out = lines(run("live_provider.py", SAMPLE_APP, "--simulate", SAMPLE, "--level", "2"))
    assert len(out) == len(expected)
    for line, event in zip(out, expected, strict=True):
        assert line.startswith(event.timestamp)
        assert f"Path={event.properties['Path']!r}" in line
        assert "Status=500" in line


def test_provider_by_name_with_max_events() -> None:
    out = lines(
        run("live_provider.py", "Pyetwkit-Sample-App", "--simulate", SAMPLE, "--max-events", "5")
    )
    expected = [e for e in recorded(SAMPLE) if e.provider_id == SAMPLE_APP][:5]
    assert [line.split()[0] for line in out] == [e.timestamp for e in expected]
    assert [e.name for e in expected] == [line.split()[3] for line in out]


@pytest.mark.parametrize(
    ("option", "value", "passes"),
    [
        ("--event-id", "100", True),
        ("--event-id", "7", False),
        ("--pid", "4242", True),
        ("--pid", "1", False),
    ],
)
def test_provider_filters_applied_by_etw(option: str, value: str, passes: bool) -> None:
    everything = [e for e in recorded(SAMPLE) if e.provider_id == SAMPLE_MANIFEST_PROVIDER]
    assert len(everything) == 40
    assert {e.event_id for e in everything} == {100}
    assert {e.pid for e in everything} == {4242}
    out = lines(
        run("live_provider.py", SAMPLE_MANIFEST_PROVIDER, "--simulate", SAMPLE, option, value)
    )
    assert len(out) == (len(everything) if passes else 0)
    assert all(" id 100 " in line and "74 bytes undecoded" in line for line in out)


def test_provider_unknown_name_is_an_error_not_a_traceback() -> None:
    done = run_example("live_provider.py", "No-Such-Provider", "--simulate", SAMPLE, status=2)
    assert "No-Such-Provider" in done.stderr
    assert "Traceback" not in done.stderr


# live_async.py


def test_async_counts_per_provider() -> None:
    done = run(
        "live_async.py",
        "--simulate",
        SAMPLE,
        "--kernel",
        "process",
        "--kernel",
        "image_load",
        "--provider",
        SAMPLE_APP,
    )
    expected = Counter(
        e.provider_name or e.provider_id
        for e in recorded(SAMPLE)
        # Every kernel session also receives its header (EventTrace).
        if (e.kind == "kernel" and e.provider_name in ("Process", "Image", "EventTrace"))
        or (e.provider_id == SAMPLE_APP and e.level <= 4)
    )
    total, *rows = lines(done)
    assert re.fullmatch(rf"\s*{sum(expected.values())}\s+events in all", total)
    got = Counter()
    for row in rows:
        count, name = row.split(maxsplit=1)
        got[name] = int(count.replace(",", ""))
    assert got == expected


# All three: without --simulate, off Windows, a message and not a traceback.


@pytest.mark.skipif(sys.platform == "win32", reason="on Windows this would start a live session")
@pytest.mark.parametrize(
    ("example", "args"),
    [("live_process_monitor.py", ()), ("live_provider.py", (SAMPLE_APP,)), ("live_async.py", ())],
)
def test_off_windows_the_examples_say_how_to_run_them(example: str, args: tuple[str, ...]) -> None:
    done = run_example(example, *args, status=1)
    assert "--simulate" in done.stderr
    assert "Traceback" not in done.stderr


# Ctrl-C: a session that stays open (at_end="wait", as a live one) is interrupted.


@pytest.mark.parametrize(
    ("example", "args"),
    [
        ("live_process_monitor.py", ()),
        ("live_provider.py", (SAMPLE_APP,)),
        ("live_async.py", ("--interval", "0.1")),
    ],
)
@pytest.mark.usefixtures("sigint_handled")
def test_ctrl_c_prints_the_stats_and_exits_130(
    example: str, args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    module = load(example)
    module.simulated_etw = functools.partial(simulated_etw, at_end="wait")
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    try:
        status = module.main(["--simulate", SAMPLE, *args])
    finally:
        timer.cancel()
    captured = capsys.readouterr()
    assert status == 130
    assert "SessionStats received=" in captured.err
    assert captured.out, "what came before Ctrl-C was printed"


def test_every_live_example_is_tested() -> None:
    tested = {"live_process_monitor.py", "live_provider.py", "live_async.py"}
    assert {p.name for p in EXAMPLES.glob("live_*.py")} == tested
