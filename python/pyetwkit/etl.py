"""Reading recorded .etl files: :func:`open_etl`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Literal, overload

from pyetwkit._columnar import SchemaName, require, schema_tables
from pyetwkit._core import ArrowStream, EtlReader, EtwEvent, LogfileHeader
from pyetwkit._core import count_records as _count_records
from pyetwkit._log import logger
from pyetwkit._paths import PathArg, path_str
from pyetwkit.filters import Filter, require_filter
from pyetwkit.manifests import ManifestLike, resolve_manifests
from pyetwkit.sigma import RuleSet

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    import polars as pl
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["EtlFile", "ProgressCallback", "count_records", "open_etl"]


#: Called as ``callback(bytes_read, file_size)`` as reading advances.
ProgressCallback = Callable[[int, int], None]
Progress = bool | ProgressCallback

# How many events pass between two progress updates: often enough to look live,
# rarely enough to cost nothing measurable.
_PROGRESS_EVERY = 4096


class EtlFile:
    """An open .etl file: iterate it for :class:`EtwEvent` objects, in file order.

    Use :func:`open_etl` to create one. The logfile header is read when the file
    is opened, so a file that is not an .etl file fails at once. Iterating reads
    ahead on a thread of the reader's own, a few batches of events at most:
    memory stays flat whatever the file's size.
    """

    def __init__(
        self,
        path: PathArg,
        *,
        progress: Progress = False,
        manifests: Iterable[ManifestLike] | ManifestLike | None = None,
        prescan_processes: bool = False,
        filter: Filter | None = None,
        prescan_schemas: bool = False,
        rules: RuleSet | None = None,
        keep_unmatched: bool = False,
    ) -> None:
        checked = require_filter(filter)
        if rules is not None and not isinstance(rules, RuleSet):
            raise TypeError(f"rules must be a pyetwkit.sigma.RuleSet, not {type(rules).__name__}")
        if keep_unmatched and rules is None:
            raise ValueError("keep_unmatched applies only with rules")
        self._reader = EtlReader(
            path_str(path),
            resolve_manifests(manifests),
            prescan_processes,
            None if checked is None else checked.to_json(),
            prescan_schemas,
            None if rules is None else rules._inner,
            keep_unmatched,
        )
        self._progress = progress

    @property
    def path(self) -> str:
        return os.fspath(self._reader.path)

    @property
    def header(self) -> LogfileHeader:
        """The logfile information: logger, OS, clock, times, losses."""
        return self._reader.header

    @property
    def file_size(self) -> int:
        return self._reader.file_size

    @property
    def bytes_read(self) -> int:
        """How far reading has got, in bytes (with the last batch of events
        handed over: a few batches ahead of iteration); for progress displays."""
        return self._reader.bytes_read

    @property
    def schema_stats(self) -> dict[str, int]:
        """Where the schemas that decode this file's manifest events came from,
        so far: event schemas ``from_manifests`` given, ``from_metadata`` a merged
        trace embeds and ``from_event_sources`` (.NET EventSource manifests in the
        trace), ``maps_from_metadata``, and ``metadata_not_understood``: schema
        records that could not be used (their events stay undecoded)."""
        return self._reader.schema_stats

    @property
    def closed(self) -> bool:
        return self._reader.closed

    def close(self) -> None:
        """Releases the file. Iteration ends; closing twice is harmless."""
        if not self._reader.closed:
            self._reader.close()
            unusable = self._reader.schema_stats["metadata_not_understood"]
            if unusable:
                logger().warning(
                    "%s: %d schema records could not be used; their events stay undecoded",
                    self.path,
                    unusable,
                )

    def __enter__(self) -> EtlFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[EtwEvent]:
        if self._progress is False:
            # The Rust reader is itself the iterator: no Python frame per event.
            return self._reader
        if self._progress is True:
            return self._iter_with_bar()
        return self._iter_with_callback(self._progress)

    def _iter_with_callback(self, callback: ProgressCallback) -> Iterator[EtwEvent]:
        reader = self._reader
        size = reader.file_size
        for n, event in enumerate(reader, 1):
            if n % _PROGRESS_EVERY == 0:
                callback(reader.bytes_read, size)
            yield event
        callback(reader.bytes_read, size)

    def _iter_with_bar(self) -> Iterator[EtwEvent]:
        from tqdm import tqdm

        with tqdm(
            total=self.file_size,
            unit="B",
            unit_scale=True,
            desc=os.path.basename(self.path),
            file=sys.stderr,
            leave=False,
        ) as bar:

            def advance(done: int, _total: int) -> None:
                bar.update(done - bar.n)

            yield from self._iter_with_callback(advance)

    # Columnar

    def batches(
        self, *, columns: Sequence[str] | None = None, batch_size: int = 65_536
    ) -> ArrowStream:
        """The events table as Arrow record batches, built in Rust: one row per
        event, one column per field of :meth:`EtwEvent.to_json` under the same
        name (``properties`` as JSON text, ``timestamp`` in nanoseconds UTC).
        The result implements the Arrow PyCapsule interface
        (``__arrow_c_stream__``): ``pyarrow.RecordBatchReader.from_stream(s)``,
        ``polars.DataFrame(s)`` and DuckDB take it without a copy.

        The file is read again from its start, with this file's options
        (manifests, filter, prescans, rules), however far iteration has got.

        Args:
            columns: the columns to build, in this order (default: all).
            batch_size: rows per batch at most.
        """
        return self._reader.arrow_stream(None if columns is None else list(columns), batch_size)

    @overload
    def to_arrow(
        self, *, per_schema: Literal[False] = False, columns: Sequence[str] | None = None
    ) -> pa.Table: ...
    @overload
    def to_arrow(
        self, *, per_schema: Literal[True], columns: Sequence[str] | None = None
    ) -> dict[SchemaName, pa.Table]: ...
    def to_arrow(
        self, *, per_schema: bool = False, columns: Sequence[str] | None = None
    ) -> pa.Table | dict[SchemaName, pa.Table]:
        """The events table as a ``pyarrow.Table`` (see :meth:`batches`), or
        with ``per_schema=True`` a dict from each :class:`SchemaName` to its
        typed table (see docs/analysis.md). Needs ``pip install 'pyetwkit[arrow]'``.

        Per-schema tables have the header columns (``columns`` chooses among
        them; by default all but ``properties`` and ``user_data``), then one
        column per property, typed: integers, floats, strings, timestamps,
        GUIDs and IPs as text, lists and structs. A property whose values have
        no one type holds their JSON text. The tables are built whole in memory:
        ``pyetwkit convert --per-schema`` streams them to files instead.
        """
        if per_schema:
            return schema_tables(self._reader, columns, "arrow")
        stream = self.batches(columns=columns)
        return require("arrow").RecordBatchReader.from_stream(stream).read_all()

    @overload
    def to_pandas(
        self, *, per_schema: Literal[False] = False, columns: Sequence[str] | None = None
    ) -> pd.DataFrame: ...
    @overload
    def to_pandas(
        self, *, per_schema: Literal[True], columns: Sequence[str] | None = None
    ) -> dict[SchemaName, pd.DataFrame]: ...
    def to_pandas(
        self, *, per_schema: bool = False, columns: Sequence[str] | None = None
    ) -> pd.DataFrame | dict[SchemaName, pd.DataFrame]:
        """:meth:`to_arrow`'s tables as pandas DataFrames
        (``pip install 'pyetwkit[pandas]'``)."""
        if per_schema:
            return schema_tables(self._reader, columns, "pandas")
        require("pandas")
        return self.to_arrow(columns=columns).to_pandas()

    @overload
    def to_polars(
        self, *, per_schema: Literal[False] = False, columns: Sequence[str] | None = None
    ) -> pl.DataFrame: ...
    @overload
    def to_polars(
        self, *, per_schema: Literal[True], columns: Sequence[str] | None = None
    ) -> dict[SchemaName, pl.DataFrame]: ...
    def to_polars(
        self, *, per_schema: bool = False, columns: Sequence[str] | None = None
    ) -> pl.DataFrame | dict[SchemaName, pl.DataFrame]:
        """:meth:`to_arrow`'s tables as polars DataFrames, without pyarrow
        (``pip install 'pyetwkit[polars]'``)."""
        if per_schema:
            return schema_tables(self._reader, columns, "polars")
        frame: pl.DataFrame = require("polars").DataFrame(self.batches(columns=columns))
        return frame

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.bytes_read}/{self.file_size} bytes read"
        return f"<EtlFile {self.path!r} {state}>"


def open_etl(
    path: PathArg,
    *,
    progress: Progress = False,
    manifests: Iterable[ManifestLike] | ManifestLike | None = None,
    prescan_processes: bool = False,
    filter: Filter | None = None,
    prescan_schemas: bool = False,
    rules: RuleSet | None = None,
    keep_unmatched: bool = False,
) -> EtlFile:
    """Opens a recorded .etl file, on any OS.

    Args:
        path: the file.
        progress: ``True`` shows a progress bar on stderr while iterating; a
            callable is called as ``callback(bytes_read, file_size)`` instead.
        manifests: instrumentation manifests (paths or :class:`Manifest`
            objects) whose events should be decoded. Schemas a merged trace
            embeds are used without one; a manifest given here wins over them.
        prescan_processes: read the file's Process events first (a quick second
            pass in Rust), so that ``event.process_name`` is known even for events
            before the records that describe their process: traces whose process
            rundown is at the end (WPR, circular buffers). Off by default: events
            are then named from the Process events read so far.
        filter: a :mod:`pyetwkit.filters` expression, evaluated in Rust after
            the schema and process stages: only events that pass are yielded,
            exactly as ``EtwListener(etl_file=path, filter=...)`` delivers them.
        prescan_schemas: read the schemas the file embeds first (merged traces'
            metadata and .NET EventSource manifests; a quick second pass in
            Rust), so that events whose schema comes later in the file decode
            too (rundown events before their metadata). Off by default: events
            decode with the schemas read so far.
        rules: a :class:`pyetwkit.sigma.RuleSet`, matched in Rust after the
            filter through the ETW-to-Sigma mapping (``docs/sigma.md``): only
            events a rule selects are yielded, each with ``event.matches``.
        keep_unmatched: with ``rules``, yield every event (``event.matches`` is
            empty on those no rule selected).

    Raises:
        FileNotFoundError: (and other ``OSError`` subclasses) if it cannot be read.
        NotAnEtlFileError: at once, if the file does not start like an .etl file.
        ManifestError: at once, if a manifest cannot be parsed.

    Iterating may raise :class:`EtlFormatError` where the file is corrupt or
    truncated, after every event before the fault has been delivered.

    Example::

        with pyetwkit.open_etl("trace.etl") as etl:
            print(etl.header.logger_name)
            for event in etl:
                print(event.timestamp, event.provider_name, event.event_id)
    """
    return EtlFile(
        path,
        progress=progress,
        manifests=manifests,
        prescan_processes=prescan_processes,
        prescan_schemas=prescan_schemas,
        filter=filter,
        rules=rules,
        keep_unmatched=keep_unmatched,
    )


def count_records(path: PathArg) -> tuple[int, int, list[tuple[str, int]]]:
    """Counts the records of a recorded .etl file in Rust alone, without building
    events: ``(records, buffers, [(header type, count)])``."""
    return _count_records(path_str(path))
