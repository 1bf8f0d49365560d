"""Watch processes start, with their command lines, from the kernel's Process events.

    python examples/live_process_monitor.py                      # live (Windows, administrator)
    python examples/live_process_monitor.py --ends --image cmd.exe
    python examples/live_process_monitor.py --simulate trace.etl # any OS: a recording, as if live

One line per process start (and, with ``--ends``, per exit) goes to stdout; the
session's statistics go to stderr at the end. The events are selected in Rust
before Python sees them: the kernel's Process class, start (and end) opcodes,
and optionally the image name or the name of the process that started them.
Ctrl-C stops (exit status 130); ``--duration`` stops after so many seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from contextlib import AbstractContextManager, nullcontext

import pyetwkit
from pyetwkit import EtwEvent, EtwListener, providers
from pyetwkit import filters as f
from pyetwkit.testing import simulated_etw

START, END = 1, 2  # Process opcodes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Show process starts with their command lines.")
    parser.add_argument(
        "--simulate",
        metavar="RECORDING.etl",
        help="serve this recording as a live session (any OS) instead of ETW",
    )
    parser.add_argument("--ends", action="store_true", help="show process exits too")
    parser.add_argument(
        "--image",
        action="append",
        metavar="NAME",
        help="only processes with this image name, e.g. powershell.exe (repeatable)",
    )
    parser.add_argument(
        "--parent",
        action="append",
        metavar="NAME",
        help="only starts by a process with this image name (repeatable)",
    )
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    return parser.parse_args(argv)


def selection(args: argparse.Namespace) -> f.Filter:
    """The events to show, as a filter evaluated in Rust."""
    starts = f.opcode(START)
    if args.parent:
        # A process start is logged by its parent, so the event's process is the parent.
        starts &= f.process_name(*args.parent)
    wanted = f.provider("Process") & (starts | f.opcode(END) if args.ends else starts)
    if args.image:
        names = "|".join(re.escape(name) for name in args.image)
        wanted &= f.property_regex("ImageFileName", f"(?i)^(?:{names})$")
    return wanted


def describe(event: EtwEvent) -> str:
    p = event.properties
    what = "start" if event.opcode == START else "end  "
    line = f"{event.timestamp}  {what}  pid {p.get('ProcessId', '?'):>6}"
    if event.opcode == START:
        parent = event.process_name or "?"
        line += f"  parent {p.get('ParentId', '?'):>6} ({parent})"
        return f"{line}  {p.get('CommandLine') or p.get('ImageFileName', '')}"
    return f"{line}  {p.get('ImageFileName', '')}  exit status {p.get('ExitStatus', '?')}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    simulation: AbstractContextManager[object] = (
        nullcontext() if args.simulate is None else simulated_etw(args.simulate)
    )
    interrupted = broken = False
    try:
        with simulation:
            listener = EtwListener(
                [providers.kernel_logger_process()], filter=selection(args), label="process-monitor"
            )
            with listener:
                if args.duration is not None:
                    timer = threading.Timer(args.duration, listener.stop)
                    timer.daemon = True
                    timer.start()
                try:
                    for event in listener:
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
    return 130 if interrupted else 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
