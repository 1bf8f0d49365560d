"""``pyetwkit convert`` (issue 13, acceptance 2): a Parquet folder written from
every corpus file reads back in DuckDB with the right row count for each
provider and event; Arrow IPC, JSON Lines and CSV hold one row per event."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pyetwkit
import pytest
from pyetwkit.cli import main


def convert(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    status = main(["convert", *args, "--no-progress"], io.StringIO(), err)
    return status, err.getvalue()


def partition(event: pyetwkit.EtwEvent) -> tuple[str, str]:
    """The (provider, event) partition of an event, as the docs define it."""
    return (event.provider_name or event.provider_id, event.name or f"id-{event.event_id}")


def test_a_parquet_folder_of_the_corpus_reads_back_in_duckdb(corpus: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    files = sorted(str(p) for p in corpus.glob("*.etl"))
    out = tmp_path / "parquet"
    status, err = convert(*files, "--to", "parquet", str(out))
    assert status == 0, err
    expected: Counter[tuple[str, str]] = Counter()
    for path in files:
        expected.update(partition(e) for e in pyetwkit.open_etl(path))
    query = (
        f"select provider, event, count(*) from read_parquet('{out}/**/*.parquet', "
        "hive_partitioning = true) group by all"
    )
    got = {(p, e): n for p, e, n in duckdb.sql(query).fetchall()}
    assert got == dict(expected)
    assert sum(got.values()) == sum(expected.values()) > 600_000
    # Partition values with a separator are escaped in the path and read back whole.
    assert any("%2F" in d.name for d in out.glob("provider=*/event=*"))


def test_per_schema_parquet_of_the_corpus_reads_back_in_duckdb(
    corpus: Path, tmp_path: Path
) -> None:
    """Typed per-schema files: a row per event under provider/event/version,
    read back with typed property columns."""
    duckdb = pytest.importorskip("duckdb")
    files = sorted(str(p) for p in corpus.glob("*.etl"))
    out = tmp_path / "typed"
    status, err = convert(*files, "--to", "parquet", str(out), "--per-schema")
    assert status == 0, err
    assert "per schema" in err
    expected: Counter[tuple[str, str, int]] = Counter()
    for path in files:
        expected.update((*partition(e), e.version) for e in pyetwkit.open_etl(path))
    got: dict[tuple[str, str, int], int] = {}
    # One query per schema folder: different schemas have different columns.
    for folder in out.glob("provider=*/event=*/version=*"):
        query = (
            f"select provider, event, version, count(*) from read_parquet('{folder}/*.parquet', "
            f"hive_partitioning = true, union_by_name = true, hive_types_autocast = false) "
            "group by all"
        )
        for provider, event, version, n in duckdb.sql(query).fetchall():
            got[(provider, event, int(version))] = n
    assert got == dict(expected)
    # Properties are typed columns: a kernel Image/Load's ImageSize is an integer.
    image = next(out.glob("provider=Image/event=Image%2FLoad/version=*"))
    described = duckdb.sql(f"describe select * from read_parquet('{image}/*.parquet')")
    types = {row[0]: row[1] for row in described.fetchall()}
    assert types["ImageSize"] == "UBIGINT", types
    assert types["FileName"] == "VARCHAR"


def test_per_schema_arrow_files_hold_the_tables_of_to_arrow(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    path = pyetwkit.sample_etl_path()
    out = tmp_path / "typed"
    status, err = convert(path, "--to", "arrow", str(out), "--per-schema", "--columns", "pid,tid")
    assert status == 0, err
    tables = pyetwkit.open_etl(path).to_arrow(per_schema=True, columns=["pid", "tid"])
    for name, table in tables.items():
        [file] = (out / "provider={}".format(name.provider.replace(" ", "%20"))).glob(
            f"event={name.event.replace('/', '%2F')}/version={name.version}/*.arrow"
        )
        assert pa.ipc.open_file(str(file)).read_all().equals(table), name
    status, err = convert(path, "--to", "csv", str(tmp_path / "x.csv"), "--per-schema")
    assert status == 2
    assert "parquet or arrow" in err
    status, err = convert(path, "--to", "parquet", str(tmp_path / "p"), "--columns", "pid")
    assert status == 2
    assert "--per-schema" in err


def test_arrow_jsonl_and_csv_hold_one_row_per_event(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    path = pyetwkit.sample_etl_path()
    events = list(pyetwkit.open_etl(path))
    for fmt in ("arrow", "jsonl", "csv"):
        status, err = convert(path, "--to", fmt, str(tmp_path / f"out.{fmt}"))
        assert status == 0, err
        assert f"{len(events)} events written" in err
    table = pa.ipc.open_file(str(tmp_path / "out.arrow")).read_all()
    assert table.equals(pyetwkit.open_etl(path).to_arrow())
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(e.to_json()) for e in events]
    with (tmp_path / "out.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(events)
    assert list(rows[0]) == list(json.loads(events[0].to_json()))
    for row, event in zip(rows, events, strict=True):
        assert row["timestamp"] == event.timestamp
        assert row["pid"] == ("" if event.pid is None else str(event.pid))
        assert json.loads(row["properties"]) == json.loads(event.to_json())["properties"]


def test_filters_apply_and_bad_input_is_reported(tmp_path: Path) -> None:
    path = pyetwkit.sample_etl_path()
    wanted = [e for e in pyetwkit.open_etl(path) if e.provider_name == "Process"]
    assert wanted
    status, err = convert(
        path, "--to", "jsonl", str(tmp_path / "p.jsonl"), "--filter", "provider('Process')"
    )
    assert status == 0, err
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == len(wanted)
    status, err = convert(path, "--to", "xml", str(tmp_path / "x"))
    assert status == 2
    assert "parquet, arrow, jsonl, csv" in err
    status, err = convert(str(tmp_path / "missing.etl"), "--to", "csv", str(tmp_path / "x"))
    assert status == 2
    assert "no such file" in err


def test_a_truncated_recording_keeps_the_rows_before_the_fault(
    corpus: Path, tmp_path: Path
) -> None:
    data = (corpus / "airbus_ShutdownPerfDiagLogger.etl").read_bytes()
    cut = tmp_path / "cut.etl"
    cut.write_bytes(data[: len(data) // 2 + 100])
    reader = iter(pyetwkit.open_etl(cut))
    before = 0
    with pytest.raises(pyetwkit.EtlFormatError) as read_error:  # noqa: PT012 - counts, then fails
        for _ in reader:
            before += 1
    status, err = convert(str(cut), "--to", "jsonl", str(tmp_path / "cut.jsonl"))
    assert status == 1
    assert "cut.etl" in err
    assert str(read_error.value).split(": ", 1)[1] in err
    assert len((tmp_path / "cut.jsonl").read_text().splitlines()) == before > 0


def test_an_interrupted_conversion_leaves_readable_parquet(tmp_path: Path) -> None:
    """Closing before the end (what Ctrl-C does) writes the footers of what was written."""
    pq = pytest.importorskip("pyarrow.parquet")
    from pyetwkit._core import Converter

    out = tmp_path / "part"
    converter = Converter([pyetwkit.sample_etl_path()], str(out), "parquet")
    _read, _total, rows, done = converter.step(50)
    assert rows == 50
    assert not done
    converter.close()
    converter.close()  # idempotent
    files = list(out.rglob("*.parquet"))
    assert files
    assert sum(pq.read_metadata(f).num_rows for f in files) == 50
