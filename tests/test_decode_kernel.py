"""Kernel (MOF) decoding: values checked against Microsoft TraceEvent's baselines,
consistency between Process and Thread events, and complete decodes."""

from __future__ import annotations

import collections
import datetime
import ipaddress
import re
from pathlib import Path
from typing import Any

import pyetwkit
import pytest
from conftest import corpus_files, needs_corpus

# The kernel recordings with Thread start/end or rundown events.
KERNEL_FILES = [
    "airbus_ShutdownPerfDiagLogger.etl",
    "perfview_net.4.5.2.x64.etl",
    "perfview_net.4.5.2.x86.etl",
    "etwanalyzer_TraceLoggingTester.etl",
]
# The event types compared: those with documented TypeGroup1 / Load layouts.
DECODED_TYPES = {"Start", "End", "DCStart", "DCEnd", "Defunct", "Load", "Unload"}
# TraceEvent's names for the ends of things.
RENAMED = {"Stop": "End", "DCStop": "DCEnd"}
LINE = re.compile(r"EVENT ([\d,]+\.\d{3}): Windows Kernel/(\w+)/(\w+) (.*)")


def number(text: str) -> int:
    return int(text.replace(",", ""), 16 if text.startswith("0x") else 10)


def baseline(corpus: Path, name: str, classes: set[str]) -> list[tuple[float, str, dict[str, str]]]:
    rows = []
    for line in (corpus / "perfview-baselines" / name).read_text().splitlines():
        m = LINE.match(line)
        if m and m.group(2) in classes:
            fields = dict(f.split("=", 1) for f in m.group(4).rstrip("; ").split("; ") if "=" in f)
            op = RENAMED.get(m.group(3), m.group(3))
            if op not in DECODED_TYPES:
                continue
            rows.append((float(m.group(1).replace(",", "")), f"{m.group(2)}/{op}", fields))
    return rows


def find(events: list[Any], ms: float, name: str, size: int, start: int) -> Any:
    for e in events:
        if (
            e.name == name
            and len(e.user_data) == size
            and abs((e.filetime - start) / 1e4 - ms) <= 0.0015
        ):
            return e
    raise AssertionError(f"no {name} of {size} bytes at {ms} ms")


@pytest.mark.parametrize("arch", ["x64", "x86"])
def test_process_thread_image_values_agree_with_traceevent(corpus: Path, arch: str) -> None:
    with pyetwkit.open_etl(corpus / f"perfview_net.4.5.2.{arch}.etl") as etl:
        start = etl.header.start_filetime
        events = [
            e
            for e in etl
            if e.kind == "kernel" and e.provider_name in ("Process", "Thread", "Image")
        ]
    rows = baseline(corpus, f"net.4.5.2.{arch}.baseline.txt", {"Process", "Thread", "Image"})
    assert len(rows) > 40
    checked = collections.Counter()
    for ms, name, want in rows:
        e = find(events, ms, name, number(want["DataLen"]), start)
        p = e.properties
        assert e.properties_complete is True, name
        if name.startswith("Process/"):
            assert p["ProcessId"] == number(want["ProcessID"])
            assert p["ParentId"] == number(want["ParentID"])
            assert p["ImageFileName"] == want["ImageFileName"]
            assert (p["SessionId"] + 2**31) % 2**32 - 2**31 == number(want["SessionID"])
            assert p["ExitStatus"] == number(want["ExitStatus"])
            assert p["UniqueProcessKey"] == number(want["UniqueProcessKey"])
            assert p["DirectoryTableBase"] == number(want["PageDirectoryBase"])
            cmd = want["CommandLine"]
            assert p["CommandLine"] == cmd or (
                cmd.endswith("...") and p["CommandLine"].startswith(cmd[:-3])
            )
        elif name.startswith("Thread/"):
            assert p["ProcessId"] == number(want["PID"].split(";")[0])
            assert p["TThreadId"] == number(want["TID"])
            assert p["Affinity"] == number(want["StartAddr"])  # TraceEvent's name for it
            for key in (
                "StackBase",
                "StackLimit",
                "UserStackBase",
                "UserStackLimit",
                "Win32StartAddr",
                "TebBase",
                "SubProcessTag",
                "BasePriority",
                "PagePriority",
                "IoPriority",
                "ThreadFlags",
            ):
                assert p[key] == number(want[key]), key
        else:
            for key in ("ImageBase", "ImageSize", "DefaultBase"):
                assert p[key] == number(want[key]), key
            # uint32 in Microsoft's class documentation; TraceEvent prints them signed.
            for key in ("ImageChecksum", "TimeDateStamp"):
                assert p[key] == number(want[key]) % 2**32, key
            assert re.search(r"\\[^\\]+\.\w+$", p["FileName"]), p["FileName"]
        checked[name.split("/")[0]] += 1
    assert set(checked) == {"Process", "Thread", "Image"}


@needs_corpus
@pytest.mark.parametrize("name", KERNEL_FILES)
def test_thread_processes_appear_among_process_events(corpus: Path, name: str) -> None:
    processes: set[int] = set()
    thread_pids: set[int] = set()
    for e in pyetwkit.open_etl(corpus / name):
        if e.kind != "kernel" or not e.properties:
            continue
        if e.provider_name == "Process" and e.opcode in (1, 2, 3, 4):
            processes.add(e.properties["ProcessId"])
        elif e.provider_name == "Thread" and e.opcode in (1, 2, 3, 4):
            thread_pids.add(e.properties["ProcessId"])
    assert thread_pids
    assert thread_pids <= processes


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
def test_kernel_layouts_account_for_every_byte(corpus: Path, name: str) -> None:
    """Where a layout is known, real events decode completely; elsewhere the event
    is named (when the opcode is known) and marked as not decoded."""
    for e in pyetwkit.open_etl(corpus / name):
        if e.kind != "kernel":
            continue
        if e.properties:
            assert e.properties_complete is True, (e.name, e.version, e.user_data.hex())
        elif e.user_data:
            assert e.properties_complete is False, (e.name, e.version)


def test_sample_process_start_decodes(tmp_path: Path) -> None:
    events = list(pyetwkit.open_etl(pyetwkit.sample_etl_path()))
    start = next(e for e in events if e.name == "Process/Start")
    assert start.properties["ImageFileName"] == "sampleapp.exe"
    assert start.properties["ParentId"] == 1000
    assert start.properties["UserSID"] == "S-1-5-21-1-2-3-1001"
    assert "--serve" in start.properties["CommandLine"]
    assert next(e for e in events if e.name == "PerfInfo/SampleProf").properties["ThreadId"] == 4243
    # The sample's own writer once put Image/Load's name 8 bytes early: the
    # layout the decoder checks against real traces is the one to write.
    load = next(e for e in events if e.name == "Image/Load")
    assert load.properties_complete is True
    assert (
        load.properties["FileName"] == r"\Device\HarddiskVolume3\Program Files\Sample\sampleapp.exe"
    )


BASELINE_FILES = {
    "gcevents.baseline.txt": "perfview_gcevents_PerfViewData.etl",
    "gcrundownevents.baseline.txt": "perfview_gcrundown_PerfViewData.clrRundown.etl",
    "net.4.5.2.x64.baseline.txt": "perfview_net.4.5.2.x64.etl",
    "net.4.5.2.x86.baseline.txt": "perfview_net.4.5.2.x86.etl",
    "primitive-types.baseline.txt": "perfview_primitive-types.etl",
}


@pytest.mark.parametrize(("baseline_name", "etl_name"), sorted(BASELINE_FILES.items()))
def test_logfile_header_event_agrees_with_traceevent(
    corpus: Path, baseline_name: str, etl_name: str
) -> None:
    text = (corpus / "perfview-baselines" / baseline_name).read_text()
    line = next(x for x in text.splitlines() if "Windows Kernel/EventTrace " in x)
    want = dict(f.split("=", 1) for f in line.split(" DataLen=", 1)[1].split("; ")[1:] if "=" in f)
    header = next(iter(pyetwkit.open_etl(corpus / etl_name)))
    p = header.properties
    assert header.name == "EventTrace/Header"
    assert header.properties_complete is True
    for ours, theirs in (
        ("BufferSize", "BufferSize"),
        ("Version", "Version"),
        ("ProviderVersion", "ProviderVersion"),
        ("NumberOfProcessors", "NumberOfProcessors"),
        ("TimerResolution", "TimerResolution"),
        ("MaxFileSize", "MaxFileSize"),
        ("LogFileMode", "LogFileMode"),
        ("BuffersWritten", "BuffersWritten"),
        ("StartBuffers", "StartBuffers"),
        ("PointerSize", "PointerSize"),
        ("EventsLost", "EventsLost"),
        ("CPUSpeed", "CPUSpeed"),
        ("PerfFreq", "PerfFreq"),
        ("ReservedFlags", "ReservedFlags"),
        ("BuffersLost", "BuffersLost"),
    ):
        assert p[ours] == number(want[theirs]), ours
    session = want["SessionName"]  # cut after 20 characters, with "...", when longer
    assert p["SessionNameString"] == session or p["SessionNameString"].startswith(session[:-3])
    assert want["EndTime"].startswith(p["EndTime"].strftime("%y/%m/%d %H:%M:%S.%f")[:17])


# The kernel recordings with a hardware configuration rundown (SystemConfig).
SYSTEM_CONFIG_FILES = [
    "etwanalyzer_TraceLoggingTester.etl",
    "perfview_diaghub_diaghub.kernel.1.etl",
    "perfview_net.4.5.2.x64.etl",
    "perfview_net.4.5.2.x86.etl",
]


@needs_corpus
@pytest.mark.parametrize("name", SYSTEM_CONFIG_FILES)
def test_system_config_rundown_decodes_to_consistent_values(corpus: Path, name: str) -> None:
    """Fields that describe one another agree, and text fields hold text."""
    seen: collections.Counter[str] = collections.Counter()
    for e in pyetwkit.open_etl(corpus / name):
        if e.provider_name != "SystemConfig" or not e.properties:
            continue
        p = e.properties
        assert e.properties_complete is True
        seen[e.name] += 1
        texts = [v for v in p.values() if isinstance(v, str)]
        assert all(t.isprintable() for t in texts), texts
        if e.name == "SystemConfig/LogDisk":
            assert p["Size"] == len(e.user_data)
            assert re.fullmatch(r"([A-Z]:)?", p["DriveLetterString"])
            assert p["TotalNumberOfClusters"] >= p["NumberOfFreeClusters"] >= 0
            assert p["FileSystem"] in ("NTFS", "ReFS", "FAT32", "exFAT", "FAT", "")
        elif e.name == "SystemConfig/PhyDisk":
            assert p["BytesPerSector"] in (512, 4096)
            assert p["Manufacturer"]
        elif e.name == "SystemConfig/NIC":
            assert p["PhysicalAddrLen"] in (0, 6, 8)
            for address in filter(None, p["IpAddresses"].split(";")):
                ipaddress.ip_address(address)
        elif e.name == "SystemConfig/IDEChannel":
            assert p["LocationInformationLen"] == len(p["LocationInformation"])
        elif e.name == "SystemConfig/Power":
            assert {p[f"s{i}"] for i in range(1, 6)} <= {0, 1}
    assert {"SystemConfig/PhyDisk", "SystemConfig/LogDisk", "SystemConfig/NIC"} <= set(seen)


# Process/Defunct (opcode 39) events in the corpus, by file and version. All are
# PERFINFO64 records, like the rundowns: 64-bit pointers (the x86 trace is of a 32-bit
# process on 64-bit Windows) and no pid in the header.
DEFUNCT_EVENTS = {
    "airbus_ShutdownPerfDiagLogger.etl": {5: 5},
    "etwanalyzer_TraceLoggingTester.etl": {5: 126},
    "perfview_diaghub_diaghub.kernel.1.etl": {5: 9},
    "perfview_net.4.5.2.x64.etl": {4: 2},
    "perfview_net.4.5.2.x86.etl": {4: 2},
}
# Of those, the processes that ended during the trace (a Process/End event) and
# lingered to its rundown.
DEFUNCT_ENDED = {"airbus_ShutdownPerfDiagLogger.etl": 5, "etwanalyzer_TraceLoggingTester.etl": 1}
DEFUNCT_V4 = [
    "UniqueProcessKey",
    "ProcessId",
    "ParentId",
    "SessionId",
    "ExitStatus",
    "DirectoryTableBase",
    "Flags",
    "UserSID",
    "ImageFileName",
    "CommandLine",
    "PackageFullName",
    "ApplicationId",
]
DEFUNCT_PROPERTIES = {4: DEFUNCT_V4, 5: [*DEFUNCT_V4, "ExitTime"]}
# Header types of records with 32-bit pointers: SYSTEM, COMPACT, PERFINFO, FULL,
# INSTANCE and EVENT_HEADER 32.
POINTER32_HEADERS = {0x01, 0x03, 0x10, 0x0A, 0x0B, 0x12}
FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)


def filetime(value: int) -> datetime.datetime:
    return FILETIME_EPOCH + datetime.timedelta(microseconds=value // 10)


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
def test_process_defunct_events_decode_completely(corpus: Path, name: str) -> None:
    """Every Process/Defunct event decodes completely, to values that make sense
    and agree with the process's End event where the trace has one."""
    defunct = []
    ends = {}
    with pyetwkit.open_etl(corpus / name) as etl:
        for e in etl:
            if e.kind != "kernel" or e.provider_name != "Process":
                continue
            if e.opcode == 39:
                defunct.append(e)
            elif e.opcode == 2 and e.properties:
                ends[(e.properties["UniqueProcessKey"], e.properties["ProcessId"])] = e
        boot = filetime(etl.header.boot_filetime)
    versions = collections.Counter(e.version for e in defunct)
    assert dict(versions) == DEFUNCT_EVENTS.get(name, {})
    agreed = 0
    for e in defunct:
        p = e.properties
        assert e.name == "Process/Defunct"
        assert e.properties_complete is True, (e.version, e.user_data.hex())
        assert e.undecoded_bytes == 0
        assert list(p) == DEFUNCT_PROPERTIES[e.version]
        # A rundown-style record: PERFINFO headers carry no pid to compare with.
        assert e.pid in (None, p["ProcessId"])
        assert p["ProcessId"] > 0
        assert p["ProcessId"] % 4 == 0
        assert p["ParentId"] % 4 == 0
        assert p["ParentId"] != p["ProcessId"]
        kernel_half = 0x80000000 if e.header_type in POINTER32_HEADERS else 0xFFFF800000000000
        assert p["UniqueProcessKey"] >= kernel_half, hex(p["UniqueProcessKey"])
        assert p["DirectoryTableBase"] > 0
        assert p["DirectoryTableBase"] % 4096 == 0
        assert -(2**31) <= p["ExitStatus"] < 2**31
        assert p["UserSID"].startswith("S-1-"), p["UserSID"]
        assert re.fullmatch(r"[^\\/]+\.exe", p["ImageFileName"], re.IGNORECASE), p["ImageFileName"]
        for key in ("ImageFileName", "CommandLine", "PackageFullName", "ApplicationId"):
            assert p[key].isprintable(), (key, p[key])
        if e.version >= 5:
            # The process exited after the machine booted and before this rundown
            # (a few seconds' slack: the trace's clock drifts from the system time).
            assert boot <= p["ExitTime"], p["ExitTime"]
            assert p["ExitTime"] <= filetime(e.filetime) + datetime.timedelta(seconds=5)
        end = ends.get((p["UniqueProcessKey"], p["ProcessId"]))
        if end is not None:
            for key in ("ParentId", "SessionId", "ExitStatus", "UserSID", "ImageFileName"):
                assert p[key] == end.properties[key], key
            if e.version >= 5:
                assert abs(p["ExitTime"] - filetime(end.filetime)) < datetime.timedelta(seconds=5)
            agreed += 1
    assert agreed == DEFUNCT_ENDED.get(name, 0)
