"""The pyetwkit command line, in process and as `python -m pyetwkit`."""

from __future__ import annotations

import io
import itertools
import json
import signal
import subprocess
import sys
from pathlib import Path

import pyetwkit
import pytest
from conftest import PYTHON_WITH_CTRL_C, corpus_dir, needs_corpus
from pyetwkit import cli
from pyetwkit.cli import main
from pyetwkit.filters import parse as parse_filter
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


# Ctrl-C


class InterruptedOutput(io.StringIO):
    """An output stream whose first write is interrupted by Ctrl-C (a SIGINT to
    this process, handled before ``write`` returns)."""

    interrupted = False

    def write(self, s: str) -> int:
        if not self.interrupted:
            self.interrupted = True
            signal.raise_signal(signal.SIGINT)
        return super().write(s)


@pytest.mark.usefixtures("sigint_handled")
@pytest.mark.parametrize(
    "argv",
    [
        ["info", pyetwkit.sample_etl_path()],
        ["dump", pyetwkit.sample_etl_path()],
        ["listen", "-k", "process", "--simulate", pyetwkit.sample_etl_path()],
        ["providers"],
    ],
    ids=lambda argv: argv[0],
)
def test_ctrl_c_in_any_command_exits_130(argv: list[str]) -> None:
    out, err = InterruptedOutput(), io.StringIO()
    try:
        status = main(argv, out=out, err=err)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped main(): a traceback for the user")
    assert status == 130
    assert out.interrupted
    if argv[0] == "listen":
        assert "SessionStats received=" in err.getvalue(), "a session's statistics still follow"


TRACE_LOGGING_TESTER = "etwanalyzer_TraceLoggingTester.etl"  # 43 MB, 172,716 events


@needs_corpus
@pytest.mark.parametrize(
    "command",
    [
        ["dump", TRACE_LOGGING_TESTER],
        [
            "listen",
            "-k",
            "process",
            "-k",
            "thread",
            "-k",
            "image",
            "--simulate",
            TRACE_LOGGING_TESTER,
        ],
        ["info", TRACE_LOGGING_TESTER, "--progress"],
    ],
    ids=lambda command: command[0],
)
def test_ctrl_c_ends_a_long_run_with_130_and_no_traceback(command: list[str]) -> None:
    args = [str(corpus_dir() / a) if a == TRACE_LOGGING_TESTER else a for a in command]
    child = subprocess.Popen(
        [*PYTHON_WITH_CTRL_C, "-m", "pyetwkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Under way: the first output is out. dump and listen then block on the
        # pipe this test does not read (megabytes of events to come); info is
        # reading, with its progress bar drawn, for a second or two more.
        started = child.stderr if command[0] == "info" else child.stdout
        assert started is not None
        assert started.read(1)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130, err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    if command[0] == "info":
        assert "By provider" not in out, "interrupted before the summary"
    if command[0] == "listen":
        assert "SessionStats received=" in err


# Argument ranges


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["info", "--top", "-1"], "argument --top: must be at least 1, not -1"),
        (["info", "--top", "0"], "argument --top: must be at least 1, not 0"),
        (["info", "--top", "2.5"], "argument --top: '2.5' is not a whole number"),
        (["dump", "--limit", "-3"], "argument --limit: must be at least 0, not -3"),
        (["listen", "-k", "process", "--max-events", "-1"], "--max-events: must be at least 0"),
        (["listen", "-k", "process", "--duration", "-0.5"], "--duration: must be at least 0"),
        (["listen", "-k", "process", "--duration", "nan"], "--duration: must be at least 0"),
    ],
)
def test_negative_counts_are_usage_errors(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    assert complaint in capsys.readouterr().err


def test_the_smallest_counts_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    sample = pyetwkit.sample_etl_path()
    status, out, _ = run("dump", sample, "--limit", "0")
    assert (status, out) == (0, "")
    status, out, _ = run("dump", sample, "--limit", "0", "--format", "table")
    assert status == 0
    assert out.splitlines() == [out.splitlines()[0]], "the heading alone"
    status, out, _ = run("info", sample, "--top", "1")
    by_provider = out.split("By provider\n")[1].split("\n\n")[0].splitlines()
    assert len(by_provider) == 2
    assert "more providers (use --top)" in by_provider[1]
    for limit in ("--max-events", "--duration"):
        status, out, _ = run("listen", "-k", "process", "--simulate", sample, limit, "0")
        assert (status, out) == (0, "")
    for help_of in (["info", "--help"], ["dump", "--help"], ["listen", "--help"]):
        with pytest.raises(SystemExit):
            main(help_of)
        text = " ".join(capsys.readouterr().out.split())
        assert any(bound in text for bound in ("N >= 0", "N >= 1", "SECONDS >= 0")), help_of


# The table


def table_and_events(path: str, *options: str) -> tuple[str, list[str], list[pyetwkit.EtwEvent]]:
    status, out, _ = run("dump", path, "--format", "table", *options)
    assert status == 0
    heading, *rows = out.splitlines()
    flt = options[options.index("--filter") + 1] if "--filter" in options else None
    limit = int(options[options.index("--limit") + 1]) if "--limit" in options else None
    with pyetwkit.open_etl(path, filter=None if flt is None else parse_filter(flt)) as etl:
        events = list(itertools.islice(etl, limit))
    assert len(rows) == len(events)
    return heading, rows, events


@needs_corpus
@pytest.mark.parametrize(
    ("name", "options"),
    [
        # KernelTraceControl events with tid 0xFFFFFFFF and names such as
        # KernelTraceControl/DbgID_ILRSDS; the first event's properties hold bytes.
        ("perfview_diaghub_diaghub.etl", ("--limit", "2500")),
        # Providers longer than their column, names longer than theirs.
        (
            "perfview_net.4.5.2.x64.etl",
            (
                "--filter",
                "provider('Microsoft-Windows-Immersive-Shell', 'Microsoft-Windows-Kernel-"
                "EventTracing', 'System.Diagnostics.Eventing.FrameworkEventSource')",
            ),
        ),
    ],
)
def test_the_table_prints_every_value_whole(name: str, options: tuple[str, ...]) -> None:
    heading, rows, events = table_and_events(str(corpus_dir() / name), *options)
    name_column = heading.index("name")
    for row, event in zip(rows, events, strict=True):
        cells = [
            event.timestamp,
            event.kind,
            event.provider_name or event.provider_id,
            str(event.event_id),
            str(event.opcode),
            "-" if event.pid is None else str(event.pid),
            "-" if event.tid is None else str(event.tid),
            str(len(event.user_data)),
        ]
        if event.name:
            cells.append(event.name)
        assert row.split()[: len(cells)] == cells, row
        if event.name and len(cells[2]) <= 36:
            assert row.index(event.name, len(event.timestamp)) == name_column, "aligned"
        for key, value in event.properties.items():
            if isinstance(value, bytes):
                assert f"{key}={value.hex()};" in row
        assert "b'" not in row
    # The cases this is about are there.
    assert any(len(e.name or "") > 24 for e in events)
    if name.startswith("perfview_diaghub"):
        assert any(e.tid == 0xFFFF_FFFF for e in events)
        assert "4294967295" in rows[[e.tid for e in events].index(0xFFFF_FFFF)]
        assert any(isinstance(v, bytes) for e in events for v in e.properties.values())
    else:
        assert any(len(e.provider_name or "") > 36 for e in events)


def test_the_table_keeps_each_event_on_one_line() -> None:
    # Strings as they are, but for control characters, escaped as JSON escapes them.
    assert cli._table_value("two\nlines\tand a\x07bell") == "two\\nlines\\tand a\\u0007bell"
    assert cli._table_value("café, 10 % off") == "café, 10 % off"
    # Other values as JSON (the JSON Lines output's forms).
    assert cli._table_value(["a\n", 1, None, {"x": True}]) == '["a\\n", 1, null, {"x": true}]'


# Manifests that match nothing


def test_a_manifest_for_other_providers_is_named_in_a_warning(manifests: Path) -> None:
    man = str(manifests / "microsoft-tx/HTTP_Server.man")
    sample = pyetwkit.sample_etl_path()
    warning = (
        f"pyetwkit: warning: manifest {man} decoded nothing: none of its providers "
        "(Microsoft-Windows-HttpService {dd5ef90a-6398-47a4-ad34-4dcecdef795f}) appear in "
    )
    status, out, err = run("info", sample, "--manifest", man, "--json")
    assert status == 0
    assert json.loads(out)["events"] == 128, "stdout stays JSON"
    assert f"{warning}{sample}\n" in err
    status, _, err = run("dump", sample, "--manifest", man)
    assert (status, err) == (0, f"{warning}{sample}\n")
    status, _, err = run("dump", sample, "--manifest", man, "--limit", "3")
    assert f"{warning}the 3 events printed from {sample}\n" in err
    status, _, err = run("listen", "-k", "process", "--simulate", sample, "--manifest", man)
    assert status == 0
    assert f"{warning}the session's events\n" in err
    # Its own trace: no warning.
    trace = str(manifests / "microsoft-tx/traces/HTTP_Server.etl")
    for argv in (["info", trace], ["dump", trace], ["dump", trace, "--limit", "50"]):
        status, _, err = run(*argv, "--manifest", man)
        assert (status, "warning" in err) == (0, False), argv
    # Of two manifests, the one that matches nothing.
    clr = str(manifests / "clr/ClrEtwAll.man")
    status, _, err = run("info", trace, "--manifest", man, "--manifest", clr)
    assert err.count("warning") == 1
    assert f"manifest {clr} decoded nothing" in err


@needs_corpus
def test_dump_prescan_decodes_what_comes_before_its_schema() -> None:
    path = str(corpus_dir() / "etwanalyzer_TraceLoggingTester.etl")
    rundown = "a669021c-c450-4609-a035-5af59af4df18"  # Microsoft-Windows-DotNETRuntimeRundown
    lines = {}
    for flags in ((), ("--prescan",)):
        status, out, _ = run(
            "dump", path, "--filter", f"provider('{rundown}')", "--limit", "2000", *flags
        )
        assert status == 0
        lines[flags] = [json.loads(line) for line in out.splitlines()]
    with pyetwkit.open_etl(path, prescan_schemas=True, prescan_processes=True) as etl:
        expected = [e.to_dict() for e in etl if e.provider_id == rundown][:2000]
    plain, prescanned = lines[()], lines[("--prescan",)]
    assert len(plain) == len(prescanned) == len(expected)
    assert sum(1 for d in prescanned if d["properties"]) > sum(1 for d in plain if d["properties"])
    assert [d["properties"] for d in prescanned] == [
        json.loads(json.dumps(d["properties"], default=str)) for d in expected
    ]
