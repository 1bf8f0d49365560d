"""Sigma correlation rules over event streams: each type, window edges,
group-by, chaining, aliases, generate, and the memory bounds."""

from __future__ import annotations

import pytest
from pyetwkit import sigma

BASE = """
title: Failed login
id: 11111111-1111-1111-1111-111111111111
name: failed_login
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4625}
    condition: selection
---
title: Successful login
id: 22222222-2222-2222-2222-222222222222
name: successful_login
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4624}
    condition: selection
"""


def rules_with(correlation: str) -> sigma.RuleSet:
    rules = sigma.RuleSet.from_yaml(BASE + "---\n" + correlation)
    assert not rules.rejected, rules.rejected
    assert len(rules.correlations) >= 1
    return rules


def feed(
    stream: sigma.Stream, events: list[tuple[float, dict[str, object]]]
) -> list[tuple[float, sigma.Match | sigma.CorrelationMatch]]:
    out = []
    for t, fields in events:
        for hit in stream.push(fields, timestamp=t, service="security"):
            out.append((t, hit))
    return out


def correlations(hits: list[tuple[float, object]]) -> list[tuple[float, sigma.CorrelationMatch]]:
    return [(t, h) for t, h in hits if isinstance(h, sigma.CorrelationMatch)]


EVENT_COUNT = """
title: Brute force
id: 33333333-3333-3333-3333-333333333333
author: pyetwkit tests
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 10s
    condition: {gte: 3}
"""


def fail(user: str) -> dict[str, object]:
    return {"EventID": 4625, "User": user}


def ok(user: str) -> dict[str, object]:
    return {"EventID": 4624, "User": user}


def test_event_count_fires_at_the_threshold_within_the_window() -> None:
    stream = rules_with(EVENT_COUNT).stream()
    hits = correlations(feed(stream, [(0, fail("a")), (5, fail("a")), (10, fail("a"))]))
    assert [(t, h.title, h.group, h.count) for t, h in hits] == [
        (10, "Brute force", {"User": "a"}, 3.0)
    ]


def test_event_count_window_edge() -> None:
    # 10.0 s after the first is still inside a 10 s window; 10.001 s is not.
    inside = rules_with(EVENT_COUNT).stream()
    assert correlations(feed(inside, [(0, fail("a")), (1, fail("a")), (10.0, fail("a"))]))
    outside = rules_with(EVENT_COUNT).stream()
    assert not correlations(feed(outside, [(0, fail("a")), (1, fail("a")), (10.001, fail("a"))]))


def test_event_count_groups_do_not_mix() -> None:
    stream = rules_with(EVENT_COUNT).stream()
    events = [(0, fail("a")), (1, fail("b")), (2, fail("a")), (3, fail("b")), (4, fail("c"))]
    assert not correlations(feed(stream, events))
    hits = correlations(feed(stream, [(5, fail("b"))]))
    assert [h.group for _, h in hits] == [{"User": "b"}]


def test_a_firing_resets_its_group() -> None:
    stream = rules_with(EVENT_COUNT).stream()
    hits = correlations(feed(stream, [(t, fail("a")) for t in range(6)]))
    assert [t for t, _ in hits] == [2, 5]


def test_base_rules_are_silent_unless_generate() -> None:
    silent = rules_with(EVENT_COUNT).stream()
    assert feed(silent, [(0, fail("a"))]) == []
    loud = rules_with(
        EVENT_COUNT.replace("correlation:", "correlation:\n    generate: true")
    ).stream()
    hits = feed(loud, [(0, fail("a"))])
    assert [h.title for _, h in hits] == ["Failed login"]
    # The stateless match() has no correlation: every rule reports itself.
    assert [m.title for m in rules_with(EVENT_COUNT).match(fail("a"), service="security")] == [
        "Failed login"
    ]


VALUE_COUNT = """
title: Password spray
id: 44444444-4444-4444-4444-444444444444
correlation:
    type: value_count
    rules: [failed_login]
    group-by: [IpAddress]
    timespan: 1m
    condition: {field: User, gte: 3}
"""


def test_value_count_counts_distinct_values() -> None:
    stream = rules_with(VALUE_COUNT).stream()

    def spray(user: str) -> dict[str, object]:
        return {**fail(user), "IpAddress": "10.0.0.9"}

    # The same user again does not count twice.
    assert not correlations(feed(stream, [(0, spray("a")), (1, spray("a")), (2, spray("b"))]))
    hits = correlations(feed(stream, [(3, spray("c"))]))
    assert [(h.group, h.count) for _, h in hits] == [({"IpAddress": "10.0.0.9"}, 3.0)]


def test_value_count_forgets_values_outside_the_window() -> None:
    stream = rules_with(VALUE_COUNT).stream()
    events = [(0, {**fail("a"), "IpAddress": "x"}), (30, {**fail("b"), "IpAddress": "x"})]
    events.append((61, {**fail("c"), "IpAddress": "x"}))
    assert not correlations(feed(stream, events))


TEMPORAL = """
title: Fail and success
id: 55555555-5555-5555-5555-555555555555
correlation:
    type: temporal
    rules: [successful_login, failed_login]
    group-by: [User]
    timespan: 30s
"""


def test_temporal_needs_every_rule_in_any_order() -> None:
    stream = rules_with(TEMPORAL).stream()
    assert not correlations(feed(stream, [(0, fail("a")), (1, fail("a"))]))
    hits = correlations(feed(stream, [(2, ok("a"))]))
    assert [(t, h.group) for t, h in hits] == [(2, {"User": "a"})]
    # Other order, other user.
    assert correlations(feed(stream, [(3, ok("b")), (4, fail("b"))]))


def test_temporal_window_and_group() -> None:
    stream = rules_with(TEMPORAL).stream()
    assert not correlations(feed(stream, [(0, fail("a")), (31, ok("a"))]))
    assert not correlations(feed(stream, [(40, fail("c")), (41, ok("b"))]))


ORDERED = """
title: Fail then success
id: 66666666-6666-6666-6666-666666666666
correlation:
    type: temporal_ordered
    rules: [failed_login, successful_login]
    group-by: [User]
    timespan: 30s
"""


def test_temporal_ordered_needs_the_order() -> None:
    stream = rules_with(ORDERED).stream()
    assert not correlations(feed(stream, [(0, ok("a")), (1, fail("a"))]))
    hits = correlations(feed(stream, [(2, ok("a"))]))
    assert [t for t, _ in hits] == [2]
    late = rules_with(ORDERED).stream()
    assert not correlations(feed(late, [(0, fail("a")), (30.5, ok("a"))]))


def test_chained_correlations_and_names_defined_later() -> None:
    # The spec's own example: the top correlation refers to one written after it.
    chain = """
title: Many failures then success
id: 77777777-7777-7777-7777-777777777777
correlation:
    type: temporal_ordered
    rules: [many_failed, successful_login]
    group-by: [User]
    timespan: 10m
---
title: Many failures
id: 88888888-8888-8888-8888-888888888888
name: many_failed
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 10m
    condition: {gte: 3}
"""
    rules = rules_with(chain)
    stream = rules.stream()
    events = [(t, fail("a")) for t in range(3)] + [(10, ok("a"))]
    hits = correlations(feed(stream, events))
    # The inner correlation feeds the outer one and, not generating, stays silent.
    assert [(t, h.title) for t, h in hits] == [(10, "Many failures then success")]


def test_aliases_group_different_fields() -> None:
    aliased = """
title: Same address
id: 99999999-9999-9999-9999-999999999999
correlation:
    type: temporal
    rules: [failed_login, successful_login]
    group-by: [addr]
    timespan: 1m
    aliases:
        addr:
            failed_login: IpAddress
            successful_login: SourceAddress
"""
    stream = rules_with(aliased).stream()
    events = [
        (0, {**fail("a"), "IpAddress": "1.2.3.4"}),
        (1, {**ok("b"), "SourceAddress": "9.9.9.9"}),
    ]
    assert not correlations(feed(stream, events))
    hits = correlations(feed(stream, [(2, {**ok("c"), "SourceAddress": "1.2.3.4"})]))
    assert [h.group for _, h in hits] == [{"addr": "1.2.3.4"}]


def test_state_is_bounded_and_evictions_are_counted() -> None:
    stream = rules_with(EVENT_COUNT).stream(max_groups=10, max_entries=2)
    feed(stream, [(0, fail(f"user{i}")) for i in range(100)])
    stats = stream.stats
    assert stats["events"] == 100
    assert stats["groups_evicted"] == 90
    # Two entries at most per group: a threshold of 3 can never be reached.
    capped = rules_with(EVENT_COUNT).stream(max_entries=2)
    assert not correlations(feed(capped, [(t, fail("a")) for t in range(5)]))
    assert capped.stats["entries_evicted"] == 3


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ("    type: sequence\n", "type"),
        ("    timespan: 10w\n", "timespan"),
        ("    rules: [nothing_by_that_name]\n", "not loaded"),
    ],
)
def test_bad_correlations_are_rejected_with_a_reason(broken: str, reason: str) -> None:
    key = broken.split(":")[0].strip()
    lines = [line for line in EVENT_COUNT.splitlines() if line.strip().split(":")[0] != key]
    text = "\n".join(lines).replace("correlation:", "correlation:\n" + broken.rstrip("\n"))
    rules = sigma.RuleSet.from_yaml(BASE + "---\n" + text)
    assert len(rules.correlations) == 0
    assert [r for _, r in rules.rejected if reason in r], rules.rejected


def test_timestamps_may_be_datetimes() -> None:
    from datetime import datetime, timedelta, timezone

    stream = rules_with(EVENT_COUNT).stream()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    hits = []
    for i in range(3):
        hits += stream.push(fail("a"), timestamp=start + timedelta(seconds=i), service="security")
    assert [h.title for h in hits] == ["Brute force"]
    with pytest.raises(ValueError, match="finite"):
        stream.push(fail("a"), timestamp=float("nan"), service="security")
