"""TraceLogging decoding: every TraceLogging event of the corpus decodes, and the
values agree with the baseline Microsoft's TraceEvent tests keep."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pyetwkit
import pytest
from conftest import corpus_files, needs_corpus


@needs_corpus
@pytest.mark.parametrize("name", corpus_files())
def test_every_tracelogging_event_decodes(corpus: Path, name: str) -> None:
    for event in pyetwkit.open_etl(corpus / name):
        if any(t == 11 for t, _ in event.extended_data):  # a TraceLogging schema
            assert event.properties_complete is True, (event, event.user_data.hex())
            assert event.name
            assert event.properties or event.user_data == b""


def baseline_events(corpus: Path) -> list[dict[str, str]]:
    events = []
    text = (corpus / "perfview-baselines" / "primitive-types.baseline.txt").read_text()
    for line in text.splitlines():
        if line.startswith("EVENT") and "solar_system/PrimitiveTypesTest" in line:
            fields = line.split(" DataLen=", 1)[1].split("; ")[1:]
            events.append(dict(f.split("=", 1) for f in fields if "=" in f))
    return events


def shown(value: str, full: str) -> bool:
    """The baseline cuts values after 20 characters and adds '...'."""
    return value == full or (value.endswith("...") and full.startswith(value[:-3]))


def test_primitive_types_agree_with_the_traceevent_baseline(corpus: Path) -> None:
    want = baseline_events(corpus)
    got = [
        e.properties
        for e in pyetwkit.open_etl(corpus / "perfview_primitive-types.etl")
        if e.kind == "event"
    ]
    assert len(got) == len(want) == 5
    for ours, base in zip(got, want, strict=True):
        assert set(ours) == set(base)
        assert shown(base["string_type"], ours["string_type"])
        assert base["boolean_type"] == str(ours["boolean_type"])
        assert int(base["char_type"]) == ord(ours["char_type"])
        for key in ("int16_type", "int32_type", "uint16_type", "uint32_type"):
            assert int(base[key].replace(",", "")) == ours[key], key
        # Known baseline error: TraceEvent prints UINT64 fields as signed. int64_type is
        # declared UINT64 in this event's schema, so compare the two's complement.
        for key in ("int64_type", "uint64_type"):
            signed = (ours[key] + 2**63) % 2**64 - 2**63
            assert int(base[key].replace(",", "")) == signed, key
        assert isinstance(ours["guid_type"], uuid.UUID)
        assert shown(base["guid_type"], str(ours["guid_type"]))
        ft = ours["file_time_type"]
        assert isinstance(ft, dt.datetime)
        assert ft.tzinfo is dt.timezone.utc
        assert shown(base["file_time_type"], ft.strftime("%y/%m/%d %H:%M:%S.%f"))
        # Known baseline error: SYSTEMTIME milliseconds read from the seconds' offset.
        st = ours["system_time_type"]
        assert isinstance(st, dt.datetime)
        assert re.match(st.strftime("%y/%m/%d %H:%M:%S"), base["system_time_type"])


def test_decoded_values_reach_json_and_filters(corpus: Path) -> None:
    path = corpus / "perfview_primitive-types.etl"
    event = next(e for e in pyetwkit.open_etl(path) if e.kind == "event")
    import json

    doc = json.loads(event.to_json())
    assert doc["properties"]["string_type"] == "Mercury"
    assert doc["properties"]["file_time_type"].startswith("2021-09-09T14:59:35")
    flt = pyetwkit.filters.property_equals(
        "string_type", "Venus"
    ) | pyetwkit.filters.property_range("uint32_type", min=180)
    with pyetwkit.EtwListener(etl_file=path, filter=flt) as listener:
        names = [e.properties["string_type"] for e in listener]
    assert names == [
        e["string_type"]
        for e in baseline_events(corpus)
        if e["string_type"] == "Venus" or int(e["uint32_type"]) >= 180
    ]
