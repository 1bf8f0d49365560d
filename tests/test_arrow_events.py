"""The events table in Arrow (issue 13, acceptance 1): for every corpus file, one
row per event, and each row's values equal the event's ``to_json()``; pyarrow,
pandas, polars and DuckDB read it through the Arrow PyCapsule interface."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyetwkit
import pytest
from conftest import have_corpus, recordings

pa = pytest.importorskip("pyarrow")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso(ns: int | None) -> str | None:
    """A timestamp cell (ns since 1970, UTC) as to_json writes it: 7 digits."""
    if ns is None:
        return None
    seconds, rest = divmod(ns, 1_000_000_000)
    text = (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{rest // 100:07d}Z"


def as_json(column: str, value: Any) -> Any:
    """A cell as the event's to_json() holds the value."""
    if column == "timestamp":
        return iso(value)
    if column == "properties":
        return json.loads(value)
    if column == "user_data":
        return value.hex()
    return value


@pytest.mark.parametrize("path", recordings(), ids=lambda p: Path(p).name)
def test_one_row_per_event_with_the_values_of_to_json(path: str) -> None:
    table = pyetwkit.open_etl(path).to_arrow()
    expected = [json.loads(e.to_json()) for e in pyetwkit.open_etl(path)]
    assert table.num_rows == len(expected)
    assert table.column_names == list(expected[0])
    timestamps = table.column("timestamp").cast(pa.int64()).to_pylist()
    for name in table.column_names:
        cells = timestamps if name == "timestamp" else table.column(name).to_pylist()
        for i, (cell, event) in enumerate(zip(cells, expected, strict=True)):
            want = event[name]
            if name == "timestamp" and cell is None:
                # Beyond 64-bit nanoseconds (before 1677, after 2262): null.
                assert not 1678 <= int(want[:4]) <= 2261, (i, want)
                continue
            assert as_json(name, cell) == want, (Path(path).name, i, name)


def test_columns_batches_and_filters_apply() -> None:
    path = pyetwkit.sample_etl_path()
    f = pyetwkit.filters.provider("Process")
    events = list(pyetwkit.open_etl(path, filter=f))
    stream = pyetwkit.open_etl(path, filter=f).batches(columns=["opcode", "pid"], batch_size=2)
    assert stream.columns == ["opcode", "pid"]
    batches = list(pa.RecordBatchReader.from_stream(stream))
    assert all(b.num_rows <= 2 for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.column_names == ["opcode", "pid"]
    assert table.column("pid").to_pylist() == [e.pid for e in events]
    # The stream can be read again: each read starts from the file's start.
    assert pa.RecordBatchReader.from_stream(stream).read_all().equals(table)
    with pytest.raises(ValueError, match=r'no column "nope"'):
        pyetwkit.open_etl(path).batches(columns=["nope"])
    with pytest.raises(ValueError, match="batch_size"):
        pyetwkit.open_etl(path).batches(batch_size=0)


def test_pandas_polars_and_duckdb_read_the_same_table() -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    path = pyetwkit.sample_etl_path()
    events = list(pyetwkit.open_etl(path))
    frame = pyetwkit.open_etl(path).to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["event_id"]) == [e.event_id for e in events]
    polars_frame = pyetwkit.open_etl(path).to_polars()
    assert polars_frame["filetime"].to_list() == [e.filetime for e in events]
    stream = pyetwkit.open_etl(path).batches()
    assert stream is not None  # DuckDB finds it by its Python name:
    counts = dict(duckdb.sql("select provider_id, count(*) from stream group by all").fetchall())
    expected: dict[str, int] = {}
    for e in events:
        expected[e.provider_id] = expected.get(e.provider_id, 0) + 1
    assert counts == expected


def test_a_truncated_file_gives_its_rows_then_the_error(tmp_path: Path) -> None:
    """The rows before the fault arrive; then an error naming the file and offset."""
    if not have_corpus():
        pytest.skip("no corpus")
    from conftest import corpus_dir

    data = (corpus_dir() / "airbus_ShutdownPerfDiagLogger.etl").read_bytes()
    cut = tmp_path / "cut.etl"
    cut.write_bytes(data[: len(data) // 2 + 100])
    before: list[pyetwkit.EtwEvent] = []
    read_error = drain_into(pyetwkit.open_etl(cut), before)
    assert isinstance(read_error, pyetwkit.EtlFormatError)
    batches: list[Any] = []
    arrow_error = drain_into(
        pa.RecordBatchReader.from_stream(pyetwkit.open_etl(cut).batches(batch_size=1000)),
        batches,
    )
    assert arrow_error is not None
    rows = sum(b.num_rows for b in batches)
    assert rows == len(before) > 0
    message = str(arrow_error)
    assert "cut.etl" in message
    assert str(read_error).split(": ", 1)[1] in message


def drain_into(items: Any, out: list[Any]) -> Exception | None:
    """Appends ``items`` to ``out`` until they end; the error that ended them."""
    try:
        for item in items:
            out.append(item)
    except Exception as e:
        return e
    return None
