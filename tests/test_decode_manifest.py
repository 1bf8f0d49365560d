"""Manifest events: decoded offline with instrumentation manifests, or with the
schemas merged traces embed. Values are checked against independent sources:
a second manifest of the same provider, TraceEvent's baselines, and what the
events say of each other."""

from __future__ import annotations

import collections
import datetime
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pyetwkit
import pytest

SYSTEM_EVENTS = "microsoft-tx/SystemEvents.man"
HTTP_SERVER = "microsoft-tx/HTTP_Server.man"
CLR = "clr/ClrEtwAll.man"
POWERSHELL = "nasbench-tdh-dumps/Microsoft-Windows-Powershell.manifest.xml"
KERNEL_PROCESS_TDH = "nasbench-tdh-dumps/Microsoft-Windows-Kernel-Process.manifest.xml"
TX_TRACES = {
    "Process.etl": (SYSTEM_EVENTS, "Microsoft-Windows-Kernel-Process"),
    "KernelNetwork.etl": (SYSTEM_EVENTS, "Microsoft-Windows-Kernel-Network"),
    "HTTP_Server.etl": (HTTP_SERVER, "Microsoft-Windows-HttpService"),
}
CLR_FILES = [
    "perfview_gcevents_PerfViewData.etl",
    "perfview_gcrundown_PerfViewData.clrRundown.etl",
    "perfview_diaghub_diaghub.user_paged.1.etl",
    "etwanalyzer_TraceLoggingTester.etl",
    "perfview_smallEtlFile.etl",
]
MERGED_FILES = [
    "perfview_net.4.5.2.x64.etl",
    "perfview_net.4.5.2.x86.etl",
    "etwanalyzer_TraceLoggingTester.etl",
]


def declared(manifest: Path) -> set[tuple[str, int, int]]:
    """(provider GUID, id, version) of every event, read with the standard library:
    independent of the Rust parser."""
    found = set()
    for provider in ET.parse(manifest).iter():
        if provider.tag.endswith("}provider") and provider.get("guid"):
            guid = provider.get("guid", "").strip("{}").lower()
            for event in provider.iter():
                if event.tag.endswith("}event") and event.get("value"):
                    found.add(
                        (guid, int(event.get("value", "0"), 0), int(event.get("version", "0")))
                    )
    return found


def names_by_opcode_message(manifest: Path) -> dict[str, str]:
    """`Task/Opcode` event names, by the opcode's (English) message, read with the
    standard library: pyetwkit names events by task and opcode *names*."""
    root = ET.parse(manifest).getroot()
    strings = {e.get("id"): e.get("value", "") for e in root.iter() if e.tag.endswith("}string")}
    messages = {}
    for op in root.iter():
        if op.tag.endswith("}opcode") and op.get("message"):
            ref = op.get("message", "")[len("$(string.") : -1]
            messages[op.get("name", "")] = strings.get(ref, "")
    names = {}
    for event in root.iter():
        if event.tag.endswith("}event") and event.get("task") and event.get("opcode"):
            opcode = event.get("opcode", "")
            names[messages.get(opcode, opcode)] = f"{event.get('task')}/{opcode}"
    return names


def events_of(path: Path, manifests: list[Any] | None = None) -> list[pyetwkit.EtwEvent]:
    with pyetwkit.open_etl(path, manifests=manifests) as etl:
        return list(etl)


@pytest.mark.parametrize("trace", sorted(TX_TRACES))
def test_microsoft_tx_traces_decode_fully(manifests: Path, trace: str) -> None:
    manifest, provider = TX_TRACES[trace]
    expected = json.loads((manifests / "microsoft-tx/traces/expected_counts.json").read_text())
    events = events_of(manifests / "microsoft-tx/traces" / trace, [manifests / manifest])
    assert len(events) == expected[trace]["records"]
    provider_events = [e for e in events if e.kind == "event"]
    assert len(provider_events) == expected[trace]["by_header"]["EV64"]
    for e in provider_events:
        assert e.provider_name == provider
        assert e.properties_complete is True, (e.event_id, e.version)
        assert e.name
        assert e.properties


def test_two_independent_kernel_process_manifests_agree(manifests: Path) -> None:
    """Microsoft's source manifest and a TDH dump of a later Windows decode alike."""
    trace = manifests / "microsoft-tx/traces/Process.etl"
    source = events_of(trace, [manifests / SYSTEM_EVENTS])
    dumped = events_of(trace, [manifests / KERNEL_PROCESS_TDH])
    compared = 0
    for a, b in zip(source, dumped, strict=True):
        if a.kind != "event":
            continue
        assert a.name == b.name
        pa, pb = a.properties, b.properties
        for key in pa.keys() & pb.keys():
            assert pa[key] == pb[key], (a.name, key)
            compared += 1
    assert compared > 50_000


def test_process_trace_values_hang_together(manifests: Path) -> None:
    events = events_of(manifests / "microsoft-tx/traces/Process.etl", [manifests / SYSTEM_EVENTS])
    starts = [e.properties for e in events if e.name == "ProcessStart/Start"]
    stops = {
        e.properties["ProcessID"]: e.properties for e in events if e.name == "ProcessStop/Stop"
    }
    assert starts
    for start in starts:
        assert start["ImageName"].lower().endswith(".exe")
        assert isinstance(start["CreateTime"], datetime.datetime)
        stop = stops.get(start["ProcessID"])
        if stop is not None:  # a process that ended in the trace: same image, later exit
            assert (
                stop["ImageName"].lower().endswith(start["ImageName"].rsplit("\\", 1)[-1].lower())
            )
            assert stop["ExitTime"] >= start["CreateTime"]
    thread_pids = {e.properties["ProcessID"] for e in events if e.name == "ThreadStart/Start"}
    assert {s["ProcessID"] for s in starts} <= thread_pids, "a new process starts a thread"


def test_kernel_network_ports_are_in_network_byte_order(manifests: Path) -> None:
    events = events_of(
        manifests / "microsoft-tx/traces/KernelNetwork.etl", [manifests / SYSTEM_EVENTS]
    )
    tcp = [e.properties for e in events if e.name and "TCPIP" in e.name]
    well_known = {53, 80, 88, 135, 137, 139, 389, 443, 445, 500, 3389}
    on_service_port = sum(min(p["sport"], p["dport"]) in well_known for p in tcp)
    assert on_service_port / len(tcp) > 0.95
    transfers = [e.properties for e in events if e.name and "OPCODE_RECV" in e.name]
    assert transfers
    assert all(p["size"] > 0 for p in transfers)


def test_http_requests_hang_together(manifests: Path) -> None:
    events = events_of(manifests / "microsoft-tx/traces/HTTP_Server.etl", [manifests / HTTP_SERVER])
    name = names_by_opcode_message(manifests / HTTP_SERVER)
    parsed: dict[int, str] = {}  # request object → URL of its latest parse (objects are reused)
    received: set[int] = set()
    delivered = 0
    for e in events:
        p = e.properties
        if e.name == name["Parse"]:
            parsed[p["RequestObj"]] = p["Url"]
        elif e.name == name["RecvReq"]:
            received.add(p["RequestId"])
            assert re.fullmatch(r"\[[0-9a-f:]+\]:\d+|[\d.]+:\d+", p["RemoteAddr"]), p["RemoteAddr"]
        elif e.name == name["Deliver"]:
            assert parsed[p["RequestObj"]] == p["Url"]
            assert p["RequestId"] in received
            assert re.match(r"https?://", p["Url"])
            delivered += 1
    assert delivered > 100


def test_powershell_events_decode_with_the_powershell_manifest(
    corpus: Path, manifests: Path
) -> None:
    events = [
        e
        for e in events_of(corpus / "krabsetw_powershell.etl", [manifests / POWERSHELL])
        if e.kind == "event"
    ]
    assert len(events) == 112
    assert all(e.provider_name == "Microsoft-Windows-PowerShell" for e in events)
    assert all(e.properties_complete for e in events)
    context = [e.properties["ContextInfo"] for e in events if "ContextInfo" in e.properties]
    assert context
    assert all("Severity = " in c and "Host Name = " in c for c in context)
    # PowerShell 7's manifest declares another provider GUID: nothing decodes with it.
    core = manifests / "powershell-core/PowerShell.Core.Instrumentation.man"
    assert all(
        e.properties_complete is None
        for e in events_of(corpus / "krabsetw_powershell.etl", [core])
        if e.kind == "event"
    )


@pytest.mark.parametrize("name", CLR_FILES)
def test_clr_events_decode_where_the_manifest_declares_them(
    corpus: Path, manifests: Path, name: str
) -> None:
    clr = manifests / CLR
    known = declared(clr)
    guids = {g for g, _, _ in known}
    decoded = undeclared = 0
    for e in events_of(corpus / name, [clr]):
        if e.provider_id not in guids:
            continue
        if (e.provider_id, e.event_id, e.version) in known:
            assert e.properties_complete is True, (e.event_id, e.version)
            decoded += 1
        else:
            # Not declared (a newer runtime's event): reported undecoded, not guessed.
            assert e.properties_complete is None
            assert e.properties == {}
            assert e.name is None
            undeclared += 1
    assert decoded > 0


@pytest.mark.parametrize("name", MERGED_FILES)
def test_merged_traces_decode_embedded_schemas_without_a_manifest(corpus: Path, name: str) -> None:
    events = [e for e in events_of(corpus / name) if e.kind == "event"]
    decoded = [e for e in events if e.properties_complete is not None]
    assert len(decoded) > 1000
    for e in decoded:
        assert e.properties_complete is True, (e.provider_name, e.event_id, e.version)
        assert e.provider_name
        assert e.name


def test_embedded_schemas_agree_with_the_clr_manifest(corpus: Path, manifests: Path) -> None:
    """Two independent schema sources for the same events: TDH's, embedded in
    the trace, and the CLR's source manifest (which wins when given)."""
    path = corpus / "perfview_net.4.5.2.x64.etl"
    embedded = events_of(path)
    with_manifest = events_of(path, [manifests / CLR])
    known = declared(manifests / CLR)
    compared = 0
    for a, b in zip(embedded, with_manifest, strict=True):
        if a.properties_complete and (b.provider_id, b.event_id, b.version) in known:
            assert a.properties == b.properties, (a.name, a.event_id)
            compared += 1
    assert compared > 50_000


# --- TraceEvent's baselines -------------------------------------------------------

BASELINE_LINE = re.compile(r"EVENT ([\d,]+\.\d{3}): ([\w-]+)/(\S+) (.*)")
HEADER_FIELDS = {"PID", "TID", "PName", "ProceNum", "DataLen"}
# Fields TraceEvent rewrites with its own parsers (a drive letter for the device
# path; the disposition split out of the create options; share flags renamed).
REWRITTEN = {
    ("Microsoft-Windows-Kernel-File", f) for f in ("FileName", "CreateOptions", "ShareAccess")
}
BASELINES = [
    ("perfview_net.4.5.2.x64.etl", "net.4.5.2.x64.baseline.txt"),
    ("perfview_net.4.5.2.x86.etl", "net.4.5.2.x86.baseline.txt"),
    ("perfview_gcevents_PerfViewData.etl", "gcevents.baseline.txt"),
    ("perfview_gcrundown_PerfViewData.clrRundown.etl", "gcrundownevents.baseline.txt"),
]


def number(text: str) -> int | None:
    text = text.replace(",", "")
    try:
        return int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        return None


def cut(text: str) -> str:
    """How the baseline prints a value: cut to 20 characters, then '...'."""
    return text if len(text) <= 20 else text[:20] + "..."


def agrees(ours: Any, theirs: str) -> bool | None:
    """Whether a decoded value matches the baseline's text; None where they
    cannot be compared (TraceEvent names a value with enums of its own)."""
    if isinstance(ours, bool):
        return theirs.lower() == str(ours).lower()
    if isinstance(ours, int):
        n = number(theirs)
        # TraceEvent prints HRESULTs and some unsigned fields as signed.
        return None if n is None else n in (ours, ours - 2**32, ours - 2**64)
    if isinstance(ours, datetime.datetime):
        return cut(ours.strftime("%y/%m/%d %H:%M:%S.%f")) == theirs
    if isinstance(ours, (list, dict, bytes)):
        return None
    text = str(ours)
    if "|" in text or (number(theirs) is not None and not text.isdigit()):
        # A bit map: TraceEvent joins flag names with ", " (manifests) or "|"
        # (EventSource manifests). A number where we have a
        # name: TraceEvent printed the raw value of a map it does not apply.
        if number(theirs) is not None:
            return None
        return theirs in (cut(text), cut(text.replace("|", ", ")))
    return cut(text) == theirs


@pytest.mark.parametrize(("name", "baseline"), BASELINES)
def test_manifest_values_agree_with_traceevent(
    corpus: Path, manifests: Path, name: str, baseline: str
) -> None:
    with pyetwkit.open_etl(corpus / name, manifests=[manifests / CLR]) as etl:
        start = etl.header.start_filetime
        events = [e for e in etl if e.kind == "event" and e.properties_complete]
    by_time = collections.defaultdict(list)
    for e in events:
        by_time[round((e.filetime - start) / 1e4, 3)].append(e)
    compared = 0
    mismatches = []
    for line in (corpus / "perfview-baselines" / baseline).read_text().splitlines():
        m = BASELINE_LINE.match(line)
        if not m:
            continue
        ms = float(m.group(1).replace(",", ""))
        fields = dict(f.split("=", 1) for f in m.group(4).rstrip("; ").split("; ") if "=" in f)
        candidates = [
            e
            for t in (round(ms - 0.001, 3), ms, round(ms + 0.001, 3))
            for e in by_time.get(t, [])
            if e.provider_name == m.group(2) and len(e.user_data) == number(fields["DataLen"])
        ]
        if not candidates:
            continue  # an event only TraceEvent's own parsers know
        # Several events can share a millisecond and a size: take the best match.
        results = []
        for e in candidates:
            verdicts = {
                k: agrees(e.properties[k], v)
                for k, v in fields.items()
                if k not in HEADER_FIELDS and k in e.properties and (m.group(2), k) not in REWRITTEN
            }
            results.append(verdicts)
        best = max(results, key=lambda r: sum(v is True for v in r.values()))
        compared += sum(v is not None for v in best.values())
        mismatches += [(m.group(2), m.group(3), k) for k, v in best.items() if v is False]
    assert not mismatches, mismatches[:10]
    assert compared > 30


EVENT_SOURCES = {"a8a71ac1-040f-54a2-07ca-00a89b5ab761", "2e5dba47-a3d2-4d16-8ee0-6671ffdcd7b5"}
MANIFEST_DATA = 0xFFFE


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_event_source_manifests_in_the_trace_decode_their_events(corpus: Path, arch: str) -> None:
    """.NET EventSources write their manifest into the trace (event 0xFFFE); the
    provider's events after it decode with no manifest given."""
    with pyetwkit.open_etl(corpus / f"perfview_net.4.5.2.{arch}.etl") as etl:
        events = list(etl)
        stats = etl.schema_stats
    assert stats["from_event_sources"] > 100
    assert stats["metadata_not_understood"] == 0
    seen_manifest: set[str] = set()
    decoded = collections.Counter()
    for e in events:
        if e.provider_id not in EVENT_SOURCES:
            continue
        if e.event_id == MANIFEST_DATA:
            seen_manifest.add(e.provider_id)
        elif e.provider_id in seen_manifest:
            assert e.properties_complete is True, (e.provider_id, e.event_id)
            decoded[e.provider_name] += 1
    assert decoded["PerfView"] > 50
    assert decoded["System.Threading.Tasks.TplEventSource"] > 0
    # PerfView logs its own command line: it names the file it wrote, this one.
    command = next(e for e in events if e.name == "CommandLineParameters")
    assert f"/DataFile:net.4.5.2.{arch}.etl" in command.properties["commandLine"]


def test_every_embedded_schema_record_in_the_corpus_is_understood(corpus: Path) -> None:
    for path in sorted(corpus.glob("*.etl")):
        with pyetwkit.open_etl(path) as etl:
            for _ in etl:
                pass
            assert etl.schema_stats["metadata_not_understood"] == 0, path.name
