"""The ``pyetwkit`` command line: ``info`` and ``dump`` for .etl files, ``listen``
for live sessions, ``providers``, ``sigma check|scan``."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import TextIO

from pyetwkit._cli_args import count
from pyetwkit._core import EtwEvent, Manifest, __version__
from pyetwkit.etl import open_etl
from pyetwkit.exceptions import EtwError
from pyetwkit.filters import Filter
from pyetwkit.filters import parse as parse_filter
from pyetwkit.listener import EtwListener
from pyetwkit.manifests import resolve_manifests
from pyetwkit.sample import sample_etl_path

# Files larger than this get a progress bar on an interactive terminal.
_PROGRESS_MIN_BYTES = 8 << 20

# The exit status after Ctrl-C, as shells report a process SIGINT ended (128 + 2).
EXIT_INTERRUPTED = 130


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


def _guid(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip("{}")))
    except ValueError:
        return text.lower()


def _recording_providers(events: Iterable[EtwEvent], seen: set[str]) -> Iterator[EtwEvent]:
    """``events``, adding each one's provider id to ``seen``."""
    for event in events:
        seen.add(event.provider_id)
        yield event


def _warn_unused_manifests(
    manifests: Sequence[Manifest], seen: Iterable[str], where: str, err: TextIO
) -> None:
    """A warning for each manifest none of whose providers appear in the events
    seen: a manifest for another trace decodes nothing, silently otherwise."""
    present = {_guid(pid) for pid in seen}
    for manifest in manifests:
        declared = manifest.providers
        if not {_guid(guid) for guid, _ in declared} & present:
            names = ", ".join(f"{name} {{{guid}}}" if name else guid for guid, name in declared)
            print(
                f"pyetwkit: warning: manifest {manifest.path} decoded nothing: none of its "
                f"providers ({names or 'none declared'}) appear in {where}",
                file=err,
            )


def cmd_info(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = _resolve(args.file, err)
    manifests = resolve_manifests(args.manifest)
    by_kind: Counter[str] = Counter()
    by_provider: Counter[tuple[str, str]] = Counter()
    by_name: Counter[str] = Counter()
    total = 0
    with open_etl(path, progress=_want_progress(path, args.progress), manifests=manifests) as etl:
        header = etl.header
        for event in etl:
            total += 1
            by_kind[event.kind] += 1
            by_provider[(event.provider_id, event.provider_name or "")] += 1
            by_name[
                event.name or f"({event.provider_name or event.provider_id} id {event.event_id})"
            ] += 1
        size = etl.file_size
    _warn_unused_manifests(manifests, (pid for pid, _ in by_provider), path, err)
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


# (heading, width). Widths fit every value of the fixed-size fields (pid and
# tid are 32-bit, ids 16-bit); a longer provider or event name is printed whole
# and pushes the rest of its row right, which realigns as soon as it can.
_TABLE_COLUMNS = (
    ("timestamp", 28),
    ("kind", 7),
    ("provider", 36),
    ("id", 5),
    ("op", 3),
    ("pid", 10),
    ("tid", 10),
    ("bytes", 5),
    ("name", 32),
    ("properties", 0),
)

# Control characters would break a row in two: shown escaped, as in JSON.
_ESCAPES = {c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def _one_line(text: str) -> str:
    return text.translate(_ESCAPES)


def _table_value(value: object) -> str:
    """A property value as the JSON Lines output has it (bytes as hex, times to
    100 ns, addresses and GUIDs as text), strings unquoted; never shortened."""
    if isinstance(value, str):
        return _one_line(value)
    return json.dumps(value, ensure_ascii=False)


def _table_cells(event: EtwEvent) -> list[str]:
    properties = json.loads(event.to_json())["properties"]
    return [
        event.timestamp,
        event.kind,
        _one_line(_provider_label(event)),
        str(event.event_id),
        str(event.opcode),
        "-" if event.pid is None else str(event.pid),
        "-" if event.tid is None else str(event.tid),
        str(len(event.user_data)),
        _one_line(event.name or ""),
        "; ".join(f"{k}={_table_value(v)}" for k, v in properties.items()),
    ]


def _table_line(cells: Sequence[str]) -> str:
    """Cells at their columns; a cell longer than its column is kept whole and
    the next starts one space after it."""
    line = ""
    start = 0
    for text, (_, width) in zip(cells, _TABLE_COLUMNS, strict=True):
        if len(line) < start:
            line += " " * (start - len(line))
        elif line:
            line += " "
        line += text
        start += width + 1
    return line.rstrip()


def _table_row(event: EtwEvent) -> str:
    return _table_line(_table_cells(event))


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
    print(_table_line([name for name, _ in _TABLE_COLUMNS]), file=out)
    for event in events:
        print(_table_row(event), file=out)


def cmd_listen(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pyetwkit import _listen
    from pyetwkit.testing import simulated_etw

    chosen = _listen.providers_of(args)
    manifests = resolve_manifests(args.manifest)
    simulation = (
        simulated_etw(args.simulate, manifests=manifests)
        if args.simulate
        else contextlib.nullcontext()
    )
    seen: set[str] = set()
    status = 0
    with simulation:
        listener = EtwListener(
            chosen,
            filter=args.filter,
            preset=args.preset,
            label=args.label,
            manifests=None if args.simulate else manifests,
        )
        with listener:
            events = _listen.events(listener, args)
            try:
                _write_events(_recording_providers(events, seen), args.format, out)
            except KeyboardInterrupt:
                # Ctrl-C is how a session without --duration or --max-events ends:
                # the statistics still follow.
                status = EXIT_INTERRUPTED
        print(f"pyetwkit listen: {listener.stats()!r}", file=err)
    _warn_unused_manifests(manifests, seen, "the session's events", err)
    return status


def cmd_dump(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    path = _resolve(args.file, err)
    manifests = resolve_manifests(args.manifest)
    seen: set[str] = set()
    printed = 0

    def counted(events: Iterable[EtwEvent]) -> Iterator[EtwEvent]:
        nonlocal printed
        for event in _recording_providers(events, seen):
            printed += 1
            yield event

    with open_etl(
        path,
        progress=_want_progress(path, args.progress),
        manifests=manifests,
        filter=args.filter,
        prescan_processes=args.prescan,
        prescan_schemas=args.prescan,
    ) as etl:
        _write_events(counted(_limited(etl, args.limit)), args.format, out)
    if manifests:
        whole = args.filter is None and (args.limit is None or printed < args.limit)
        where = path if whole else f"the {printed} events printed from {path}"
        _warn_unused_manifests(manifests, seen, where, err)
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
        "--top",
        type=count(1),
        default=20,
        metavar="N",
        help="how many providers and event names to list, N >= 1 (default 20)",
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
    dump.add_argument(
        "--limit",
        type=count(0),
        default=None,
        metavar="N",
        help="stop after N events, N >= 0 (0: none, only the table's heading)",
    )
    dump.add_argument(
        "--filter",
        type=_filter_arg,
        default=None,
        metavar="EXPR",
        help="only events that pass this filter, evaluated in Rust: the pyetwkit.filters "
        "expressions without the f. prefix, e.g. \"provider('Process') & opcode(1)\" "
        "(see docs/filters.md)",
    )
    dump.add_argument(
        "--prescan",
        action="store_true",
        help="read the file's processes and embedded schemas first (a quick extra pass), so "
        "that events before their process or schema records are named and decoded too",
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
    from pyetwkit import _cli_sigma

    _cli_sigma.add_parser(sub, progress_flags, _want_progress)
    from pyetwkit import _cli_run

    _cli_run.add_parser(sub)
    from pyetwkit import _cli_convert

    _cli_convert.add_parser(sub, progress_flags, manifest_flag, _filter_arg, _want_progress)
    return parser


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Runs the CLI; returns the exit status (0 ok, 1 error, 2 usage, 130 Ctrl-C)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        status: int = args.func(args, out, err)
        return status
    except KeyboardInterrupt:
        # Ctrl-C: stop quietly, with the status shells give a process SIGINT ended.
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `pyetwkit dump big.etl | head`: the reader went away; that is fine.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (EtwError, OSError, ValueError) as e:
        # ValueError: what the arguments asked for does not exist (a provider name).
        print(f"pyetwkit: error: {e}", file=err)
        return 1
