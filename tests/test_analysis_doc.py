"""docs/analysis.md runs as written: its ``pyetwkit convert`` commands, then
each ```python block, in one folder where ``trace.etl``, ``gc.etl`` and
``kernel.etl`` are the recordings the page names (links into the shared data,
never copies)."""

from __future__ import annotations

import io
import os
import re
import shlex
from pathlib import Path

import pyetwkit
import pytest
from conftest import ROOT, corpus_dir, have_corpus
from pyetwkit.cli import main
from test_readme import python_blocks

pytest.importorskip("pyarrow")
pytest.importorskip("pandas")
pytest.importorskip("polars")
pytest.importorskip("duckdb")

DOC = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")
BLOCKS = python_blocks(DOC)
COMMANDS = [
    line.strip()
    for block in re.findall(r"^```bash\n(.*?)^```$", DOC, re.DOTALL | re.MULTILINE)
    for line in block.splitlines()
    if line.startswith("pyetwkit convert")
]
#: The recordings the page names, from the corpus.
RECORDINGS = {
    "gc.etl": "perfview_net.4.5.2.x64.etl",
    "kernel.etl": "perfview_net.4.5.2.x86.etl",
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not have_corpus():
        pytest.skip(f"no .etl corpus at {corpus_dir()} (set PYETWKIT_TEST_DATA)")
    folder = tmp_path_factory.mktemp("analysis")
    os.symlink(pyetwkit.sample_etl_path(), folder / "trace.etl")
    for name, source in RECORDINGS.items():
        os.symlink(corpus_dir() / source, folder / name)
    return folder


def test_the_page_has_its_recipes() -> None:
    assert len(BLOCKS) >= 5
    assert len(COMMANDS) >= 2
    assert any("per_schema=True" in code for _, code in BLOCKS)


def test_the_recipes_run(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workdir)
    for command in COMMANDS:
        err = io.StringIO()
        assert main(shlex.split(command)[1:], io.StringIO(), err) == 0, (command, err.getvalue())
    for line, code in BLOCKS:
        exec(compile(code, f"analysis.md:{line}", "exec"), {"__name__": "__main__"})
        printed = capsys.readouterr().out
        assert printed.strip(), f"the block at line {line} shows nothing"
    # What the recipes compute, checked against the events themselves.
    clr = "Microsoft-Windows-DotNETRuntime"
    starts = {
        (e.pid, e.properties["Count"])
        for e in pyetwkit.open_etl("gc.etl", filter=pyetwkit.filters.provider(clr))
        if e.name == "GarbageCollection/Start"
    }
    namespace: dict[str, object] = {"__name__": "__main__"}
    gc_block = next(code for _, code in BLOCKS if "pause_ms" in code)
    exec(compile(gc_block, "analysis.md:gc", "exec"), namespace)
    capsys.readouterr()
    assert len(namespace["gcs"]) == len(starts) > 100  # type: ignore[arg-type]
    reads = sum(1 for e in pyetwkit.open_etl("kernel.etl") if e.name == "DiskIo/Read")
    disk_block = next(code for _, code in BLOCKS if "join_asof" in code)
    exec(compile(disk_block, "analysis.md:disk", "exec"), namespace)
    capsys.readouterr()
    assert namespace["top"]["reads"].sum() == reads > 1000  # type: ignore[index]
