"""EtwEvent: DESIGN.md's fields exactly, in Python and in JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyetwkit
from pyetwkit import EtwEvent

DESIGN_FIELDS = [
    "kind",
    "header_type",
    "provider_id",
    "provider_name",
    "event_id",
    "version",
    "opcode",
    "level",
    "task",
    "keywords",
    "channel",
    "pid",
    "tid",
    "processor",
    "timestamp",
    "filetime",
    "name",
    "properties",
    "process_name",
    "process_command_line",
    "user_data",
    "activity_id",
    "related_activity_id",
    "stack",
    "sid",
    "session_id",
]


def sample_events() -> list[EtwEvent]:
    with pyetwkit.open_etl(pyetwkit.sample_etl_path()) as etl:
        return list(etl)


def test_to_dict_and_json_have_exactly_the_design_fields() -> None:
    for event in sample_events():
        d = event.to_dict()
        assert list(d) == DESIGN_FIELDS
        j = json.loads(event.to_json())
        assert list(j) == DESIGN_FIELDS
        assert j["user_data"] == event.user_data.hex()
        assert bytes.fromhex(j["user_data"]) == d["user_data"]
        for field in DESIGN_FIELDS:
            assert getattr(event, field) == d[field], field
            if field not in ("user_data", "properties"):
                assert j[field] == d[field], field
        # Properties are typed in Python and text in JSON (times ISO 8601, bytes hex).
        assert list(j["properties"]) == list(d["properties"])
        for name, value in d["properties"].items():
            if isinstance(value, datetime):
                # JSON keeps all seven fractional digits; datetime has six.
                assert j["properties"][name].startswith(value.strftime("%Y-%m-%dT%H:%M:%S.%f"))
            elif isinstance(value, bytes):
                assert j["properties"][name] == value.hex()
            else:
                assert j["properties"][name] == value, name


def test_timestamp_is_iso_8601_with_100ns_and_matches_filetime() -> None:
    for event in sample_events():
        ts = event.timestamp
        assert ts.endswith("Z")
        assert len(ts.split(".")[1]) == 8
        parsed = datetime.strptime(ts[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
        epoch = datetime(1601, 1, 1, tzinfo=timezone.utc)
        assert parsed == epoch + timedelta(microseconds=event.filetime // 10)
        assert int(ts[-2]) == event.filetime % 10


def test_timestamps_match_filetime_on_every_corpus_event(corpus: Path) -> None:
    """The text is written digit by digit in Rust: checked here against datetime
    arithmetic on the FILETIME, for every event of the corpus."""
    epoch = datetime(1601, 1, 1, tzinfo=timezone.utc)
    checked = 0
    for path in sorted(corpus.glob("*.etl")):
        for event in pyetwkit.open_etl(path):
            ts, ft = event.timestamp, max(event.filetime, 0)
            if ft >= 2_650_467_744_000_000_000:  # past 9999: beyond datetime
                assert len(ts) == 29
                continue
            expected = (epoch + timedelta(microseconds=ft // 10)).strftime("%Y-%m-%dT%H:%M:%S.%f")
            assert ts == f"{expected}{ft % 10}Z", (path.name, ft)
            checked += 1
    assert checked > 600_000


def test_provider_ids_are_one_string_per_guid() -> None:
    by_guid: dict[str, str] = {}
    for event in sample_events():
        pid = event.provider_id
        first = by_guid.setdefault(pid, pid)
        assert first is pid  # the same object, made once
    assert by_guid


def test_equality_and_repr() -> None:
    a, b = sample_events(), sample_events()
    assert a == b
    assert a[5] != a[6]
    assert a[5] != "not an event"
    r = repr(a[4])
    assert r.startswith('<EtwEvent event "Pyetwkit-Sample-App" id=0 opcode=1 name="AppStarted"')


def test_sample_content_seen_from_python() -> None:
    events = sample_events()
    header = events[0]
    assert (header.kind, header.name, header.provider_name) == (
        "kernel",
        "EventTrace/Header",
        "EventTrace",
    )
    failures = [e for e in events if e.stack is not None]
    assert len(failures) == 4
    assert all(e.level == 2 for e in failures)
    related = {e.related_activity_id for e in events if e.related_activity_id}
    assert related == {"a0000000-0000-0000-0000-000000000001"}
    samples = [e for e in events if e.provider_name == "PerfInfo"]
    assert len(samples) == 40
    assert all(e.pid is None and e.tid is None for e in samples)
    kinds = {e.kind for e in events}
    assert kinds == {"kernel", "event", "classic", "wpp"}


def test_header_and_file_object() -> None:
    path = pyetwkit.sample_etl_path()
    with pyetwkit.open_etl(path) as etl:
        assert etl.header.logger_name == "pyetwkit-sample"
        assert etl.header.to_dict()["os_build"] == 26100
        assert "pyetwkit-sample" in repr(etl.header)
        assert etl.bytes_read < etl.file_size
        n = sum(1 for _ in etl)
        assert etl.bytes_read == etl.file_size
    assert etl.closed
    assert n == 128
    assert list(etl) == []


def test_progress_callback_reaches_the_file_size() -> None:
    seen: list[tuple[int, int]] = []
    path = pyetwkit.sample_etl_path()
    with pyetwkit.open_etl(path, progress=lambda done, total: seen.append((done, total))) as etl:
        assert sum(1 for _ in etl) == 128
    assert seen[-1][0] == seen[-1][1] == etl.file_size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
