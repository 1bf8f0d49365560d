"""The regression runner's routing, read from SigmaHQ's ``tests/thor.yml``: which
logsources a Windows event log sample belongs to, and the field mappings each
applies. Test support only (the samples are Windows event log JSON, not ETW)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Route:
    product: str | None
    category: str | None
    service: str | None
    fieldmappings: dict[str, str] = field(default_factory=dict)


@dataclass
class Thor:
    entries: list[dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> Thor:
        data = yaml.safe_load(path.read_text())
        return cls(list(data["logsources"].values()))

    def service_of(self, channel: str) -> str | None:
        for e in self.entries:
            if "service" in e and f"WinEventLog:{channel}" in e.get("sources", []):
                return str(e["service"])
        return None

    def routes(self, system: dict[str, Any], data: dict[str, Any]) -> list[Route]:
        """The logsources an event (its System header and data fields) belongs to."""
        service = self.service_of(str(system.get("Channel", "")))
        routes = [Route("windows", None, service)]
        for e in self.entries:
            if "conditions" not in e:
                continue
            rewrite = e.get("rewrite", {})
            if rewrite.get("service") not in (None, service):
                continue
            if all(_holds(v, system, data, k) for k, v in e["conditions"].items()):
                routes.append(
                    Route(
                        e.get("product", "windows"),
                        e.get("category"),
                        service,
                        dict(e.get("fieldmappings") or {}),
                    )
                )
        return routes


def _holds(want: Any, system: dict[str, Any], data: dict[str, Any], key: str) -> bool:
    have = system.get(key, data.get(key))
    wants = want if isinstance(want, list) else [want]
    return any(str(have) == str(w) for w in wants)


def read_samples(path: Path) -> Iterator[dict[str, Any]]:
    """The back-to-back pretty-printed JSON objects of a sample file."""
    text = path.read_text(encoding="utf-8-sig")
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, pos = decoder.raw_decode(text, pos)
        yield obj


def flatten(sample: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(System header, flat fields) of one sample: EventData (or UserData's
    single child) plus EventID, Provider_Name and Channel."""
    event = sample["Event"]
    system = dict(event.get("System", {}))
    data = event.get("EventData")
    if data is None and isinstance(event.get("UserData"), dict):
        inner = list(event["UserData"].values())
        data = inner[0] if inner else {}
    # The spec's field usage: event log names with their spaces stripped
    # ("Threat Name" is ThreatName).
    fields: dict[str, Any] = {
        k.replace(" ", ""): v for k, v in (data or {}).items() if not isinstance(v, (dict, list))
    }
    fields["EventID"] = system.get("EventID")
    fields["Channel"] = system.get("Channel")
    provider = system.get("Provider", {}).get("#attributes", {})
    if "Name" in provider:
        fields["Provider_Name"] = provider["Name"]
    return system, fields


def mapped(fields: dict[str, Any], route: Route) -> dict[str, Any]:
    """``fields`` as a rule of ``route`` reads them: Sigma name ← event name."""
    out = dict(fields)
    for sigma_name, event_name in route.fieldmappings.items():
        if event_name in fields:
            out[sigma_name] = fields[event_name]
    return out
