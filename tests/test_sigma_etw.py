"""Sigma on ETW events: the ETW-to-Sigma mapping on real recordings, and rules
as a pipeline stage of open_etl, EtwListener and simulated live sessions."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyetwkit
import pytest
from pyetwkit import EtwListener, providers, sigma
from pyetwkit.testing import simulated_etw

DIAGHUB = "perfview_diaghub_diaghub.kernel.1.etl"
SHUTDOWN = "airbus_ShutdownPerfDiagLogger.etl"
NET_X86 = "perfview_net.4.5.2.x86.etl"

# Written for these tests (not SigmaHQ's): git's command lines in the diaghub trace.
GIT_RULE = """
title: Git asks for its remote
id: 0f0f0f0f-0000-4000-8000-000000000001
author: pyetwkit tests
level: low
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: 'remote'
        Image|endswith: 'git.exe'
    condition: selection
"""


def test_process_creation_fields_on_a_kernel_trace(corpus: Path) -> None:
    rules = sigma.RuleSet.from_yaml(GIT_RULE)
    created = []
    with pyetwkit.open_etl(corpus / DIAGHUB) as etl:
        for event in etl:
            mapped = sigma.map_event(event)
            if mapped is not None and mapped[0] == ["process_creation"]:
                created.append((event, mapped[1], rules.match_event(event)))
    starts = [e for e, _, _ in created]
    assert len(starts) == 18
    assert all(e.name == "Process/Start" for e in starts)
    for event, fields, _ in created:
        assert fields["CommandLine"] == event.properties["CommandLine"]
        assert fields["ProcessId"] == event.properties["ProcessId"]
        assert fields["ParentProcessId"] == event.properties["ParentId"]
        name = str(event.properties["ImageFileName"]).lower()
        first = str(event.properties["CommandLine"]).strip('"').split('"')[0].split(" ")[0]
        if "Image" in fields:
            assert "\\" in str(fields["Image"])
            assert str(fields["Image"]).lower().endswith(name)
        else:
            # No path to be had: a bare name is left out, not passed off as a path.
            assert "\\" not in first or not first.lower().endswith(name)
    # Where the command line starts with the path, Image is that path.
    conhost = [f for _, f, _ in created if str(f.get("Image")).endswith("conhost.exe")]
    assert conhost
    assert all(f["Image"] == r"C:\WINDOWS\system32\conhost.exe" for f in conhost)
    hits = [(f["CommandLine"], [m.title for m in ms]) for _, f, ms in created if ms]
    assert hits
    assert all("remote" in str(cmd) for cmd, _ in hits)
    assert all(titles == ["Git asks for its remote"] for _, titles in hits)


FILLED_RULE = """
title: Process creation with its image, command line and parent
id: 0f0f0f0f-0000-4000-8000-000000000002
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|exists: true
        CommandLine|exists: true
        ParentImage|exists: true
    condition: selection
"""


def test_match_event_sees_image_command_line_and_parent(corpus: Path) -> None:
    rules = sigma.RuleSet.from_yaml(FILLED_RULE)
    with pyetwkit.open_etl(corpus / DIAGHUB, prescan_processes=True) as etl:
        found = [(e, rules.match_event(e)) for e in etl if e.name == "Process/Start"]
    assert len(found) == 18
    filled = [(e, ms) for e, ms in found if ms]
    # The rest are processes whose path no event before them gives (git.exe
    # started as "git.exe ..."); see docs/sigma.md.
    assert len(filled) >= 12
    for event, (match,) in filled:
        assert match.fields["CommandLine"] == event.properties["CommandLine"]
        assert match.fields["ParentImage"].lower().endswith(event.process_name.lower())


def test_parent_image_is_the_creator(corpus: Path) -> None:
    with pyetwkit.open_etl(corpus / DIAGHUB, prescan_processes=True) as etl:
        pairs = [(e.process_name, sigma.map_event(e)) for e in etl if e.name == "Process/Start"]
    named = [(creator, m[1]) for creator, m in pairs if creator and m]
    assert named
    for creator, fields in named:
        assert str(fields["ParentImage"]).lower().endswith(creator.lower())


SYSTEM32_LOAD = """
title: A DLL loaded from C:\\Windows\\System32
id: 0f0f0f0f-0000-4000-8000-000000000003
logsource: {product: windows, category: image_load}
detection:
    selection:
        ImageLoaded|startswith: 'C:\\Windows\\System32\\'
    condition: selection
"""


def test_image_loads_get_drive_letters(corpus: Path) -> None:
    # ShutdownPerfDiagLogger says nothing of its volumes: the letter is learnt
    # from processes whose command line names their image (C:\...), whose own
    # image the rundown shows as \Device\HarddiskVolume3\...
    rules = sigma.RuleSet.from_yaml(SYSTEM32_LOAD)
    loads = []
    with pyetwkit.open_etl(corpus / SHUTDOWN) as etl:
        for event in etl:
            if event.name == "Image/Load":
                loads.append((event, rules.match_event(event)))
            else:
                rules.match_event(event)  # the mapper learns as events pass
    assert len(loads) == 72
    alone = [sigma.map_event(e) for e, _ in loads]
    raw = [str(m[1]["ImageLoaded"]) for m in alone if m is not None]
    assert len(raw) == 72
    assert all(p.startswith("\\Device\\HarddiskVolume") for p in raw)
    in_system32 = [
        p for p in raw if p.lower().startswith("\\device\\harddiskvolume3\\windows\\system32\\")
    ]
    matched = [ms[0].fields["ImageLoaded"] for _, ms in loads if ms]
    assert len(matched) == len(in_system32) > 0
    assert all(p.startswith("C:\\Windows\\System32\\") for p in matched)


def test_a_stage_delivers_only_what_rules_select(corpus: Path) -> None:
    rules = sigma.RuleSet.from_yaml(GIT_RULE)
    with pyetwkit.open_etl(corpus / DIAGHUB) as etl:
        everything = list(etl)
    expected = [e for e in everything if sigma.RuleSet.from_yaml(GIT_RULE).match_event(e)]
    with pyetwkit.open_etl(corpus / DIAGHUB, rules=rules) as etl:
        selected = list(etl)
    assert selected == expected
    assert len(selected) >= 2
    assert all([m.title for m in e.matches] == ["Git asks for its remote"] for e in selected)
    assert all(e.matches[0].author == "pyetwkit tests" for e in selected)
    with pyetwkit.open_etl(corpus / DIAGHUB, rules=rules, keep_unmatched=True) as etl:
        kept = list(etl)
    assert kept == everything
    assert sum(bool(e.matches) for e in kept) == len(selected)
    with EtwListener(etl_file=corpus / DIAGHUB, rules=rules) as listener:
        streamed = list(listener)
        stats = listener.stats()
    assert streamed == selected
    assert stats.filtered_out == len(everything) - len(selected)
    assert stats.received == stats.delivered + stats.dropped + stats.filtered_out


def test_simulated_live_session_with_rules(corpus: Path) -> None:
    rules = sigma.RuleSet.from_yaml(GIT_RULE)
    with (
        simulated_etw(corpus / DIAGHUB),
        EtwListener(
            [providers.kernel_logger_process(), providers.kernel_logger_image()], rules=rules
        ) as listener,
    ):
        got = list(listener)
    assert got
    assert all(e.name == "Process/Start" for e in got)
    assert all("remote" in e.properties["CommandLine"] for e in got)


def test_sigmahq_rules_on_a_trace_with_volume_mappings(corpus: Path, sigma_dir: Path) -> None:
    # The net trace's merger wrote VolumeMapping records; Windows 8 image
    # paths without a device are put on the system drive. With paths right,
    # SigmaHQ's image_load rules see system DLLs where they belong.
    rules = sigma.RuleSet.load([sigma_dir / "rules" / "windows" / "image_load"])
    with pyetwkit.open_etl(corpus / NET_X86, rules=rules) as etl:
        titles = [m.title for e in etl for m in e.matches]
    assert "Potential System DLL Sideloading From Non System Locations" not in titles


def test_rules_argument_is_checked(corpus: Path) -> None:
    with pytest.raises(TypeError, match="RuleSet"):
        pyetwkit.open_etl(corpus / DIAGHUB, rules="rules.yml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep_unmatched"):
        pyetwkit.open_etl(corpus / DIAGHUB, keep_unmatched=True)
    with pytest.raises(ValueError, match="keep_unmatched"):
        EtwListener(etl_file=corpus / DIAGHUB, keep_unmatched=True)


def test_unmapped_events_match_nothing(corpus: Path) -> None:
    rules = sigma.RuleSet.from_yaml(GIT_RULE)
    with pyetwkit.open_etl(corpus / "perfview_gcevents_PerfViewData.etl") as etl:
        events = list(itertools.islice(etl, 2000))
    assert all(sigma.map_event(e) is None for e in events)
    assert not any(rules.match_event(e) for e in events)


async def test_the_streamer_takes_rules_too(corpus: Path) -> None:
    rules = sigma.RuleSet.from_yaml(GIT_RULE)
    async with pyetwkit.EtwStreamer(etl_file=corpus / DIAGHUB, rules=rules) as stream:
        got = [e async for e in stream]
    with EtwListener(etl_file=corpus / DIAGHUB, rules=rules) as listener:
        assert got == list(listener)
    assert got
    assert all(e.matches[0].title == "Git asks for its remote" for e in got)
