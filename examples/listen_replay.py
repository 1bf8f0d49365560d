"""Replay a recording through EtwListener with a Rust-side filter, then print stats.

    python examples/listen_replay.py [FILE]

Without FILE it replays pyetwkit's bundled sample recording. Shows the failed
requests (level 2 and below) and the events of one process by name.
"""

from __future__ import annotations

import sys

import pyetwkit
from pyetwkit import filters as f


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else pyetwkit.sample_etl_path()
    errors = f.max_level(2) & ~f.max_level(0)  # levels 1 and 2; level 0 means "always"
    with pyetwkit.EtwListener(etl_file=path, filter=errors) as listener:
        for event in listener:
            print(event.timestamp, event.provider_name or event.provider_id, event.name)
        print(listener.stats())

    # Events of processes named like the most frequent image, as the kernel saw it.
    with pyetwkit.EtwListener(etl_file=path) as listener:
        images = [e.process_name for e in listener if e.process_name]
    if images:
        busiest = max(set(images), key=images.count)
        with pyetwkit.EtwListener(etl_file=path, filter=f.process_name(busiest)) as listener:
            count = sum(1 for _ in listener)
        print(f"{busiest}: {count} events")


if __name__ == "__main__":
    main()
