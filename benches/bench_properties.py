"""Properties benchmark (issue 13): ``event.properties`` as a dict built from a per-layout
template (what ships) against a lazy read-only mapping that converts a value only when it
is read (``event.property_view``), on three loops a user writes, over the whole corpus.

- **touch**: ``if event.properties:``, as bench_decode's reader does;
- **one value**: the first property's value of every event;
- **all values**: ``for value in props.values()``.

Beside them, two floors: bare iteration, and the Rust decode alone
(``event.properties_complete``, which decodes and makes no Python value). Each figure is
the fastest of three whole-corpus passes, in events/s and in ns per event above bare
iteration. The rule the choice follows (docs/performance.md): the lazy mapping ships
only if its "all values" loop is within 10% of the dict's and its "one value" loop is at
least twice as fast; else the dict stays. Written to benches/results/properties.json. Run
it with ``bash benches/run.sh properties``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyetwkit
from bench_decode import DecodeTally, ReaderSpec, _manifests, load_manifests, run_reader
from bench_read import BENCH_DIR, find_corpus, machine

RESULTS_PATH = BENCH_DIR / "results" / "properties.json"
REPEATS = 3


def reader(loop: Callable[[pyetwkit.EtwEvent], None]) -> Callable[[Path, DecodeTally], None]:
    def read(path: Path, tally: DecodeTally) -> None:
        events = 0
        try:
            with pyetwkit.open_etl(path, manifests=_manifests) as etl:
                for event in etl:
                    loop(event)
                    events += 1
        finally:
            tally.records = events

    return read


def bare(_event: pyetwkit.EtwEvent) -> None:
    pass


def decode_only(event: pyetwkit.EtwEvent) -> None:
    event.properties_complete  # noqa: B018 - the access is the work


def dict_touch(event: pyetwkit.EtwEvent) -> None:
    if event.properties:
        pass


def view_touch(event: pyetwkit.EtwEvent) -> None:
    if event.property_view:
        pass


def dict_one(event: pyetwkit.EtwEvent) -> None:
    props = event.properties
    for key in props:
        props[key]
        break


def view_one(event: pyetwkit.EtwEvent) -> None:
    props = event.property_view
    for key in props:
        props[key]
        break


def dict_all(event: pyetwkit.EtwEvent) -> None:
    for _value in event.properties.values():
        pass


def view_all(event: pyetwkit.EtwEvent) -> None:
    for _value in event.property_view.values():
        pass


LOOPS = {
    "bare": ("bare iteration", bare),
    "decode_only": ("Rust decode only (properties_complete)", decode_only),
    "dict_touch": ("dict: touch", dict_touch),
    "view_touch": ("lazy mapping: touch", view_touch),
    "dict_one": ("dict: one value", dict_one),
    "view_one": ("lazy mapping: one value", view_one),
    "dict_all": ("dict: all values", dict_all),
    "view_all": ("lazy mapping: all values", view_all),
}


def main() -> None:
    corpus = find_corpus()
    load_manifests(corpus.directory)
    rates: dict[str, float] = {}
    for key, (label, loop) in LOOPS.items():
        result = run_reader(ReaderSpec(key, label, REPEATS, reader(loop), False), corpus)
        rates[key] = result.rate()
    floor_ns = 1e9 / rates["bare"]
    above = {key: 1e9 / rate - floor_ns for key, rate in rates.items()}
    speedup = {
        name: above[f"dict_{name}"] / above[f"view_{name}"] for name in ("touch", "one", "all")
    }
    ships = speedup["all"] >= 1 / 1.1 and speedup["one"] >= 2.0
    report: dict[str, Any] = {
        "machine": machine(),
        "rates": rates,
        "ns_per_event_above_iteration": above,
        "lazy_speedup_over_dict": speedup,
        "decision": "lazy mapping" if ships else "dict",
    }
    for key, (label, _loop) in LOOPS.items():
        print(f"{label:42} {rates[key]:>12,.0f} events/s  {above[key]:>7.0f} ns/event")
    for name, factor in speedup.items():
        print(f"lazy mapping vs dict, {name}: {factor:.2f}x (ns above iteration)")
    print(f"decision by the rule: {report['decision']}")
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS_PATH}")


if __name__ == "__main__":
    main()
