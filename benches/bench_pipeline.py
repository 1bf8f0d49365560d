"""Pipeline benchmark: events/s delivered to Python through EtwListener (sync),
EtwStreamer (async) and a Rust-side filter keeping about 1%, beside plain
open_etl iteration and the same 1% selection done in Python; then source-to-
Python latency under paced replay.

Run it with `bash benches/run.sh pipeline`, which builds pyetwkit in release mode.
Results are ratios from one run on one machine, not timed assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyetwkit
from pyetwkit import EtwListener, EtwStreamer
from pyetwkit import filters as f

REPEATS = 3
# DiskIo is 1.1% of the corpus's events: the "filter to 1%" case.
ONE_PERCENT = f.provider("DiskIo")
LATENCY_FILE = "perfview_diaghub_diaghub.user_paged.1.etl"
LATENCY_SECONDS = 3.0
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"


def corpus() -> list[Path]:
    default = Path(__file__).resolve().parents[2] / "shared"
    root = Path(os.environ.get("PYETWKIT_TEST_DATA", default)) / "etl-corpus"
    files = sorted(root.glob("*.etl"))
    if not files:
        sys.exit(f"bench_pipeline: no .etl corpus at {root} (set PYETWKIT_TEST_DATA)")
    return files


def best_of(run: Callable[[], tuple[int, float]]) -> tuple[int, float]:
    """(events, seconds) of the fastest of REPEATS runs."""
    runs = [run() for _ in range(REPEATS)]
    return min(runs, key=lambda r: r[1])


def timed(work: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    n = work()
    return n, time.perf_counter() - start


def plain_iteration(files: list[Path], python_filter: bool = False) -> tuple[int, float]:
    def work() -> int:
        n = 0
        for path in files:
            for event in pyetwkit.open_etl(path):
                if not python_filter or event.provider_name == "DiskIo":
                    n += 1
        return n

    return timed(work)


def listener(
    files: list[Path], flt: f.Filter | None, python_filter: bool, preload: bool
) -> tuple[int, float]:
    """Events delivered, and the seconds spent from the session's start (after any
    preload) to its end."""
    n = 0
    seconds = 0.0
    for path in files:
        with EtwListener(etl_file=path, filter=flt, preload=preload) as events:
            start = time.perf_counter()
            for event in events:
                if not python_filter or event.provider_name == "DiskIo":
                    n += 1
            seconds += time.perf_counter() - start
    return n, seconds


def streamer(files: list[Path], preload: bool) -> tuple[int, float]:
    async def consume() -> tuple[int, float]:
        n = 0
        seconds = 0.0
        for path in files:
            async with EtwStreamer(etl_file=path, preload=preload) as events:
                start = time.perf_counter()
                async for _ in events:
                    n += 1
                seconds += time.perf_counter() - start
        return n, seconds

    return asyncio.run(consume())


def throughput(files: list[Path]) -> dict[str, dict[str, float]]:
    cases: dict[str, Callable[[], tuple[int, float]]] = {
        "open_etl iteration": lambda: plain_iteration(files),
        "open_etl + Python if (1%)": lambda: plain_iteration(files, python_filter=True),
    }
    for preload in (False, True):
        tag = "preloaded" if preload else "from file"
        cases |= {
            f"sync, {tag}": lambda p=preload: listener(files, None, False, p),
            f"async, {tag}": lambda p=preload: streamer(files, p),
            f"Rust filter 1%, {tag}": lambda p=preload: listener(files, ONE_PERCENT, False, p),
            f"Python filter 1%, {tag}": lambda p=preload: listener(files, None, True, p),
        }
    results = {}
    total = sum(1 for path in files for _ in pyetwkit.open_etl(path))
    for name, run in cases.items():
        delivered, seconds = best_of(run)
        results[name] = {
            "delivered": delivered,
            "seconds": seconds,
            "events_per_s": total / seconds,
        }
        print(
            f"  {name:30s} {delivered:>9,} delivered  {seconds * 1e3:8.1f} ms  "
            f"{total / seconds:>12,.0f} events/s",
            flush=True,
        )
    return results


def latency(path: Path, use_async: bool) -> dict[str, float]:
    """Seconds from an event's due time in paced replay to its arrival in Python."""
    with pyetwkit.open_etl(path) as etl:
        header = etl.header
    span = (header.end_filetime - header.start_filetime) / 1e7
    speed = max(span / LATENCY_SECONDS, 1e-3)
    arrivals: list[tuple[float, int]] = []

    if use_async:

        async def consume() -> tuple[float, int, float]:
            async with EtwStreamer(etl_file=path, replay_speed=speed) as events:
                async for event in events:
                    arrivals.append((time.time(), event.filetime))
                return events._require().replay_origin()  # type: ignore[return-value]

        origin = asyncio.run(consume())
    else:
        with EtwListener(etl_file=path, replay_speed=speed) as events:
            for event in events:
                arrivals.append((time.time(), event.filetime))
            origin = events._require().replay_origin()  # type: ignore[assignment]
    start_unix, first_filetime, _ = origin
    # The source sends an event when it is due, or at once if the file holds it
    # after a later one: its send time is the running maximum of due times.
    lateness = []
    due_so_far = start_unix
    for arrived, filetime in arrivals:
        due = start_unix + max(filetime - first_filetime, 0) / 1e7 / speed
        due_so_far = max(due_so_far, due)
        lateness.append(arrived - due_so_far)
    lateness.sort()
    return {
        "events": len(lateness),
        "speed": speed,
        "p50_ms": 1e3 * lateness[len(lateness) // 2],
        "p99_ms": 1e3 * lateness[int(len(lateness) * 0.99)],
        "max_ms": 1e3 * lateness[-1],
        "mean_ms": 1e3 * statistics.fmean(lateness),
    }


def main() -> None:
    files = corpus()
    print(f"pyetwkit {pyetwkit.__version__}: pipeline over {len(files)} corpus files", flush=True)
    results = throughput(files)

    def secs(name: str) -> float:
        return results[name]["seconds"]

    ratios = {
        "async_cost_vs_sync_from_file": secs("async, from file") / secs("sync, from file"),
        "async_cost_vs_sync_preloaded": secs("async, preloaded") / secs("sync, preloaded"),
        "python_vs_rust_filter_preloaded": secs("Python filter 1%, preloaded")
        / secs("Rust filter 1%, preloaded"),
        "python_vs_rust_filter_from_file": secs("Python filter 1%, from file")
        / secs("Rust filter 1%, from file"),
        "open_etl_if_vs_rust_filter_from_file": secs("open_etl + Python if (1%)")
        / secs("Rust filter 1%, from file"),
        "sync_listener_cost_vs_open_etl": secs("sync, from file") / secs("open_etl iteration"),
    }
    print("\nlatency under paced replay (flush interval 10 ms):", flush=True)
    path = next(p for p in files if p.name == LATENCY_FILE)
    lat = {"sync": latency(path, False), "async": latency(path, True)}
    for mode, r in lat.items():
        print(
            f"  {mode:5s} {r['events']:,} events at {r['speed']:.3g}x: p50 {r['p50_ms']:.2f} ms, "
            f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms"
        )
    goals = [
        (
            "async costs at most 1.5x sync (file replay)",
            ratios["async_cost_vs_sync_from_file"],
            "<=",
            1.5,
        ),
        (
            "async costs at most 1.5x sync (preloaded)",
            ratios["async_cost_vs_sync_preloaded"],
            "<=",
            1.5,
        ),
        (
            "filtering to 1% in Rust vs in Python (pipeline, preloaded)",
            ratios["python_vs_rust_filter_preloaded"],
            ">=",
            5.0,
        ),
        (
            "filtering to 1% in Rust vs in Python (file replay, reading included)",
            ratios["python_vs_rust_filter_from_file"],
            ">=",
            5.0,
        ),
    ]
    print("\nratios:")
    for key, value in ratios.items():
        print(f"  {key}: {value:.2f}x")
    print("\ngoals:")
    for text, value, op, target in goals:
        ok = value <= target if op == "<=" else value >= target
        print(f"  {'PASS' if ok else 'FAIL'}  {text}: {value:.2f}x (goal {op} {target}x)")
    report: dict[str, Any] = {"throughput": results, "ratios": ratios, "latency": lat}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {RESULTS.relative_to(RESULTS.parents[2])}")


if __name__ == "__main__":
    main()
