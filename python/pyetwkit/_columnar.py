"""The columnar forms of a recording: its events table or its per-schema
tables, as pyarrow, pandas or polars, each behind an optional extra."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from pyetwkit._core import ArrowTable, EtlReader

__all__ = ["SchemaName", "require", "schema_tables"]

Library = Literal["arrow", "pandas", "polars"]

#: The module each library's extra provides.
_MODULES: dict[Library, str] = {"arrow": "pyarrow", "pandas": "pandas", "polars": "polars"}


def require(library: Library) -> Any:
    """The library's module, imported now, or an ImportError naming the extra
    to install."""
    module = _MODULES[library]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this needs {module}: pip install 'pyetwkit[{library}]'") from None


class SchemaName(NamedTuple):
    """The key of a per-schema table: the events of one provider, event and
    version share their properties' names and types."""

    #: The provider's name, else its GUID.
    provider: str
    #: The event's name, else ``id-N`` (its event id).
    event: str
    #: The event header's version.
    version: int


def _convert(table: ArrowTable, library: Library) -> Any:
    if library == "polars":
        return require("polars").DataFrame(table)
    arrow = require("arrow").RecordBatchReader.from_stream(table).read_all()
    return arrow.to_pandas() if library == "pandas" else arrow


def schema_tables(
    reader: EtlReader, columns: Sequence[str] | None, library: Library
) -> dict[SchemaName, Any]:
    """Every schema's typed table, in first-seen order, as ``library``'s tables."""
    require(library)
    found = reader.arrow_tables(None if columns is None else list(columns))
    return {
        SchemaName(provider, event, version): _convert(table, library)
        for provider, event, version, table in found
    }
