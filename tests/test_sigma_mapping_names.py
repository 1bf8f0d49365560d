"""The property names the ETW-to-Sigma mapping reads (and that its Rust tests,
crates/pyetwkit-sigma/tests/etw_mapping.rs, feed) are the names the providers'
manifests give those events: checked here against the manifests themselves."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# (manifest, provider GUID, event id, property names the mapping reads)
EXPECTED = [
    ("microsoft-tx/SystemEvents.man", "70eb4f03-c1de-4f73-a051-33d13d5413bd", 1,
     {"BaseName", "RelativeName"}),
    ("microsoft-tx/SystemEvents.man", "70eb4f03-c1de-4f73-a051-33d13d5413bd", 3, {"KeyName"}),
    ("microsoft-tx/SystemEvents.man", "70eb4f03-c1de-4f73-a051-33d13d5413bd", 5,
     {"KeyName", "ValueName", "Type", "CapturedData"}),
    ("microsoft-tx/SystemEvents.man", "70eb4f03-c1de-4f73-a051-33d13d5413bd", 6,
     {"KeyName", "ValueName"}),
    ("microsoft-tx/SystemEvents.man", "edd08927-9cc4-4e65-b970-c2560fb5c289", 12,
     {"FileName", "CreateOptions"}),
    ("microsoft-tx/SystemEvents.man", "edd08927-9cc4-4e65-b970-c2560fb5c289", 30,
     {"FileName", "CreateOptions"}),
    ("microsoft-tx/SystemEvents.man", "edd08927-9cc4-4e65-b970-c2560fb5c289", 26, {"FilePath"}),
    ("microsoft-tx/SystemEvents.man", "7dd42a49-5329-4832-8dfd-43d979153a88", 12,
     {"PID", "daddr", "saddr", "dport", "sport"}),
    ("microsoft-tx/SystemEvents.man", "7dd42a49-5329-4832-8dfd-43d979153a88", 31,
     {"PID", "daddr", "saddr", "dport", "sport"}),
    ("nasbench-tdh-dumps/Microsoft-Windows-DNS-Client.manifest.xml",
     "1c95126e-7eea-49a9-a3fe-a378b03ddb4d", 3008, {"QueryName", "QueryStatus", "QueryResults"}),
    ("nasbench-tdh-dumps/Microsoft-Windows-Powershell.manifest.xml",
     "a0c1853b-5c40-4b15-8766-3cf1c58f985a", 4104, {"ScriptBlockText", "ScriptBlockId", "Path"}),
    ("nasbench-tdh-dumps/Microsoft-Windows-Powershell.manifest.xml",
     "a0c1853b-5c40-4b15-8766-3cf1c58f985a", 4103, {"ContextInfo", "UserData", "Payload"}),
    ("powershell-core/PowerShell.Core.Instrumentation.man",
     "f90714a8-5509-434a-bf6d-b1624c8a19a2", 4104, {"ScriptBlockText", "ScriptBlockId", "Path"}),
    ("powershell-core/PowerShell.Core.Instrumentation.man",
     "f90714a8-5509-434a-bf6d-b1624c8a19a2", 4103, {"ContextInfo", "UserData", "Payload"}),
    ("nasbench-tdh-dumps/Microsoft-Windows-Kernel-Process.manifest.xml",
     "22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716", 1,
     {"ProcessID", "ParentProcessID", "ImageName", "MandatoryLabel"}),
]  # fmt: skip


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def template_names(manifest: Path, guid: str, event_id: int) -> set[str]:
    """Every property name of any version of `event_id` of provider `guid`."""
    root = ET.parse(manifest).getroot()
    names: set[str] = set()
    for provider in root.iter():
        if _local(provider.tag) != "provider":
            continue
        if provider.get("guid", "").strip("{}").lower() != guid:
            continue
        templates = {t.get("tid"): t for t in provider.iter() if _local(t.tag) == "template"}
        for event in provider.iter():
            if _local(event.tag) == "event" and int(event.get("value", "-1"), 0) == event_id:
                template = templates.get(event.get("template"))
                if template is not None:
                    names |= {d.get("name", "") for d in template.iter() if _local(d.tag) == "data"}
    return names


@pytest.mark.parametrize(("manifest", "guid", "event_id", "wanted"), EXPECTED)
def test_the_mapping_reads_names_the_manifest_defines(
    manifests: Path, manifest: str, guid: str, event_id: int, wanted: set[str]
) -> None:
    have = template_names(manifests / manifest, guid, event_id)
    assert have, f"{manifest} defines no event {event_id} of {guid}"
    assert wanted <= have, wanted - have
