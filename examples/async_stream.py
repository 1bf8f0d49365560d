"""Two recordings streamed at once with EtwStreamer, at twice their recorded pace.

    python examples/async_stream.py [FILE ...]

Without FILEs it streams pyetwkit's bundled sample recording twice.
"""

from __future__ import annotations

import asyncio
import sys

import pyetwkit


async def follow(label: str, path: str) -> int:
    count = 0
    async with pyetwkit.EtwStreamer(etl_file=path, replay_speed=2.0) as stream:
        while True:
            event = await stream.next(timeout=1.0)
            if event is None:
                # None means a second passed without an event, or the end of the
                # stream: stream.done tells which. (`async for event in stream`
                # is the way to go when nothing needs doing while it waits.)
                if stream.done:
                    break
                print(f"[{label}] waiting, {count} events so far")
                continue
            count += 1
            if count % 25 == 0:
                print(f"[{label}] {count} events, now at {event.timestamp}")
        print(f"[{label}] done: {stream.stats()}")
    return count


async def main() -> None:
    paths = sys.argv[1:] or [pyetwkit.sample_etl_path()] * 2
    counts = await asyncio.gather(*(follow(str(i), p) for i, p in enumerate(paths)))
    print("total", sum(counts))


if __name__ == "__main__":
    asyncio.run(main())
