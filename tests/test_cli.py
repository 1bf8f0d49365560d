"""The pyetwkit command line, in process and as `python -m pyetwkit`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pyetwkit
import pytest
from pyetwkit.cli import main
from test_decode_manifest import names_by_opcode_message
from test_event_model import DESIGN_FIELDS


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_info_on_the_bundled_sample_by_default() -> None:
    status, out, err = run("info")
    assert status == 0
    assert "bundled sample" in err
    assert "pyetwkit-sample" in out
    assert "build 26100" in out
    assert "Pyetwkit-Sample-App" in out


def test_info_json_counts() -> None:
    status, out, _ = run("info", pyetwkit.sample_etl_path(), "--json")
    doc = json.loads(out)
    assert status == 0
    assert doc["events"] == 128
    assert doc["by_kind"] == {"event": 81, "kernel": 45, "classic": 1, "wpp": 1}
    assert sum(p["events"] for p in doc["by_provider"]) == 128
    assert sum(doc["by_name"].values()) == 128
    assert doc["by_name"]["RequestCompleted"] == 40
    assert doc["by_name"]["Process/Start"] == 1


def test_dump_jsonl_uses_design_field_names_and_limit() -> None:
    status, out, _ = run("dump", pyetwkit.sample_etl_path(), "--limit", "7")
    lines = out.splitlines()
    assert status == 0
    assert len(lines) == 7
    for line in lines:
        assert list(json.loads(line)) == DESIGN_FIELDS


def test_dump_table() -> None:
    status, out, _ = run("dump", pyetwkit.sample_etl_path(), "--format", "table", "--limit", "3")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].startswith("timestamp")
    assert len(lines) == 4
    assert "EventTrace/Header" in lines[1]


def test_errors_exit_1_with_a_message(tmp_path: Path) -> None:
    status, _, err = run("info", str(tmp_path / "missing.etl"))
    assert status == 1
    assert "No such file" in err
    bad = tmp_path / "bad.etl"
    bad.write_text("not a trace")
    status, _, err = run("dump", str(bad))
    assert status == 1
    assert "not an .etl file" in err


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyetwkit", "dump", "--limit", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert len(proc.stdout.splitlines()) == 2


def test_manifest_flag_decodes_manifest_events(manifests: Path, tmp_path: Path) -> None:
    trace = str(manifests / "microsoft-tx/traces/HTTP_Server.etl")
    man = str(manifests / "microsoft-tx/HTTP_Server.man")
    status, out, _ = run("dump", trace, "--manifest", man, "--limit", "50")
    assert status == 0
    events = [json.loads(line) for line in out.splitlines()]
    http = [e for e in events if e["provider_name"] == "Microsoft-Windows-HttpService"]
    assert http
    assert all(e["properties"] and e["name"] for e in http)
    status, out, _ = run("dump", trace, "--limit", "50")
    assert all(
        not e["properties"] for e in map(json.loads, out.splitlines()) if e["kind"] == "event"
    )
    status, out, _ = run("info", trace, "--manifest", man, "--json")
    deliver = names_by_opcode_message(Path(man))["Deliver"]
    assert json.loads(out)["by_name"][deliver] > 100
    status, out, _ = run("dump", trace, "--manifest", man, "--format", "table", "--limit", "3")
    assert "RemoteAddr=[" in out
    bad = tmp_path / "bad.man"
    bad.write_text("<instrumentationManifest>")
    status, _, err = run("dump", trace, "--manifest", str(bad))
    assert status == 1
    assert "bad.man" in err
    assert "not XML" in err


def test_installed_providers_need_windows(capsys: pytest.CaptureFixture[str]) -> None:
    if pyetwkit._core.live_sessions_supported():
        assert main(["providers", "--installed"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert any("Microsoft-Windows-Kernel-Process" in line for line in lines)
        return
    assert main(["providers", "--installed"]) == 1
    assert "need Windows" in capsys.readouterr().err
