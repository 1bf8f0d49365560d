"""The reader on the real recordings: counts, header values, providers,
descriptors and timestamps checked against independent sources."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pyetwkit
import pytest
from conftest import corpus_files, needs_corpus

HEADER_TYPE_NAMES = {
    0x01: "SYS32",
    0x02: "SYS64",
    0x03: "COMPACT32",
    0x04: "COMPACT64",
    0x10: "PERF32",
    0x11: "PERF64",
    0x0A: "FULL32",
    0x14: "FULL64",
    0x0B: "INST32",
    0x15: "INST64",
    0x12: "EV32",
    0x13: "EV64",
}


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
def test_counts_by_header_type_match_expected(
    corpus: Path, expected_counts: dict[str, Any], name: str
) -> None:
    want = expected_counts[name]
    by_type: Counter[str] = Counter()
    with pyetwkit.open_etl(corpus / name) as etl:
        for event in etl:
            by_type[HEADER_TYPE_NAMES[event.header_type]] += 1
    assert sum(by_type.values()) == want["records"]
    assert dict(by_type) == want["by_header"]
    records, buffers, rust_by_type = pyetwkit.count_records(corpus / name)
    assert (records, buffers) == (want["records"], want["buffers"])
    assert dict(rust_by_type) == want["by_header"]


def test_the_corpus_has_sixteen_files(expected_counts: dict[str, Any]) -> None:
    assert len(expected_counts) == 16
    assert sorted(expected_counts) == corpus_files()


# Logger name, OS build and pointer size, as the corpus README documents each file.
HEADERS = {
    "perfview_smallEtlFile.etl": ("PerfWatsonGCHeapETLSession", 10586, 4),
    "perfview_SelfDescribingSingleEvent.etl": ("Relogger", 22000, 8),
    "perfview_primitive-types.etl": ("solar_system", None, 8),
    "airbus_lxcore_kernel.etl": (None, 19041, 8),
    "krabsetw_powershell.etl": (None, 22623, 8),
    "etwanalyzer_TraceLoggingTester.etl": ("Relogger", 26100, 8),
    "airbus_ShutdownPerfDiagLogger.etl": ("PerfDiag Logger", None, 8),
    "perfview_net.4.5.2.x64.etl": ("Relogger", None, 8),
}


@pytest.mark.parametrize(("name", "want"), sorted(HEADERS.items()))
def test_logfile_headers(corpus: Path, name: str, want: tuple[str | None, int | None, int]) -> None:
    logger, build, pointer_size = want
    header = pyetwkit.open_etl(corpus / name).header
    if logger is not None:
        assert header.logger_name.startswith(logger)
    if build is not None:
        assert header.os_build == build
    assert header.pointer_size == pointer_size
    assert header.start_filetime > 0
    assert header.clock_type == "qpc"


def test_header_reports_losses_and_old_os(corpus: Path) -> None:
    assert pyetwkit.open_etl(corpus / "airbus_AMSITrace.etl").header.events_lost == 3
    net = pyetwkit.open_etl(corpus / "perfview_net.4.5.2.x86.etl").header
    assert net.os_version == (6, 2)
    assert net.compressed


# The provider each file is documented to hold, with its number of EVENT_HEADER events.
PROVIDERS = {
    "perfview_smallEtlFile.etl": ("a669021c-c450-4609-a035-5af59af4df18", 1),
    "perfview_primitive-types.etl": ("d3dd3dd4-aac2-4e2a-8dd4-a8fb61b77615", 5),
    "airbus_lxcore_kernel.etl": ("0cd1c309-0878-4515-83db-749843b3f5c9", 2),
    "perfview_gcrundown_PerfViewData.clrRundown.etl": ("a669021c-c450-4609-a035-5af59af4df18", 110),
    "perfview_diaghub_diaghub.user_injected.1.etl": ("9e5f9046-43c6-4f62-ba13-7b19896253ff", 3),
    "krabsetw_powershell.etl": ("a0c1853b-5c40-4b15-8766-3cf1c58f985a", 112),
    "perfview_gcevents_PerfViewData.etl": ("e13c0d23-ccbc-4e12-931b-d9cc2eee27e4", 69),
    "airbus_AMSITrace.etl": ("8e805eb3-6a8f-4a1e-90fa-a831d94e54a1", 19),
}


@pytest.mark.parametrize(("name", "want"), sorted(PROVIDERS.items()))
def test_event_header_providers(corpus: Path, name: str, want: tuple[str, int]) -> None:
    provider, count = want
    with pyetwkit.open_etl(corpus / name) as etl:
        events = [e for e in etl if e.kind == "event"]
    assert Counter(e.provider_id for e in events) == {provider: count}


def test_tracelogging_provider_name_and_event_names(corpus: Path) -> None:
    with pyetwkit.open_etl(corpus / "perfview_primitive-types.etl") as etl:
        events = [e for e in etl if e.kind == "event"]
    assert {e.provider_name for e in events} == {"solar_system"}
    names = [e.name for e in events]
    assert names[0] == "PrimitiveTypesTest"
    assert all(n for n in names)
    assert all(e.level == 5 and e.channel == 11 for e in events)
    assert all(e.extended_data and {t for t, _ in e.extended_data} == {11, 12} for e in events)


def test_extended_items_of_the_paged_user_session(corpus: Path) -> None:
    related = stacks = 0
    with pyetwkit.open_etl(corpus / "perfview_diaghub_diaghub.user_paged.1.etl") as etl:
        for e in etl:
            if e.related_activity_id is not None:
                related += 1
                assert re.fullmatch(
                    r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", e.related_activity_id
                )
            if e.stack is not None:
                stacks += 1
                assert e.stack
                assert all(a > 0x10000 for a in e.stack)
    # The corpus README counts 8 related-activity and 176 stack64 items in this file.
    assert (related, stacks) == (8, 176)


def test_kernel_records_use_class_guids(corpus: Path) -> None:
    classes: Counter[tuple[str, str | None]] = Counter()
    with pyetwkit.open_etl(corpus / "airbus_ShutdownPerfDiagLogger.etl") as etl:
        for e in etl:
            assert e.kind == "kernel"
            classes[(e.provider_id, e.provider_name)] += 1
            if e.header_type == 0x11:  # PERFINFO: no pid/tid
                assert e.pid is None
                assert e.tid is None
    assert ("3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c", "Process") in classes
    assert ("3d6fa8d1-fe05-11d0-9dda-00c04fd7ba7c", "Thread") in classes
    assert ("2cb15d1d-5fc1-11d2-abe1-00a0c911f518", "Image") in classes


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
def test_no_timestamp_before_start(corpus: Path, name: str) -> None:
    with pyetwkit.open_etl(corpus / name) as etl:
        start = etl.header.start_filetime
        first = None
        for event in etl:
            first = first or event
            assert event.filetime >= start, (event.file_offset, event.timestamp)
    assert first is not None
    assert first.filetime == start
    assert first.name == "EventTrace/Header"


BASELINE_LINE = re.compile(
    r"EVENT ([\d,]+\.\d{3}): (\S[^/]*)/\S.*? PID=(\d+); TID=(\d+); "
    r".*?ProceNum=(\d+); DataLen=(\d+);"
)


@pytest.mark.parametrize(
    ("name", "baseline", "counts_all"),
    [
        ("perfview_gcevents_PerfViewData.etl", "gcevents.baseline.txt", True),
        # TraceEvent counts only the rundown events it has parsers for (30 of 110).
        ("perfview_gcrundown_PerfViewData.clrRundown.etl", "gcrundownevents.baseline.txt", False),
    ],
)
def test_event_headers_agree_with_traceevent_baseline(
    corpus: Path, name: str, baseline: str, counts_all: bool
) -> None:
    """Every EVENT_HEADER event that Microsoft's TraceEvent printed is found among
    ours with the same pid, tid, processor and payload size, at the same time
    since the session start (to the microsecond it prints, give or take its
    rounding); where it counts every event, its totals equal ours."""
    printed: list[tuple[float, int, int, int, int]] = []
    totals = 0
    for line in (corpus / "perfview-baselines" / baseline).read_text().splitlines():
        m = BASELINE_LINE.match(line)
        if m and not m.group(2).startswith("Windows Kernel"):
            ms, _, pid, tid, cpu, size = m.groups()
            printed.append((float(ms.replace(",", "")), int(pid), int(tid), int(cpu), int(size)))
        elif line.startswith("COUNT ") and not line.startswith("COUNT Windows Kernel"):
            totals += int(line.rsplit(":", 1)[1])
    ours: list[tuple[float, int, int, int, int]] = []
    with pyetwkit.open_etl(corpus / name) as etl:
        start = etl.header.start_filetime
        for e in etl:
            if e.kind == "event":
                assert e.pid is not None
                assert e.tid is not None
                assert e.processor is not None
                ms = (e.filetime - start) / 10_000
                ours.append((ms, e.pid, e.tid, e.processor, len(e.user_data)))
    assert len(printed) > 20
    if counts_all:
        assert totals == len(ours)
    unmatched = list(ours)
    for ms, *ids in printed:
        match = next(
            (o for o in unmatched if list(o[1:]) == ids and abs(o[0] - ms) <= 0.0015), None
        )
        assert match is not None, f"baseline event at {ms} ms {ids} not found"
        unmatched.remove(match)
