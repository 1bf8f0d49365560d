"""The ``pyetwkit`` command line: ``info`` and ``dump`` for .etl files."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TextIO

from pyetwkit._core import EtwEvent, __version__
from pyetwkit.etl import open_etl
from pyetwkit.exceptions import EtwError
from pyetwkit.filters import Filter
from pyetwkit.filters import parse as parse_filter
from pyetwkit.listener import EtwListener
from pyetwkit.sample import sample_etl_path

# Files larger than this get a progress bar on an interactive terminal.
_PROGRESS_MIN_BYTES = 8 << 20


def _resolve(path: str | None, err: TextIO) -> str:
    if path is not None:
        return path
    sample = sample_etl_path()
    print(f"(no FILE given: reading pyetwkit's bundled sample recording {sample})", file=err)
    return sample


def _want_progress(path: str, flag: bool | None) -> bool:
    if flag is not None:
        return flag
    try:
        big = os.path.getsize(path) >= _PROGRESS_MIN_BYTES
    except OSError:
        return False
    return big and sys.stderr.isatty()


def _provider_label(event: EtwEvent) -> str:
    return event.provider_name or event.provider_id


def cmd_info(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = _resolve(args.file, err)
    by_kind: Counter[str] = Counter()
    by_provider: Counter[tuple[str, str]] = Counter()
    by_name: Counter[str] = Counter()
    total = 0
    with open_etl(
        path, progress=_want_progress(path, args.progress), manifests=args.manifest
    ) as etl:
        header = etl.header
        for event in etl:
            total += 1
            by_kind[event.kind] += 1
            by_provider[(event.provider_id, event.provider_name or "")] += 1
            by_name[
                event.name or f"({event.provider_name or event.provider_id} id {event.event_id})"
            ] += 1
        size = etl.file_size
    if args.json:
        doc = {
            "file": path,
            "size": size,
            "header": header.to_dict(),
            "events": total,
            "by_kind": dict(by_kind.most_common()),
            "by_provider": [
                {"provider_id": pid, "provider_name": name or None, "events": n}
                for (pid, name), n in by_provider.most_common()
            ],
            "by_name": dict(by_name.most_common()),
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
        return 0
    major, minor = header.os_version
    rows = [
        ("File", f"{path} ({size:,} bytes)"),
        ("Logger", header.logger_name or "(none)"),
        ("OS", f"Windows {major}.{minor} build {header.os_build}"),
        ("CPUs", f"{header.cpu_count}, {header.pointer_size * 8}-bit pointers"),
        ("Start", header.start_time),
        ("End", header.end_time),
        ("Clock", f"{header.clock_type} ({header.perf_freq:,} Hz)"),
        ("Mode", f"{header.log_file_mode:#x}{' compressed' if header.compressed else ''}"),
        ("Lost", f"{header.events_lost} events, {header.buffers_lost} buffers"),
        ("Events", f"{total:,} in {header.buffers_written:,} buffers"),
    ]
    for label, value in rows:
        print(f"{label:<8} {value}", file=out)
    print("\nBy kind", file=out)
    for kind, n in by_kind.most_common():
        print(f"  {kind:<8} {n:>10,}", file=out)
    print("\nBy provider", file=out)
    limit = args.top
    for (pid, name), n in by_provider.most_common(limit):
        print(f"  {n:>10,}  {pid}  {name}", file=out)
    hidden = len(by_provider) - limit
    if hidden > 0:
        print(f"  ... {hidden} more providers (use --top)", file=out)
    print("\nBy event name", file=out)
    for name, n in by_name.most_common(limit):
        print(f"  {n:>10,}  {name}", file=out)
    hidden = len(by_name) - limit
    if hidden > 0:
        print(f"  ... {hidden} more names (use --top)", file=out)
    return 0


_TABLE_COLUMNS = (
    ("timestamp", 28),
    ("kind", 7),
    ("provider", 36),
    ("id", 5),
    ("op", 3),
    ("pid", 7),
    ("tid", 7),
    ("name", 24),
    ("bytes", 5),
    ("properties", 0),
)


def _table_row(event: EtwEvent) -> str:
    values = (
        event.timestamp,
        event.kind,
        _provider_label(event),
        str(event.event_id),
        str(event.opcode),
        "-" if event.pid is None else str(event.pid),
        "-" if event.tid is None else str(event.tid),
        event.name or "",
        str(len(event.user_data)),
        "; ".join(f"{k}={_short(v)}" for k, v in event.properties.items()),
    )
    cells = []
    for value, (_, width) in zip(values, _TABLE_COLUMNS, strict=True):
        cells.append(value[:width].ljust(width) if width else value)
    return " ".join(cells).rstrip()


def _short(value: object) -> str:
    """A property value for the table: one line, at most 60 characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= 60 else text[:57] + "..."


def _limited(events: Iterable[EtwEvent], limit: int | None) -> Iterable[EtwEvent]:
    if limit is None:
        yield from events
        return
    if limit <= 0:
        return
    for n, event in enumerate(events, 1):
        yield event
        if n >= limit:
            return


def _write_events(events: Iterable[EtwEvent], fmt: str, out: TextIO) -> None:
    if fmt == "jsonl":
        for event in events:
            out.write(event.to_json())
            out.write("\n")
        return
    heading = " ".join(name.ljust(width) for name, width in _TABLE_COLUMNS).rstrip()
    print(heading, file=out)
    for event in events:
        print(_table_row(event), file=out)


def cmd_listen(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pyetwkit import _listen
    from pyetwkit.testing import simulated_etw

    chosen = _listen.providers_of(args)
    simulation = (
        simulated_etw(args.simulate, manifests=args.manifest)
        if args.simulate
        else contextlib.nullcontext()
    )
    with simulation:
        listener = EtwListener(
            chosen,
            filter=args.filter,
            preset=args.preset,
            label=args.label,
            manifests=None if args.simulate else args.manifest,
        )
        with listener:
            _write_events(_listen.events(listener, args), args.format, out)
        print(f"pyetwkit listen: {listener.stats()!r}", file=err)
    return 0


def cmd_dump(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = _resolve(args.file, err)
    with open_etl(
        path,
        progress=_want_progress(path, args.progress),
        manifests=args.manifest,
        filter=args.filter,
    ) as etl:
        _write_events(_limited(etl, args.limit), args.format, out)
    return 0


def cmd_providers(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pyetwkit import providers

    if args.installed:
        from pyetwkit._core import installed_providers

        sources = {0: "manifest", 1: "MOF"}
        for name, guid, source in installed_providers():
            print(f"{guid}  {sources.get(source, source):8}  {name}", file=out)
        return 0
    for p in providers.catalog():
        if isinstance(p, providers.KernelProvider):
            ident = f"kernel flags {int(p.flags):#010x}"
            detail = "classes " + ", ".join(p.classes)
        else:
            ident = p.guid
            detail = f"level {int(p.level)}, keywords {p.keywords_any:#x}"
        print(f"{p.name}\n  {ident}  ({detail})", file=out)
        if p.description:
            print(f"  {p.description}", file=out)
        print(f"  privileges: {p.privileges}", file=out)
    return 0


def _filter_arg(text: str) -> Filter:
    try:
        return parse_filter(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyetwkit",
        description="Event Tracing for Windows tools. Reads .etl files on any OS.",
    )
    parser.add_argument("--version", action="version", version=f"pyetwkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    file_help = "an .etl file (default: pyetwkit's bundled sample recording)"

    def progress_flags(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument(
            "--progress",
            dest="progress",
            action="store_true",
            default=None,
            help="show a progress bar (default: for large files on a terminal)",
        )
        g.add_argument(
            "--no-progress", dest="progress", action="store_false", help="never show a progress bar"
        )

    def manifest_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--manifest",
            action="append",
            default=[],
            metavar="MAN",
            help="an instrumentation manifest (.man or XML) to decode its events with; "
            "repeat for several. Schemas merged traces embed are used without one.",
        )

    info = sub.add_parser("info", help="the logfile header, and counts by kind and by provider")
    info.add_argument("file", nargs="?", metavar="FILE", help=file_help)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument(
        "--top", type=int, default=20, metavar="N", help="providers to list (default 20)"
    )
    progress_flags(info)
    manifest_flag(info)
    info.set_defaults(func=cmd_info)

    dump = sub.add_parser(
        "dump", help="print events, with decoded properties, as JSON Lines or a table"
    )
    dump.add_argument("file", nargs="?", metavar="FILE", help=file_help)
    dump.add_argument(
        "--format",
        choices=("jsonl", "table"),
        default="jsonl",
        help="jsonl: one JSON object per event (default); table: aligned columns",
    )
    dump.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N events")
    dump.add_argument(
        "--filter",
        type=_filter_arg,
        default=None,
        metavar="EXPR",
        help="only events that pass this filter, evaluated in Rust: the pyetwkit.filters "
        "expressions without the f. prefix, e.g. \"provider('Process') & opcode(1)\" "
        "(see docs/filters.md)",
    )
    progress_flags(dump)
    manifest_flag(dump)
    dump.set_defaults(func=cmd_dump)
    from pyetwkit import _listen

    listen = _listen.add_parser(sub)
    listen.add_argument("--format", choices=["jsonl", "table"], default="jsonl")
    listen.add_argument(
        "--filter",
        type=_filter_arg,
        default=None,
        metavar="EXPR",
        help="only events that pass this filter, evaluated in Rust (see dump --filter)",
    )
    manifest_flag(listen)
    listen.set_defaults(func=cmd_listen)
    listing = sub.add_parser("providers", help="the ready-made providers, their GUIDs and purpose")
    listing.add_argument(
        "--installed",
        action="store_true",
        help="list the providers registered on this machine instead (Windows: TDH)",
    )
    listing.set_defaults(func=cmd_providers)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Runs the CLI; returns the exit status (0 ok, 1 error, 2 usage)."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args, out, err)
        return status
    except BrokenPipeError:
        # `pyetwkit dump big.etl | head`: the reader went away; that is fine.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (EtwError, OSError, ValueError) as e:
        # ValueError: what the arguments asked for does not exist (a provider name).
        print(f"pyetwkit: error: {e}", file=err)
        return 1
