"""Per-schema tables (issue 13, acceptance 1): for every corpus file, each
event lands in the table of its schema (provider, event, version), in file
order, and each property cell equals ``event.properties``: typed where the
values share a type, their JSON text where they do not."""

from __future__ import annotations

import ipaddress
import json
import math
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyetwkit
import pytest
from conftest import recordings

pa = pytest.importorskip("pyarrow")

PROPERTY = b"pyetwkit:property"
MIXED = b"pyetwkit:mixed"


def schema_name(event: pyetwkit.EtwEvent) -> pyetwkit.SchemaName:
    """The schema an event belongs to, as the docs define it."""
    return pyetwkit.SchemaName(
        event.provider_name or event.provider_id,
        event.name or f"id-{event.event_id}",
        event.version,
    )


def same(cell: Any, value: Any, as_json: Any, field: Any) -> bool:
    """Whether an Arrow cell holds a property's Python value (``as_json``: the
    same value as to_json() writes it, for JSON text columns)."""
    if field.metadata and MIXED in field.metadata:
        return cell is None if value is None else json.loads(cell) == as_json
    if value is None or cell is None:
        return value is None and cell is None
    if isinstance(value, uuid.UUID):
        return uuid.UUID(cell) == value
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ipaddress.ip_address(cell) == value
    if isinstance(value, float):
        return cell == value or (math.isnan(cell) and math.isnan(value))
    if isinstance(value, list):
        item = field.type.value_field
        return len(cell) == len(value) and all(
            same(c, v, j, item)
            for c, v, j in zip(cell, value, as_json or [None] * len(value), strict=True)
        )
    if isinstance(value, dict):
        children = {f.name: f for f in field.type}
        return set(value) <= set(cell) and all(
            same(cell[k], value.get(k), (as_json or {}).get(k), children[k]) for k in cell
        )
    return bool(cell == value) and type(cell) is type(value)


def has_mixed(field: Any) -> bool:
    """Whether a column holds JSON text anywhere, nested ones included."""
    if field.metadata and MIXED in field.metadata:
        return True
    if pa.types.is_list(field.type):
        return has_mixed(field.type.value_field)
    if pa.types.is_struct(field.type):
        return any(has_mixed(child) for child in field.type)
    return False


@pytest.mark.parametrize("path", recordings(), ids=lambda p: Path(p).name)
def test_each_schema_table_holds_its_events_properties(path: str) -> None:
    tables = pyetwkit.open_etl(path).to_arrow(per_schema=True)
    buckets: dict[pyetwkit.SchemaName, list[pyetwkit.EtwEvent]] = defaultdict(list)
    for event in pyetwkit.open_etl(path):
        buckets[schema_name(event)].append(event)
    assert list(tables) == list(buckets), "tables in first-seen order"
    for name, table in tables.items():
        events = buckets[name]
        assert table.num_rows == len(events), name
        assert json.loads(table.schema.metadata[b"pyetwkit:schema"]) == name._asdict()
        assert table.column("timestamp").cast(pa.int64()).to_pylist()[0] is not None
        assert table.column("filetime").to_pylist() == [e.filetime for e in events]
        columns = {
            f.metadata[PROPERTY].decode(): (f, table.column(f.name).to_pylist())
            for f in table.schema
            if f.metadata and PROPERTY in f.metadata
        }
        mixed = any(has_mixed(f) for f, _ in columns.values())
        for row, event in enumerate(events):
            props = event.properties
            as_json = json.loads(event.to_json())["properties"] if mixed else {}
            # Every property has its column; the other columns are null.
            assert set(props) <= set(columns), (name, row)
            for prop, (field, cells) in columns.items():
                value = props.get(prop)
                assert same(cells[row], value, as_json.get(prop), field), (name, row, prop)


def test_types_are_inferred_and_mixed_values_become_json_text() -> None:
    tables = pyetwkit.open_etl(pyetwkit.sample_etl_path()).to_arrow(per_schema=True)
    start = tables[pyetwkit.SchemaName("Process", "Process/Start", 4)]
    assert start.schema.field("ProcessId").type == pa.uint64()
    assert start.schema.field("ImageFileName").type == pa.string()
    assert start.column("ImageFileName").to_pylist() == ["sampleapp.exe"]
    # Header columns come first, without properties and user_data by default.
    assert start.column_names[:3] == ["kind", "header_type", "provider_id"]
    assert "properties" not in start.column_names
    assert "user_data" not in start.column_names


def test_columns_choose_the_header_and_bad_ones_are_refused() -> None:
    etl = pyetwkit.open_etl(pyetwkit.sample_etl_path())
    tables = etl.to_arrow(per_schema=True, columns=["timestamp", "pid"])
    for table in tables.values():
        assert table.column_names[:2] == ["timestamp", "pid"]
        assert "kind" not in table.column_names
    with pytest.raises(ValueError, match='no column "nope"'):
        etl.to_arrow(per_schema=True, columns=["nope"])
    with pytest.raises(ValueError, match="besides properties"):
        etl.to_arrow(per_schema=True, columns=["properties"])


def test_filters_apply_and_pandas_and_polars_get_the_same_tables() -> None:
    path = pyetwkit.sample_etl_path()
    f = pyetwkit.filters.provider("Pyetwkit-Sample-App")
    arrow = pyetwkit.open_etl(path, filter=f).to_arrow(per_schema=True)
    assert {name.provider for name in arrow} == {"Pyetwkit-Sample-App"}
    pandas = pyetwkit.open_etl(path, filter=f).to_pandas(per_schema=True)
    polars = pyetwkit.open_etl(path, filter=f).to_polars(per_schema=True)
    assert list(pandas) == list(polars) == list(arrow)
    for name, table in arrow.items():
        assert len(pandas[name]) == len(polars[name]) == table.num_rows
        assert list(polars[name].columns) == table.column_names
