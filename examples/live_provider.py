"""Print the events of one provider, by name or GUID, as they come; statistics at the end.

    python examples/live_provider.py Microsoft-Windows-DNS-Client           # live (Windows)
    python examples/live_provider.py 1c95126e-7eea-49a9-a3fe-a378b03ddb4d --level 4
    python examples/live_provider.py Microsoft-Windows-Kernel-Process --keywords 0x10 --event-id 1
    python examples/live_provider.py Pyetwkit-Sample-App --simulate trace.etl  # any OS

Level, keywords, event ids and process ids are applied by ETW itself, before
events reach the session. One line per event goes to stdout: time, process,
event and its decoded properties; the session's statistics go to stderr at the
end (events still unread when the session stops count as dropped there). Ctrl-C
stops (exit status 130); so do ``--max-events`` and ``--duration``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import uuid
from contextlib import AbstractContextManager, nullcontext

import pyetwkit
from pyetwkit import EtwEvent, EtwListener, providers
from pyetwkit.testing import simulated_etw


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print the events of one ETW provider.")
    parser.add_argument("provider", help="the provider's registered name or its GUID")
    parser.add_argument(
        "--simulate",
        metavar="RECORDING.etl",
        help="serve this recording as a live session (any OS) instead of ETW",
    )
    parser.add_argument(
        "--level",
        type=int,
        default=providers.Level.VERBOSE,
        choices=range(6),
        help="most verbose level to receive: 1 critical ... 5 verbose (default); 0 all",
    )
    parser.add_argument(
        "--keywords",
        type=lambda text: int(text, 0),
        default=0,
        metavar="MASK",
        help="events with any of these keyword bits (e.g. 0x10); 0, the default, means all",
    )
    parser.add_argument(
        "--event-id",
        type=int,
        action="append",
        default=[],
        metavar="ID",
        help="only this event id (repeatable, at most 64)",
    )
    parser.add_argument(
        "--pid",
        type=int,
        action="append",
        default=[],
        help="only events of this process (repeatable, at most 8)",
    )
    parser.add_argument("--max-events", type=int, metavar="N", help="stop after N events")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    return parser.parse_args(argv)


def provider_from(args: argparse.Namespace) -> providers.Provider:
    options = {
        "level": args.level,
        "keywords_any": args.keywords,
        "event_ids": tuple(args.event_id),
        "pids": tuple(args.pid),
    }
    try:
        guid = str(uuid.UUID(args.provider))
    except ValueError:  # a name: its GUID is found when the session starts
        return providers.by_name(args.provider, **options)
    return providers.Provider(guid, guid, **options)


def describe(event: EtwEvent) -> str:
    source = event.name or f"id {event.event_id}"
    process = f"{event.pid}" + (f" ({event.process_name})" if event.process_name else "")
    fields = " ".join(f"{key}={value!r}" for key, value in event.properties.items())
    if not fields and event.user_data:
        fields = f"({len(event.user_data)} bytes undecoded)"
    return f"{event.timestamp}  pid {process}  {source}  level {event.level}  {fields}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    simulation: AbstractContextManager[object] = (
        nullcontext() if args.simulate is None else simulated_etw(args.simulate)
    )
    interrupted = broken = False
    try:
        with simulation:
            listener = EtwListener([provider_from(args)], label="live-provider")
            with listener:
                if args.duration is not None:
                    timer = threading.Timer(args.duration, listener.stop)
                    timer.daemon = True
                    timer.start()
                try:
                    for event in listener.events(max_events=args.max_events):
                        print(describe(event))
                except KeyboardInterrupt:
                    interrupted = True
                except BrokenPipeError:  # the reader went away, as `| head` does
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    broken = True
            print(listener.stats(), file=sys.stderr)
    except (pyetwkit.EtwUnsupportedPlatformError, PermissionError) as error:
        print(f"{error}\n(use --simulate RECORDING.etl to run anywhere)", file=sys.stderr)
        return 1
    except ValueError as error:  # e.g. no provider of that name is registered
        print(error, file=sys.stderr)
        return 2
    return 130 if interrupted else 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
