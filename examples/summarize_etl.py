"""Summarise an .etl file: events per provider and per second.

    python examples/summarize_etl.py [FILE]

Without FILE it reads pyetwkit's bundled sample recording.
"""

from __future__ import annotations

import sys
from collections import Counter

import pyetwkit


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else pyetwkit.sample_etl_path()
    providers: Counter[str] = Counter()
    per_second: Counter[str] = Counter()
    with pyetwkit.open_etl(path, progress=True) as etl:
        print(f"{etl.header.logger_name}: Windows build {etl.header.os_build}")
        for event in etl:
            providers[event.provider_name or event.provider_id] += 1
            per_second[event.timestamp[:19]] += 1
    for name, count in providers.most_common(10):
        print(f"{count:>9,}  {name}")
    busiest, peak = per_second.most_common(1)[0]
    print(f"busiest second: {busiest}Z with {peak:,} events")


if __name__ == "__main__":
    main()
