"""``pyetwkit sigma check`` and ``pyetwkit sigma scan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import run
from test_sigma_etw import DIAGHUB, GIT_RULE


def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "git.yml").write_text(GIT_RULE)
    (tmp_path / "broken.yml").write_text(
        "title: Broken\nlogsource: {product: windows}\n"
        "detection:\n  sel: {CommandLine|nonsense: x}\n  condition: sel\n"
    )
    (tmp_path / "notes.txt").write_text("not a rule")
    return tmp_path


def test_check_reports_loaded_rejected_and_logsources(tmp_path: Path) -> None:
    status, out, _ = run("sigma", "check", str(rules_dir(tmp_path)))
    assert status == 0
    assert "rules loaded:   1 of 2 (50.0%)" in out
    assert "rules rejected: 1" in out
    assert 'broken.yml: modifier: unknown modifier "nonsense"' in out
    assert "windows/process_creation/-" in out
    status, out, _ = run("sigma", "check", "--json", str(tmp_path))
    report = json.loads(out)
    assert report["loaded"] == 1
    assert report["by_logsource"] == {"windows/process_creation/-": 1}
    assert [r["source"].endswith("broken.yml") for r in report["rejected"]] == [True]


def test_check_level_choice_and_nothing_loaded(tmp_path: Path) -> None:
    rules_dir(tmp_path)
    status, out, _ = run("sigma", "check", "--level", "high", str(tmp_path / "git.yml"))
    assert status == 0
    assert "left out by --level/--status: 1" in out
    status, _, _ = run("sigma", "check", str(tmp_path / "broken.yml"))
    assert status == 1
    with pytest.raises(SystemExit) as usage:
        run("sigma", "check", "--level", "severe", str(tmp_path))
    assert usage.value.code == 2


def test_scan_prints_matches_with_author_and_link(tmp_path: Path, corpus: Path) -> None:
    rules_dir(tmp_path)
    status, out, err = run("sigma", "scan", str(tmp_path), "--etl", str(corpus / DIAGHUB))
    assert status == 0
    assert "1 rule(s) rejected" in err
    lines = [line for line in out.splitlines() if not line.startswith("    ")]
    assert lines
    assert all("[low] Git asks for its remote (by pyetwkit tests;" in x for x in lines)
    assert f"{len(lines)} match(es) of 1 rule(s)" in err
    status, out, _ = run(
        "sigma",
        "scan",
        str(tmp_path / "git.yml"),
        "--etl",
        str(corpus / DIAGHUB),
        "--format",
        "jsonl",
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(lines)
    assert {r["author"] for r in rows} == {"pyetwkit tests"}
    assert all("remote" in r["fields"]["CommandLine"] for r in rows)
    assert all(r["rule_file"].endswith("git.yml") for r in rows)


def test_scan_with_no_rule_loaded_fails(tmp_path: Path, corpus: Path) -> None:
    rules_dir(tmp_path)
    status, _, err = run(
        "sigma", "scan", str(tmp_path / "broken.yml"), "--etl", str(corpus / DIAGHUB)
    )
    assert status == 1
    assert "no rule loaded" in err
    status, _, err = run("sigma", "scan", str(tmp_path), "--etl", str(tmp_path / "missing.etl"))
    assert status == 1
    assert "missing.etl" in err
