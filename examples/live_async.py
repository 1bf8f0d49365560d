"""Count events per provider with EtwStreamer (asyncio), with a rate report as they come.

    python examples/live_async.py                                   # live (Windows, administrator)
    python examples/live_async.py --provider Microsoft-Windows-DNS-Client --kernel image_load
    python examples/live_async.py --simulate trace.etl --kernel process --kernel image_load

By default it enables the kernel's process events; ``--kernel FLAG`` (a
``providers.KernelFlags`` name) and ``--provider NAME_OR_GUID`` add more. Every
``--interval`` seconds a line with the rate and the busiest providers goes to
stderr; at the end (the recording's end, ``--duration`` or Ctrl-C) the counts
per provider go to stdout, then the session's statistics to stderr. Ctrl-C
exits with status 130.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from contextlib import AbstractContextManager, nullcontext

import pyetwkit
from pyetwkit import EtwStreamer, providers
from pyetwkit.testing import simulated_etw

ProviderLike = providers.Provider | providers.KernelProvider


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Count events per provider, asynchronously.")
    parser.add_argument(
        "--simulate",
        metavar="RECORDING.etl",
        help="serve this recording as a live session (any OS) instead of ETW",
    )
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME_OR_GUID",
        help="a user-mode provider to enable, at level 4 (repeatable)",
    )
    parser.add_argument(
        "--kernel",
        action="append",
        metavar="FLAG",
        choices=[flag.name.lower() for flag in providers.KernelFlags if flag.name],
        help="a kernel flag to enable, e.g. process, image_load (repeatable; default process)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    return parser.parse_args(argv)


def session_providers(args: argparse.Namespace) -> list[ProviderLike]:
    flags = providers.KernelFlags(0)
    for name in args.kernel or ([] if args.provider else ["process"]):
        flags |= providers.KernelFlags[name.upper()]
    chosen: list[ProviderLike] = [providers.kernel_logger(flags)] if flags else []
    for text in args.provider:
        try:
            guid = str(uuid.UUID(text))
        except ValueError:  # a name: its GUID is found when the session starts
            chosen.append(providers.by_name(text, level=providers.Level.INFORMATION))
        else:
            chosen.append(providers.Provider(guid, guid, level=providers.Level.INFORMATION))
    return chosen


async def count(args: argparse.Namespace, counts: Counter[str]) -> None:
    """Counts events until the stream ends; reports the rate every interval."""
    stream = EtwStreamer(session_providers(args), label="live-async")
    stream.start()  # a missing right or an unknown provider name raises here
    try:
        async with stream:
            if args.duration is not None:
                asyncio.get_running_loop().call_later(args.duration, stream.stop)
            started = last_report = time.monotonic()
            reported = 0
            while not stream.done:
                event = await stream.next(timeout=args.interval)
                if event is not None:
                    counts[event.provider_name or event.provider_id] += 1
                now = time.monotonic()
                if now - last_report >= args.interval:
                    total = sum(counts.values())
                    rate = (total - reported) / (now - last_report)
                    busiest = ", ".join(f"{name} {n:,}" for name, n in counts.most_common(3))
                    print(
                        f"{now - started:7.1f} s {rate:10,.0f} events/s  {busiest}", file=sys.stderr
                    )
                    last_report, reported = now, total
    finally:  # also when Ctrl-C cancels the task
        print(f"{sum(counts.values()):>10,}  events in all")
        for name, n in counts.most_common():
            print(f"{n:>10,}  {name}")
        print(stream.stats(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    simulation: AbstractContextManager[object] = (
        nullcontext() if args.simulate is None else simulated_etw(args.simulate)
    )
    counts: Counter[str] = Counter()
    try:
        with simulation:
            asyncio.run(count(args, counts))
    except KeyboardInterrupt:
        return 130
    except (pyetwkit.EtwUnsupportedPlatformError, PermissionError) as error:
        print(f"{error}\n(use --simulate RECORDING.etl to run anywhere)", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. no provider of that name is registered
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
