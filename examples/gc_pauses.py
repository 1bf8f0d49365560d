"""Garbage collections of .NET processes in a trace: why each started, and how long it took.

    python examples/gc_pauses.py TRACE.etl [MANIFEST.man ...]

The CLR's events are manifest events. Traces merged by PerfView, WPR or xperf embed their
schemas, so they decode as they are; for other traces, give the runtime's manifest
(``ClrEtwAll.man`` from the dotnet/runtime repository).
"""

from __future__ import annotations

import sys
from collections import Counter

import pyetwkit


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path, manifests = sys.argv[1], sys.argv[2:]
    started: dict[tuple[int | None, int], tuple[int, str]] = {}
    reasons: Counter[str] = Counter()
    pauses_ms: list[float] = []
    with pyetwkit.open_etl(path, manifests=manifests) as etl:
        for event in etl:
            if event.provider_name != "Microsoft-Windows-DotNETRuntime":
                continue
            p = event.properties
            if event.name == "GarbageCollection/Start":
                key = (event.pid, p.get("Count", 0))
                if key in started:
                    continue  # the same GC reported again (two sessions merged)
                # Reason is value-mapped: its name ("AllocSmall", "Induced", ...) when known.
                reason = str(p.get("Reason", "?"))
                reasons[reason] += 1
                started[key] = (event.filetime, reason)
            elif event.name == "GarbageCollection/Stop":
                start = started.pop((event.pid, p.get("Count", 0)), None)
                if start is not None:
                    pauses_ms.append((event.filetime - start[0]) / 10_000)
    if not reasons:
        print("no CLR garbage collections decoded (give the CLR manifest?)")
        return
    print("GCs by reason:")
    for reason, n in reasons.most_common():
        print(f"  {n:6}  {reason}")
    if pauses_ms:
        pauses_ms.sort()
        print(
            f"{len(pauses_ms)} GCs: median {pauses_ms[len(pauses_ms) // 2]:.2f} ms,"
            f" longest {pauses_ms[-1]:.2f} ms"
        )


if __name__ == "__main__":
    main()
