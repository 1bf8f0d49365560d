"""Process context on real kernel recordings: every event is named after the
process its pid belongs to, as learnt from the Process events read so far
(rundown included); open_etl and the listener agree; the process-name filter
uses the same context."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import pyetwkit
import pytest
from conftest import needs_corpus
from pyetwkit import EtwListener
from pyetwkit import filters as f

# The recordings with kernel Process events (starts, ends and rundowns).
PROCESS_FILES = [
    "airbus_ShutdownPerfDiagLogger.etl",
    "etwanalyzer_TraceLoggingTester.etl",
    "perfview_diaghub_diaghub.kernel.1.etl",
    "perfview_net.4.5.2.x64.etl",
    "perfview_net.4.5.2.x86.etl",
]
START, END, DC_START, DC_END = 1, 2, 3, 4


@dataclass
class Process:
    first_index: int  # where its first Process event is in the file
    first_opcode: int
    first_filetime: int
    image: str
    command_line: str | None


def processes(events: list[pyetwkit.EtwEvent]) -> dict[int, Process]:
    """pid → its process, from the decoded Process events (one process per pid:
    the corpus has no pid reuse, which the test checks)."""
    found: dict[int, Process] = {}
    for i, e in enumerate(events):
        if e.kind != "kernel" or e.provider_name != "Process" or e.opcode not in range(1, 5):
            continue
        p = e.properties
        assert e.properties_complete, (e.name, e.version)
        proc = found.setdefault(
            p["ProcessId"],
            Process(i, e.opcode, e.filetime, p["ImageFileName"], p.get("CommandLine")),
        )
        assert proc.image == p["ImageFileName"], "pid reuse: this test needs updating"
    return found


@needs_corpus
@pytest.mark.parametrize("name", PROCESS_FILES)
def test_events_are_named_after_the_process_event_of_their_pid(corpus: Path, name: str) -> None:
    events = list(pyetwkit.open_etl(corpus / name))
    procs = processes(events)
    assert procs
    counts: collections.Counter[str] = collections.Counter()
    for i, e in enumerate(events):
        proc = procs.get(e.pid) if e.pid is not None else None
        if proc is None:
            # No Process event for this pid anywhere: nothing to name it by.
            assert e.process_name is None, (i, e.pid, e.process_name)
            continue
        if i < proc.first_index:
            # Read before anything described its process: no look-ahead, no guess.
            assert e.process_name is None, (i, e.pid)
            counts["before"] += 1
        elif proc.first_opcode == START and e.filetime < proc.first_filetime:
            # Timestamped before its pid's first Start: another, unknown, process.
            assert e.process_name is None, (i, e.pid)
            counts["earlier holder"] += 1
        elif i > proc.first_index:
            assert e.process_name == proc.image, (i, e.name, e.pid)
            assert e.process_command_line == proc.command_line, (i, e.pid)
            counts["named"] += 1
        else:  # the first Process event itself, named if logged from its own pid
            assert e.process_name in (None, proc.image)
    assert counts["named"] > 500, counts


@needs_corpus
def test_rundown_at_the_end_names_only_what_follows(corpus: Path) -> None:
    """WPR's circular trace has its process rundown (DCEnd) only at its end."""
    events = list(pyetwkit.open_etl(corpus / "etwanalyzer_TraceLoggingTester.etl"))
    procs = processes(events)
    assert collections.Counter(p.first_opcode for p in procs.values())[DC_END] > 300
    first_rundown = min(p.first_index for p in procs.values() if p.first_opcode == DC_END)
    named = [i for i, e in enumerate(events) if e.process_name]
    assert named
    # Only the one process started during the trace is named before the rundown.
    early = {events[i].process_name for i in named if i < first_rundown}
    started = {p.image for p in procs.values() if p.first_opcode == START}
    assert early <= started


@needs_corpus
@pytest.mark.parametrize("name", PROCESS_FILES)
def test_open_etl_and_the_listener_agree(corpus: Path, name: str) -> None:
    with pyetwkit.open_etl(corpus / name) as etl:
        read = [(e.pid, e.process_name, e.process_command_line) for e in etl]
    with EtwListener(etl_file=corpus / name) as listener:
        heard = [(e.pid, e.process_name, e.process_command_line) for e in listener]
    assert heard == read
    assert any(image for _, image, _ in read)


@needs_corpus
@pytest.mark.parametrize(
    "name", ["perfview_net.4.5.2.x64.etl", "airbus_ShutdownPerfDiagLogger.etl"]
)
def test_the_process_name_filter_uses_the_context(corpus: Path, name: str) -> None:
    events = list(pyetwkit.open_etl(corpus / name))
    images = collections.Counter(e.process_name for e in events if e.process_name)
    # The two busiest processes, asked for in another case.
    for image, _ in images.most_common(2):
        want = [e for e in events if e.process_name == image]
        flt = f.process_name(image.upper())
        with EtwListener(etl_file=corpus / name, filter=flt) as listener:
            got = list(listener)
        assert got == want
        assert {e.process_name for e in got} == {image}


@needs_corpus
@pytest.mark.parametrize("name", PROCESS_FILES)
def test_prescan_names_every_event_whose_pid_has_a_process_event(corpus: Path, name: str) -> None:
    """With the Process events read first, an event is named even when the
    records describing its process come later in the file (end-of-trace rundown)."""
    streamed = list(pyetwkit.open_etl(corpus / name))
    prescanned = list(pyetwkit.open_etl(corpus / name, prescan_processes=True))
    procs = processes(prescanned)
    assert len(prescanned) == len(streamed)
    for early, full in zip(streamed, prescanned, strict=True):
        if early.process_name is not None:
            assert full.process_name == early.process_name
        if full.pid in procs and procs[full.pid].first_opcode != START:
            # A process known from a rundown or an End existed all along: named from the start.
            assert full.process_name == procs[full.pid].image
            assert full.process_command_line == procs[full.pid].command_line


@needs_corpus
def test_prescan_matters_for_traces_with_their_rundown_at_the_end(corpus: Path) -> None:
    path = corpus / "etwanalyzer_TraceLoggingTester.etl"
    streamed = sum(e.process_name is not None for e in pyetwkit.open_etl(path))
    prescanned = sum(
        e.process_name is not None for e in pyetwkit.open_etl(path, prescan_processes=True)
    )
    # WPR wrote this trace's process rundown last: streaming names only what follows it.
    assert prescanned > 10 * streamed
