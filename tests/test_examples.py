"""The file examples (examples/*.py but the live ones, which test_examples_live.py
runs), run as a user runs them. What they print is checked against what
``open_etl`` reads from the same file."""

from __future__ import annotations

import json
from pathlib import Path

import pyetwkit
from conftest import corpus_dir, drain, needs_corpus, run_example


def events_in(path: str | Path) -> int:
    with pyetwkit.open_etl(path) as etl:
        return sum(1 for _ in etl)


# async_stream.py


@needs_corpus
def test_async_stream_waits_through_the_pauses_of_a_recording() -> None:
    """The GC trace pauses 8 s and twice 3.4 s between events: at twice the
    recorded pace, longer than the example's 1 s timeout. A timeout is not the
    end of the stream; every event arrives."""
    path = corpus_dir() / "perfview_gcevents_PerfViewData.etl"
    expected = events_in(path)
    done = run_example("async_stream.py", str(path))
    lines = done.stdout.splitlines()
    assert lines[-1] == f"total {expected}"
    assert f"received={expected} delivered={expected} " in lines[-2]
    assert any("waiting" in line for line in lines), "a timeout passed on the way"


def test_async_stream_follows_two_recordings_at_once() -> None:
    done = run_example("async_stream.py")
    assert done.stdout.splitlines()[-1] == f"total {2 * events_in(pyetwkit.sample_etl_path())}"


# find_errors.py


@needs_corpus
def test_find_errors_prints_the_errors_before_the_damage_and_where_it_is(
    tmp_path: Path,
) -> None:
    # WSL's lxcore trace logs two error-level BreakPoint events, in its second and
    # third 8 KiB buffers; the copy ends inside the second.
    cut = tmp_path / "lxcore-cut.etl"
    cut.write_bytes((corpus_dir() / "airbus_lxcore_kernel.etl").read_bytes()[:12000])
    events, error = drain(pyetwkit.open_etl(cut))
    assert isinstance(error, pyetwkit.EtlFormatError)
    expected = [e for e in events if e.kind == "event" and e.level in (1, 2)]
    assert len(expected) == 1, "one error event before the damage"

    done = run_example("find_errors.py", str(cut), status=1)
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(p["timestamp"], p["name"], p["pid"]) for p in printed] == [
        (e.timestamp, e.name, e.pid) for e in expected
    ]
    # The message, with the file and offset once each.
    assert str(error) in done.stderr
    assert done.stderr.count(str(cut)) == 1
    assert done.stderr.replace(str(cut), "").count(str(error.offset)) == 1


def test_find_errors_on_an_intact_file() -> None:
    done = run_example("find_errors.py")
    with pyetwkit.open_etl(pyetwkit.sample_etl_path()) as etl:
        failed = [e for e in etl if e.kind == "event" and e.level in (1, 2)]
    assert len(done.stdout.splitlines()) == len(failed) == 4
    assert done.stderr == ""


# sigma_hunt.py


def test_sigma_hunt_finds_the_sample_app_serving() -> None:
    done = run_example("sigma_hunt.py")
    lines = done.stdout.splitlines()
    assert lines[0].endswith(
        "[low] Sample app serving on a port by pyetwkit examples "
        "(https://github.com/pyetwkit/pyetwkit)"
    )
    assert (
        '    CommandLine: "C:\\Program Files\\Sample\\sampleapp.exe" --serve --port 8080' in lines
    )
    assert lines[-2:] == ["1 matches of 1 rules", "     1  Sample app serving on a port"]


@needs_corpus
def test_sigma_hunt_with_sigmahq_rules_on_a_kernel_trace(tmp_path: Path) -> None:
    rule = tmp_path / "git.yml"
    rule.write_text(
        "title: Git remote\nid: 6f2e4b1a-5c3d-4e7f-8a9b-0c1d2e3f4a5c\nauthor: t\nlevel: low\n"
        "logsource: {product: windows, category: process_creation}\n"
        "detection:\n  sel: {CommandLine|contains: 'remote -v'}\n  condition: sel\n"
    )
    path = corpus_dir() / "perfview_diaghub_diaghub.kernel.1.etl"
    done = run_example("sigma_hunt.py", str(rule), str(path))
    lines = done.stdout.splitlines()
    hits = [line for line in lines if "] Git remote by t" in line]
    assert hits
    assert lines[-2] == f"{len(hits)} matches of 1 rules"
