"""``pyetwkit convert FILE... --to parquet|arrow|jsonl|csv OUT``: recordings
written as Parquet (a folder partitioned by provider and event, hive style,
zstd), an Arrow IPC file, JSON Lines or CSV, in Rust, with a progress bar;
with ``--per-schema``, typed per-schema tables as Parquet or Arrow IPC."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from pyetwkit._core import Converter
from pyetwkit.filters import Filter
from pyetwkit.manifests import resolve_manifests

FORMATS = ("parquet", "arrow", "jsonl", "csv")
# Events per step: between two steps, progress is shown and Ctrl-C is seen.
STEP = 65_536


def cmd_convert(args: argparse.Namespace, out: TextIO, err: TextIO, want_bar: bool) -> int:
    fmt, target = args.to
    if fmt not in FORMATS:
        print(f"pyetwkit convert: --to {fmt}: the formats are {', '.join(FORMATS)}", file=err)
        return 2
    for path in args.files:
        if not os.path.isfile(path):
            print(f"pyetwkit convert: {path}: no such file", file=err)
            return 2
    if args.per_schema and fmt not in ("parquet", "arrow"):
        print(f"pyetwkit convert: --per-schema writes parquet or arrow, not {fmt}", file=err)
        return 2
    if args.columns is not None and not args.per_schema:
        print("pyetwkit convert: --columns goes with --per-schema", file=err)
        return 2
    flt: Filter | None = args.filter
    columns = None if args.columns is None else [c.strip() for c in args.columns.split(",")]
    try:
        converter = Converter(
            list(args.files),
            target,
            fmt,
            resolve_manifests(args.manifest),
            None if flt is None else flt.to_json(),
            args.prescan,
            args.prescan,
            per_schema=args.per_schema,
            columns=columns,
        )
    except ValueError as e:
        print(f"pyetwkit convert: {e}", file=err)
        return 2
    bar: Any = None
    if want_bar:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="B", unit_scale=True, desc="convert", file=sys.stderr)
    try:
        while True:
            done_bytes, total, rows, done = converter.step(STEP)
            if bar is not None:
                bar.total = total
                bar.update(done_bytes - bar.n)
            if done:
                break
    finally:
        # Also on Ctrl-C: what was written stays readable (Parquet footers written).
        converter.close()
        if bar is not None:
            bar.close()
    layout = f"{fmt}, per schema" if args.per_schema else fmt
    print(f"pyetwkit convert: {rows} events written to {target} ({layout})", file=err)
    return 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    progress_flags: Callable[[argparse.ArgumentParser], None],
    manifest_flag: Callable[[argparse.ArgumentParser], None],
    filter_arg: Callable[[str], Filter],
    want_progress: Callable[[str, bool | None], bool],
) -> None:
    convert = sub.add_parser(
        "convert",
        help="write recordings as Parquet, Arrow, JSON Lines or CSV",
        description="Writes the events of one or more recordings, one row per event with the "
        "columns of the events table (docs/analysis.md). Parquet is a folder partitioned by "
        "provider and event (provider=P/event=E/part-N-RECORDING.parquet, zstd), which DuckDB, "
        "polars and Spark read as one dataset; the others are one file. With --per-schema, "
        "each schema (provider, event, version) gets typed property columns, written as a "
        "folder of Parquet or Arrow IPC files (provider=P/event=E/version=V/part-...).",
    )
    convert.add_argument("files", nargs="+", metavar="FILE", help="the recordings (.etl)")
    convert.add_argument(
        "--to",
        nargs=2,
        required=True,
        metavar=("FORMAT", "OUT"),
        help="parquet (OUT a folder), arrow, jsonl or csv (OUT a file)",
    )
    convert.add_argument(
        "--filter",
        type=filter_arg,
        default=None,
        metavar="EXPR",
        help="only events that pass this filter, evaluated in Rust (see dump --filter)",
    )
    convert.add_argument(
        "--per-schema",
        action="store_true",
        help="one typed table per schema, a column per property (parquet or arrow)",
    )
    convert.add_argument(
        "--columns",
        default=None,
        metavar="A,B,...",
        help="with --per-schema: the header columns to keep (default: all but properties "
        "and user_data)",
    )
    convert.add_argument(
        "--prescan",
        action="store_true",
        help="read each file's processes and embedded schemas first (see dump --prescan)",
    )
    manifest_flag(convert)
    progress_flags(convert)
    convert.set_defaults(
        func=lambda a, o, e: cmd_convert(a, o, e, want_progress(a.files[0], a.progress))
    )
