"""Columnar benchmark (issue 13): the full decode into Arrow, beside dissect.etl's full
decode and pyetwkit's own per-event decode, in one run over the corpus; and the memory of
streaming the largest file into Arrow batches and into Parquet.

- **pyetwkit into Arrow**: ``pyarrow.RecordBatchReader.from_stream(etl.batches())``, every
  batch of the events table counted: every column, ``properties`` decoded into JSON text, in
  Rust. Manifests as in the decode benchmark (``bench_decode.MANIFESTS``).
- **pyetwkit per schema**: ``etl.to_arrow(per_schema=True)``, every table's rows counted:
  the header columns and one typed column per property, in Rust.
- **pyetwkit per event**: bench_decode's reader (``event.properties`` and ``event.name``).
- **dissect.etl full**: ``record.event`` for every record (bench_read's reader).

Rates are events over seconds summed over the corpus, from the fastest whole-corpus pass;
the ratios are given over the files both read in full and over all files. Memory: the peak
RSS growth of a fresh interpreter (``rss_child.py``) streaming
``etwanalyzer_TraceLoggingTester.etl`` into Arrow batches (pyarrow imported before the
baseline) and converting it to Parquet. Figures and ratios from one run, never assertions;
written to benches/results/arrow.json. Run it with ``bash benches/run.sh arrow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyetwkit
from bench_decode import (
    READERS as DECODE_READERS,
)
from bench_decode import (
    DecodeTally,
    ReaderSpec,
    _manifests,
    load_manifests,
    ratios,
    run_reader,
)
from bench_read import BENCH_DIR, RSS_CHILD, RSS_FILE, find_corpus, machine

RESULTS_PATH = BENCH_DIR / "results" / "arrow.json"
GOAL_ARROW_VS_DISSECT = 300.0
GOAL_RSS_MIB = 64.0


def pyetwkit_arrow(path: Path, tally: DecodeTally) -> None:
    """The events table of ``path``, every column, as Arrow batches."""
    rows = 0
    try:
        with pyetwkit.open_etl(path, manifests=_manifests) as etl:
            for batch in pa.RecordBatchReader.from_stream(etl.batches()):
                rows += batch.num_rows
    finally:
        tally.records = rows


def pyetwkit_arrow_per_schema(path: Path, tally: DecodeTally) -> None:
    """The per-schema tables of ``path``: header columns and typed property columns."""
    rows = 0
    try:
        with pyetwkit.open_etl(path, manifests=_manifests) as etl:
            rows = sum(table.num_rows for table in etl.to_arrow(per_schema=True).values())
    finally:
        tally.records = rows


READERS = (
    ReaderSpec("pyetwkit_arrow", "pyetwkit into Arrow (all columns)", 5, pyetwkit_arrow, False),
    ReaderSpec(
        "pyetwkit_arrow_per_schema",
        "pyetwkit into per-schema Arrow tables",
        3,
        pyetwkit_arrow_per_schema,
        False,
    ),
    *DECODE_READERS,
)


def rss(path: Path, mode: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(RSS_CHILD), str(path), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    child = json.loads(completed.stdout)
    growth = (child["after_read"] - child["after_import"]) / 2**20
    return {"mode": mode, "records": child["records"], "growth_mib": round(growth, 1)}


def _both(ratio: dict[str, Any]) -> float:
    both: float = ratio["pyetwkit_vs_dissect_both_complete"]
    return both


def main() -> None:
    corpus = find_corpus()
    load_manifests(corpus.directory)  # into bench_decode's list, which both readers use
    results = {}
    for spec in READERS:
        results[spec.key] = run_reader(spec, corpus)
    arrow, per_schema, objects, dissect = (
        results["pyetwkit_arrow"],
        results["pyetwkit_arrow_per_schema"],
        results["pyetwkit_decode"],
        results["dissect_full"],
    )
    report: dict[str, Any] = {
        "machine": machine(),
        "rates": {key: r.rate() for key, r in results.items()},
        "arrow_vs_dissect": ratios(arrow, dissect),
        "per_schema_vs_dissect": ratios(per_schema, dissect),
        "objects_vs_dissect": ratios(objects, dissect),
        "memory": [rss(corpus.directory / RSS_FILE, m) for m in ("arrow", "parquet")],
    }
    report["goals"] = [
        *(
            {
                "goal": f"full decode into {layout} vs dissect.etl full, files both read in full",
                "target": f">= {GOAL_ARROW_VS_DISSECT:.0f}x",
                "measured": f"{both:.1f}x",
                "met": both >= GOAL_ARROW_VS_DISSECT,
            }
            for layout, both in (
                ("the Arrow events table", _both(report["arrow_vs_dissect"])),
                ("per-schema Arrow tables", _both(report["per_schema_vs_dissect"])),
            )
        ),
        *(
            {
                "goal": f"peak RSS growth streaming {RSS_FILE} ({m['mode']})",
                "target": f"< {GOAL_RSS_MIB:.0f} MiB",
                "measured": f"{m['growth_mib']} MiB",
                "met": m["growth_mib"] < GOAL_RSS_MIB,
            }
            for m in report["memory"]
        ),
    ]
    for key, rate in report["rates"].items():
        print(f"{results[key].label:45} {rate:>12,.0f} events/s")
    for name in ("arrow_vs_dissect", "per_schema_vs_dissect", "objects_vs_dissect"):
        r = report[name]
        print(
            f"{name}: {r['pyetwkit_vs_dissect_both_complete']:.1f}x on the "
            f"{len(r['both_complete_files'])} files both read in full, "
            f"{r['pyetwkit_vs_dissect_all_files']:.1f}x over all files"
        )
    for goal in report["goals"]:
        print(f"  {'PASS' if goal['met'] else 'FAIL'}  {goal['goal']}: {goal['measured']} "
              f"(goal {goal['target']})")  # fmt: skip
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS_PATH}")


if __name__ == "__main__":
    main()
