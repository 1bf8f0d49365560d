"""``pyetwkit listen``: a live session from the command line (on any OS inside a
simulation: ``--simulate RECORDING``)."""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterator

from pyetwkit import providers as p
from pyetwkit._cli_args import count, seconds
from pyetwkit._core import EtwEvent
from pyetwkit.listener import EtwListener

# --kernel names: the kernel logger factories.
KERNEL_FLAGS = {
    "process": p.kernel_logger_process,
    "thread": p.kernel_logger_thread,
    "image": p.kernel_logger_image,
    "file": p.kernel_logger_file_io,
    "disk": p.kernel_logger_disk_io,
    "registry": p.kernel_logger_registry,
    "network": p.kernel_logger_network,
}


def parse_provider(text: str) -> p.Provider:
    """``NAME-OR-GUID[:LEVEL[:ANY[:ALL]]]``: a catalog name, a registered
    provider's name (both case-insensitive) or a GUID, then optional level and
    keyword masks (ints, hex allowed)."""
    name, *options = text.split(":")
    if len(options) > 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME[:LEVEL[:ANY[:ALL]]]")
    provider = _lookup(name)
    try:
        numbers = [int(o, 0) for o in options]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: level and keywords are integers") from None
    level, any_mask, all_mask = [*numbers, None, None, None][:3]
    if level is not None and not 0 <= level <= 255:
        raise argparse.ArgumentTypeError(f"{text!r}: level must be 0..255")
    for mask in (any_mask, all_mask):
        if mask is not None and not 0 <= mask < 1 << 64:
            raise argparse.ArgumentTypeError(f"{text!r}: keywords are 64-bit masks")
    return provider.with_options(level=level, keywords_any=any_mask, keywords_all=all_mask)


def _lookup(name: str) -> p.Provider:
    try:
        guid = str(uuid.UUID(name.strip("{}")))
    except ValueError:
        for known in p.catalog():
            if isinstance(known, p.Provider) and known.name.lower() == name.lower():
                return known
        if not name.strip():
            raise argparse.ArgumentTypeError("a provider needs a name or a GUID") from None
        # Any other name: resolved when the session starts (TDH's list on Windows).
        return p.by_name(name)
    return p.Provider(guid, guid)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    listen = sub.add_parser(
        "listen",
        help="a live ETW session (Windows; anywhere with --simulate RECORDING)",
        description="Consume a live session and print its events. Off Windows, "
        "--simulate serves it from a recording by ETW's rules.",
    )
    listen.add_argument(
        "-p",
        "--provider",
        action="append",
        default=[],
        type=parse_provider,
        metavar="NAME[:LEVEL[:ANY[:ALL]]]",
        help="a user-mode provider: a ready-made name (pyetwkit providers), a registered "
        "provider's name (pyetwkit providers --installed) or a GUID",
    )
    listen.add_argument(
        "-k",
        "--kernel",
        action="append",
        default=[],
        choices=sorted(KERNEL_FLAGS),
        help="kernel events of this kind (repeatable)",
    )
    listen.add_argument("--preset", choices=["low_latency", "balanced", "high_throughput"])
    listen.add_argument(
        "--duration",
        type=seconds,
        metavar="SECONDS",
        help="stop after this long, SECONDS >= 0 (default: until the session ends or Ctrl-C)",
    )
    listen.add_argument(
        "--max-events", type=count(0), metavar="N", help="stop after N events, N >= 0"
    )
    listen.add_argument(
        "--simulate", metavar="RECORDING", help="serve the session from this .etl file"
    )
    listen.add_argument("--label", default="listen", help="the session's name label")
    return listen


def providers_of(args: argparse.Namespace) -> list[p.Provider | p.KernelProvider]:
    chosen: list[p.Provider | p.KernelProvider] = list(args.provider)
    chosen += [KERNEL_FLAGS[k]() for k in dict.fromkeys(args.kernel)]
    if not chosen:
        raise SystemExit("pyetwkit listen: error: give at least one --provider or --kernel")
    return chosen


def events(listener: EtwListener, args: argparse.Namespace) -> Iterator[EtwEvent]:
    """The session's events until it ends, --duration passes or --max-events came."""
    deadline = None if args.duration is None else time.monotonic() + args.duration
    count = 0
    while args.max_events is None or count < args.max_events:
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return
        event = listener.next_event(timeout=wait)
        if event is None:
            if listener.done:
                return
            continue
        count += 1
        yield event
