"""Automation load benchmark (issue 12, acceptance 6): a paced replay at 100,000
events/s through ``pyetwkit run``'s runner, with 1,000 Sigma rules in one rule
and a log action (JSON Lines to a file), events dropped (and counted) when
Python falls behind, as in a live session.

Run it with ``bash benches/run.sh automation [--rate R] [--rules N] [--json PATH]``
(a release build). For each recording (the three largest of the corpus, and two kernel traces
whose events are mostly of Sigma's categories) the replay is
paced so that its whole span plays at R events/s on average (bursts keep their
recorded shape), and once more unpaced, as fast as the runner takes events. Reported:
events/s sustained, queue drops, matches and log lines, and the CPU used (user +
system of this process and its threads, over wall time: 100% is one core). Figures
from one run on one machine, never assertions; written to
benches/results/automation.json.

The rules: the first N (default 1,000) of SigmaHQ's ``rules/windows`` (sorted by path)
that load, from ``$PYETWKIT_TEST_DATA/sigma`` (default ``../shared``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyetwkit
from pyetwkit.automation import load
from pyetwkit.automation.runner import Runner
from pyetwkit.sigma import RuleSet

BENCH_DIR = Path(__file__).resolve().parent
DATA = Path(os.environ.get("PYETWKIT_TEST_DATA", BENCH_DIR.parent.parent / "shared"))
RECORDINGS = (
    # The three largest: 170,000 to 180,000 events each, few of them of a Sigma category.
    "etwanalyzer_TraceLoggingTester.etl",
    "perfview_net.4.5.2.x64.etl",
    "perfview_net.4.5.2.x86.etl",
    # Kernel traces whose events are mostly of Sigma categories (image_load,
    # process_creation, file_event): every one mapped and routed to its rules.
    "perfview_diaghub_diaghub.kernel.1.etl",
    "airbus_ShutdownPerfDiagLogger.etl",
)


def rule_files(n: int) -> list[str]:
    """The first ``n`` rule files of rules/windows that load on their own."""
    chosen: list[str] = []
    for path in sorted((DATA / "sigma" / "rules" / "windows").rglob("*.yml")):
        if len(RuleSet.load([path])) == 1:
            chosen.append(str(path))
            if len(chosen) == n:
                break
    return chosen


def span_and_count(path: Path) -> tuple[float, int]:
    times = [e.filetime for e in pyetwkit.open_etl(path) if e.filetime]
    return (max(times) - min(times)) / 1e7, len(times)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_once(config: Path, recording: Path, speed: float | None) -> dict[str, Any]:
    runner = Runner(load(config), etl=str(recording), speed=speed, overflow="drop")
    cpu, wall = cpu_seconds(), time.perf_counter()
    report = asyncio.run(runner.run())
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    stats = runner._stream.stats()
    return {
        "events": report.events,
        "seconds": round(wall, 3),
        "events_per_second": round(report.events / wall),
        "dropped": stats.dropped,
        "matches": sum(report.matched.values()),
        "actions": dict(report.results),
        "cpu_percent": round(100 * cpu / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100_000.0, help="paced events/s")
    parser.add_argument("--rules", type=int, default=1000, help="Sigma rules loaded")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "automation.json")
    args = parser.parse_args()
    rules = rule_files(args.rules)
    print(f"{len(rules)} Sigma rules from {DATA / 'sigma'}", flush=True)
    results: dict[str, Any] = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "rules": len(rules),
        "rate": args.rate,
        "runs": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "load.toml"
        config.write_text(
            '[[rule]]\nname = "sigma"\nsigma = ' + json.dumps(rules) + "\n\n"
            '[[action]]\nrule = "sigma"\n'
            f"log = {{ file = {json.dumps(str(Path(tmp) / 'matches.jsonl'))}, "
            'message = "{{title}} {{Image}} {{CommandLine}}" }\n'
        )
        for name in RECORDINGS:
            recording = DATA / "etl-corpus" / name
            span, count = span_and_count(recording)
            speed = args.rate * span / count
            for label, pace in ((f"paced {args.rate:,.0f}/s", speed), ("unpaced", None)):
                run = {"recording": name, "mode": label, **run_once(config, recording, pace)}
                results["runs"].append(run)
                print(
                    f"{name:40} {label:18} {run['events']:>8,} events "
                    f"{run['events_per_second']:>9,}/s  dropped {run['dropped']:>6,}  "
                    f"matches {run['matches']:>5,}  cpu {run['cpu_percent']:>5}%",
                    flush=True,
                )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
