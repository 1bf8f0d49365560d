"""Filters: Rust evaluation agrees with a plain-Python reference evaluator on
every corpus event, for expressions hypothesis generates; repr and errors."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from typing import Any, NamedTuple

import pyetwkit
import pytest
from conftest import corpus_dir, corpus_files, have_corpus
from filter_reference import evaluate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyetwkit import EtwEvent, EtwListener
from pyetwkit import filters as f
from pyetwkit.filters import Filter

SMALL_FILES = [
    "perfview_primitive-types.etl",
    "krabsetw_powershell.etl",
    "perfview_gcevents_PerfViewData.etl",
    "airbus_ShutdownPerfDiagLogger.etl",
]
# The properties the generated filters test (and so all the reference reads of them).
PROPERTY_NAMES = ("ProcessId", "Status", "CommandLine", "ImageFileName")


# Glob patterns the generated filters try: every construct of the glob syntax,
# Windows paths with their backslashes, and case that differs from the data's.
GLOBS = [
    "*.EXE", "s*", "*\\system32\\*", "?v*", "{svchost,cmd,conhost}.exe", "[a-m]*",
    "[!s]*.exe", "*", "*powershell*", "c:\\windows\\*.exe",
]  # fmt: skip


def files(small: bool) -> list[str]:
    paths = [pyetwkit.sample_etl_path()]
    if have_corpus():
        names = SMALL_FILES if small else corpus_files()
        paths += [str(corpus_dir() / n) for n in names]
    return paths


@cache
def unfiltered(path: str) -> tuple[EtwEvent, ...]:
    """Every event as a listener delivers it (so with its process context)."""
    with EtwListener(etl_file=path) as listener:
        return tuple(listener)


class Fields(NamedTuple):
    """An event as the reference sees it: the fields it reads, nothing else (a
    field the reference reads and this lacks is an AttributeError, not a silent
    miss)."""

    provider_id: str
    provider_name: str | None
    event_id: int
    opcode: int
    level: int
    keywords: int
    pid: int | None
    process_name: str | None
    name: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class Table:
    """A file's events with the reference's inputs deduplicated: the verdict for
    ``events[i]`` is the verdict for ``distinct[index[i]]``. The big files hold
    170,000 events but a few thousand distinct inputs, so the reference runs on
    those once per filter instead of on every event."""

    events: tuple[EtwEvent, ...]
    distinct: tuple[Fields, ...]
    index: tuple[int, ...]


# One C call for the header fields: the table reads 640,000 events.
_header_fields = attrgetter(*Fields._fields[:-1])


def fields_of(event: EtwEvent) -> Fields:
    props = event.properties
    kept = {n: props[n] for n in PROPERTY_NAMES if n in props} if props else {}
    return Fields(*_header_fields(event), kept)


@cache
def table(path: str) -> Table:
    events = unfiltered(path)
    slots: dict[tuple[object, ...], int] = {}
    distinct: list[Fields] = []
    index: list[int] = []
    for event in events:
        fields = fields_of(event)
        # Values by type and repr, so 1, 1.0 and True (equal, same hash) stay apart.
        props = tuple((n, type(v).__name__, repr(v)) for n, v in fields.properties.items())
        slot = slots.setdefault((*fields[:-1], props), len(distinct))
        if slot == len(distinct):
            distinct.append(fields)
        index.append(slot)
    return Table(events, tuple(distinct), tuple(index))


def reference(flt: Filter, path: str) -> list[EtwEvent]:
    """The events of ``path`` that pass ``flt`` by the plain-Python reference."""
    spec = flt.to_spec()
    t = table(path)
    verdicts = [evaluate(spec, fields) for fields in t.distinct]
    return [e for e, slot in zip(t.events, t.index, strict=True) if verdicts[slot]]


@cache
def seen_values() -> dict[str, list[object]]:
    """Values that occur in every file of the corpus, so generated filters match
    things, and provider names of every origin (kernel classes, TraceLogging,
    embedded schemas, EventSource manifests, KernelTraceControl) are tried."""
    events = [e for p in files(small=False) for e in unfiltered(p)]
    return {
        "providers": sorted({e.provider_id for e in events}),
        "names": sorted({e.provider_name for e in events if e.provider_name}),
        "event_ids": sorted({e.event_id for e in events}),
        "opcodes": sorted({e.opcode for e in events}),
        "pids": sorted({e.pid for e in events if e.pid is not None}),
        "images": sorted({e.process_name for e in events if e.process_name}),
        "keywords": sorted({e.keywords for e in events}),
        "event_names": sorted({e.name for e in events if e.name}),
    }


def leaves(draw: st.DrawFn) -> Filter:
    seen = seen_values()

    def some(key: str, extra: st.SearchStrategy[object]) -> list[object]:
        return draw(st.lists(st.sampled_from(seen[key]) | extra, min_size=1, max_size=3))

    kind = draw(st.integers(0, 14))
    if kind == 0:
        return f.provider(*some("providers", st.just("00000000-0000-0000-0000-000000000001")))
    if kind == 1:
        names = some("names", st.just("No-Such-Provider"))
        return f.provider(*[n.upper() if draw(st.booleans()) else n for n in names])  # type: ignore[union-attr]
    if kind == 2:
        return f.event_id(*some("event_ids", st.integers(0, 65535)))  # type: ignore[arg-type]
    if kind == 3:
        return f.opcode(*some("opcodes", st.integers(0, 255)))  # type: ignore[arg-type]
    if kind == 4:
        return f.max_level(draw(st.integers(0, 255)))
    if kind == 5:
        bits = draw(st.sampled_from(seen["keywords"]) | st.integers(0, 2**64 - 1))
        mask = bits & draw(st.integers(0, 2**64 - 1)) or bits  # type: ignore[operator]
        return f.keywords_any(mask) if draw(st.booleans()) else f.keywords_all(mask)  # type: ignore[arg-type]
    if kind == 6:
        return f.pid(*some("pids", st.integers(0, 2**32 - 1)))  # type: ignore[arg-type]
    if kind == 7:
        images = some("images", st.just("nosuch.exe"))
        return f.process_name(*[i.upper() if draw(st.booleans()) else i for i in images])  # type: ignore[union-attr]
    if kind == 11:
        names = some("event_names", st.just("No/Such"))
        return f.event_name(*[n.upper() if draw(st.booleans()) else n for n in names])  # type: ignore[union-attr]
    if kind == 12:
        return f.process_glob(*draw(st.lists(st.sampled_from(GLOBS), min_size=1, max_size=2)))
    process_id, status, command_line, image = PROPERTY_NAMES
    if kind == 13:
        return f.property_glob(
            draw(st.sampled_from([command_line, image])), draw(st.sampled_from(GLOBS))
        )
    if kind == 8:
        return f.property_equals(draw(st.sampled_from([process_id, status])), draw(st.integers()))
    if kind == 9:
        return f.property_contains(command_line, draw(st.text(max_size=5)))
    if kind == 10:
        return f.property_regex(image, draw(st.sampled_from(["^s", "exe$", "a+"])))
    return f.property_range(status, min=draw(st.integers(0, 300)))


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> Filter:
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return leaves(draw)
    op = draw(st.sampled_from(["and", "or", "not"]))
    left = draw(expressions(depth + 1))
    if op == "not":
        return ~left
    right = draw(expressions(depth + 1))
    return left & right if op == "and" else left | right


def check_agreement(flt: Filter, paths: list[str]) -> None:
    for path in paths:
        everything = unfiltered(path)
        expected = reference(flt, path)
        with EtwListener(etl_file=path, filter=flt) as listener:
            got = list(listener)
            stats = listener.stats()
        assert got == expected, (flt, path)
        assert stats.filtered_out == len(everything) - len(expected)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flt=expressions())
def test_rust_filters_agree_with_the_reference_on_small_files(flt: Filter) -> None:
    check_agreement(flt, files(small=True))


@pytest.mark.skipif(not have_corpus(), reason="no .etl corpus (PYETWKIT_TEST_DATA)")
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flt=expressions())
def test_rust_filters_agree_with_the_reference_on_every_corpus_event(flt: Filter) -> None:
    check_agreement(flt, files(small=False))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flt=expressions())
def test_the_deduplicated_reference_is_the_reference(flt: Filter) -> None:
    """The reference on the distinct inputs gives each event the verdict the
    reference gives the event itself."""
    spec = flt.to_spec()
    for path in files(small=True):
        t = table(path)
        verdicts = [evaluate(spec, fields) for fields in t.distinct]
        step = max(1, len(t.events) // 2000)  # the small files whole, a tenth of the biggest
        for i in range(0, len(t.events), step):
            assert evaluate(spec, t.events[i]) == verdicts[t.index[i]], (flt, path, i)


def test_some_filters_by_hand() -> None:
    path = pyetwkit.sample_etl_path()
    cases = {
        f.provider("pyetwkit-sample-app"): 41,
        f.provider("6F2A1C7E-5B0D-4E8A-9A51-3C1D2B7E9044"): 41,
        f.provider("{6f2a1c7e-5b0d-4e8a-9a51-3c1d2b7e9044}") & f.max_level(2): 4,
        f.event_id(100): 40,
        f.process_name("SAMPLEAPP.EXE") & f.provider("PerfInfo"): 0,  # PERFINFO has no pid
        ~f.provider("PerfInfo") & ~f.provider("Pyetwkit-Sample-App"): 47,
        f.keywords_any(0x1) | f.keywords_all(0x0000_4000_0000_0000): 81,
        f.pid(1000) | f.pid(0): 2,
    }
    for flt, count in cases.items():
        with EtwListener(etl_file=path, filter=flt) as listener:
            assert sum(1 for _ in listener) == count, flt


def test_repr_reads_as_code() -> None:
    flt = (f.event_id(1, 2) & ~f.max_level(3)) | f.provider("Process")
    assert repr(flt) == "(event_id(1, 2) & ~max_level(3)) | provider('Process')"
    assert repr(f.keywords_any(0x30)) == "keywords_any(0x30)"
    assert repr(~(f.pid(4) | f.pid(8))) == "~(pid(4) | pid(8))"
    assert f.pid(4) & f.pid(8) == f.pid(4) & f.pid(8)
    assert (f.pid(1) & f.pid(2) & f.pid(3)).to_spec()["of"] == [
        {"op": "pid", "pids": [1]},
        {"op": "pid", "pids": [2]},
        {"op": "pid", "pids": [3]},
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda: f.event_id(),
        lambda: f.event_id(70000),
        lambda: f.opcode(-1),
        lambda: f.pid(True),
        lambda: f.property_range("x"),
        lambda: f.property_regex("x", "["),
        lambda: f.process_name(),
    ],
)
def test_bad_filters_raise_value_error(make: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make()  # type: ignore[operator]
