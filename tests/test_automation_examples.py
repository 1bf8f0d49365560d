"""The example automations (examples/automations/*.toml), run over their recordings
as a user runs them: ``python -m pyetwkit run FILE --etl RECORDING --audit OUT``.

What they must do is computed here, independently, from the recordings' content:
each example's criterion is written out in plain Python over ``open_etl``'s events
(``sigma.map_event`` gives the Sigma field values; the match is decided here), the
templates are rendered by a renderer of this file, and the policies follow their
documented meaning. The runner replays a recording much faster than any policy
window, so on its wall clock every event falls inside one window: a dedupe drops
every repeat of a key, and a throttle keeps the first ``count`` runs of each key.
Nothing from ``pyetwkit.automation`` is used.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyetwkit
import pytest
import yaml
from conftest import ROOT, corpus_dir, have_corpus, shared_dir
from pyetwkit import sigma

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

AUTOMATIONS = ROOT / "examples" / "automations"
CLR_MANIFEST = "manifests/clr/ClrEtwAll.man"  # under the shared data

POLICY_DROPS = ("throttled", "deduped", "dropped")


def have_data() -> bool:
    return have_corpus() and (shared_dir() / CLR_MANIFEST).is_file()


needs_data = pytest.mark.skipif(
    not have_data(),
    reason=f"no .etl corpus or CLR manifest under {shared_dir()} (set PYETWKIT_TEST_DATA)",
)


# What a template renders to, as the automation docs say: each {{Field}} becomes the
# field's value as text (None empty, booleans true/false), an unknown field empty.

TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: str, fields: dict[str, Any]) -> str:
    return TEMPLATE.sub(lambda m: as_text(fields.get(m.group(1))), template)


ATTRIBUTES = (
    "provider_name", "provider_id", "name", "event_id", "opcode", "version", "level", "task",
    "keywords", "pid", "tid", "timestamp", "process_name", "process_command_line",
)  # fmt: skip


def fields_of(event: Any, rule: str, title: str) -> dict[str, Any]:
    """The values templates read: Sigma fields, properties, attributes, rule, title.
    (The examples' templates name no field that two of these share with different
    values, so the order of precedence does not matter here.)"""
    mapped = sigma.map_event(event)
    values: dict[str, Any] = dict(mapped[1]) if mapped else {}
    values.update(event.properties or {})
    values.update({name: getattr(event, name) for name in ATTRIBUTES})
    values.update(rule=rule, title=title)
    return values


def glob_match(pattern: str, value: Any) -> bool:
    """A glob on a whole value, case-insensitive; ``*`` any run, ``?`` one
    character, everything else (the backslash included) plain."""
    if value is None:
        return False
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, str(value), re.IGNORECASE | re.DOTALL) is not None


# What an action run looks like, in the expectation and in the audit.


@dataclass(frozen=True)
class Run:
    rule: str
    action: str
    kind: str
    result: str
    pid: int | None
    timestamp: str
    event: str | None
    # What the action did: exec ("argv", ...), log ("message", ...), script
    # ("script", file name, args..., "stdout", text). None where a policy dropped it.
    detail: tuple[Any, ...] | None


@dataclass
class Expected:
    runs: list[Run]
    # Policy windows (seconds): the run must end within the shortest for "every
    # event inside one window" to hold.
    windows: list[float] = field(default_factory=list)
    # exec: the JSON lines notify.py appends; log: the messages in the log file.
    notifications: list[dict[str, str]] = field(default_factory=list)
    log_messages: list[str] = field(default_factory=list)


def seconds(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    number, unit = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*", value).groups()  # type: ignore[union-attr]
    return float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


class Policies:
    """Throttle and dedupe of one action, every event inside one window."""

    def __init__(self, action: dict[str, Any]) -> None:
        self.throttle = action.get("throttle")
        self.dedupe = action.get("dedupe")
        self.windows = [seconds(p["window"]) for p in (self.throttle, self.dedupe) if p]
        self.runs: Counter[str] = Counter()
        self.seen: set[str] = set()

    def decide(self, fields: dict[str, Any]) -> str:
        if self.throttle:
            key = render(self.throttle.get("key", ""), fields)
            if self.runs[key] >= self.throttle["count"]:
                return "throttled"
            self.runs[key] += 1
        if self.dedupe:
            key = render(self.dedupe.get("key", ""), fields)
            if key in self.seen:
                return "deduped"
            self.seen.add(key)
        return "ok"


def read_toml(name: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((AUTOMATIONS / name).read_text(encoding="utf-8"))
    return data


def events(recording: str, manifests: tuple[str, ...] = ()) -> Iterator[Any]:
    with pyetwkit.open_etl(
        corpus_dir() / recording, manifests=[shared_dir() / m for m in manifests]
    ) as etl:
        yield from etl


def run_of(rule: str, action: str, kind: str, result: str, event: Any, detail: Any) -> Run:
    return Run(
        rule, action, kind, result, event.pid, event.timestamp, event.name,
        detail if result == "ok" else None,
    )  # fmt: skip


# new_process.toml: cmd.exe started with /c by a program that is not a shell.


def expect_new_process() -> Expected:
    config = read_toml("new_process.toml")
    (rule,) = config["rule"]
    (action,) = config["action"]
    (rule_file,) = (AUTOMATIONS / rule["sigma"][0]).glob("*.yml")
    title = yaml.safe_load(rule_file.read_text(encoding="utf-8"))["title"]
    shells = (
        "\\explorer.exe", "\\cmd.exe", "\\powershell.exe", "\\pwsh.exe",
        "\\windowsterminal.exe",
    )  # fmt: skip
    policies = Policies(action)
    expected = Expected([], policies.windows)
    for event in events("perfview_diaghub_diaghub.kernel.1.etl"):
        mapped = sigma.map_event(event)
        if mapped is None or "process_creation" not in mapped[0]:
            continue
        image = str(mapped[1].get("Image") or "").lower()
        command_line = str(mapped[1].get("CommandLine") or "").lower()
        parent = str(mapped[1].get("ParentImage") or "").lower()
        if not (
            image.endswith("\\cmd.exe") and " /c " in command_line and not parent.endswith(shells)
        ):
            continue
        values = fields_of(event, rule["name"], title)
        result = policies.decide(values)
        argv = [render(a, values) for a in action["exec"]]
        expected.runs.append(
            run_of(rule["name"], action["name"], "exec", result, event, ("argv", *argv))
        )
        if result == "ok":
            title_, image_, command_line_ = argv[2:]
            expected.notifications.append(
                {"title": title_, "image": image_, "command_line": command_line_}
            )
    return expected


# image_loads.toml: System32 DLLs loaded by svchost.exe, logged once per process.


def expect_image_loads() -> Expected:
    config = read_toml("image_loads.toml")
    (rule,) = config["rule"]
    (action,) = config["action"]
    policies = Policies(action)
    expected = Expected([], policies.windows)
    for event in events("airbus_ShutdownPerfDiagLogger.etl"):
        if (event.name or "").lower() != "image/load":
            continue
        if not glob_match("svchost.exe", event.process_name):
            continue
        if not glob_match("*\\Windows\\System32\\*.dll", event.properties.get("FileName")):
            continue
        values = fields_of(event, rule["name"], rule["name"])
        result = policies.decide(values)
        message = render(action["log"]["message"], values)
        expected.runs.append(
            run_of(rule["name"], action["name"], "log", result, event, ("message", message))
        )
        if result == "ok":
            expected.log_messages.append(message)
    return expected


# gc.toml: gen-2 collections (GCStart with Depth >= 2) and induced ones
# (GCTriggered with Reason "Induced"), each reported by on_gc.py.

CLR = "Microsoft-Windows-DotNETRuntime"


def gc_line(rule: str, event: Any) -> str:
    p = event.properties
    if event.name == "GarbageCollection/Start":
        what = f"gen-{p['Depth']} GC #{p['Count']} started ({p['Type']}, reason {p['Reason']})"
    else:
        what = f"GC triggered, reason {p['Reason']}"
    return f"{rule}: {what} in pid {event.pid} at {event.timestamp}"


def expect_gc() -> Expected:
    config = read_toml("gc.toml")
    (action,) = config["action"]
    script = action["script"]
    selects: dict[str, Callable[[Any], bool]] = {
        "gen2-gc": lambda e: (
            e.name == "GarbageCollection/Start" and int(e.properties.get("Depth", -1)) >= 2
        ),
        "induced-gc": lambda e: (
            e.name == "GarbageCollection/Triggered" and e.properties.get("Reason") == "Induced"
        ),
    }
    assert [r["name"] for r in config["rule"]] == list(selects)
    assert action["rules"] == list(selects)
    expected = Expected([])
    for event in events("perfview_gcevents_PerfViewData.etl", (CLR_MANIFEST,)):
        if event.provider_name != CLR:
            continue
        for rule, selected in selects.items():
            if selected(event):
                values = fields_of(event, rule, rule)
                args = [render(a, values) for a in script["args"]]
                stdout = gc_line(rule, event)
                detail = ("script", Path(script["path"]).name, *args, "stdout", stdout)
                expected.runs.append(run_of(rule, action["name"], "script", "ok", event, detail))
    return expected


@dataclass(frozen=True)
class Example:
    toml: str
    recording: str
    expect: Callable[[], Expected]
    manifests: tuple[str, ...] = ()


EXAMPLES = {
    "new_process": Example(
        "new_process.toml", "perfview_diaghub_diaghub.kernel.1.etl", expect_new_process
    ),
    "image_loads": Example(
        "image_loads.toml", "airbus_ShutdownPerfDiagLogger.etl", expect_image_loads
    ),
    "gc": Example("gc.toml", "perfview_gcevents_PerfViewData.etl", expect_gc, (CLR_MANIFEST,)),
}


def test_every_example_file_is_tested() -> None:
    assert sorted(p.name for p in AUTOMATIONS.glob("*.toml")) == sorted(
        e.toml for e in EXAMPLES.values()
    )


def run_automation(
    example: Example, workdir: Path, *options: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``pyetwkit run`` as a user runs it, in ``workdir`` (where log files go)."""
    command = [
        sys.executable, "-m", "pyetwkit", "run", str(AUTOMATIONS / example.toml),
        "--etl", str(corpus_dir() / example.recording),
    ]  # fmt: skip
    for manifest in example.manifests:
        command += ["--manifest", str(shared_dir() / manifest)]
    env = {**os.environ, "NOTIFY_FILE": str(workdir / "notifications.jsonl")}
    started = time.monotonic()
    done = subprocess.run(
        [*command, *options],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return done, time.monotonic() - started


def audited(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_from_audit(record: dict[str, Any]) -> Run:
    kind, result = record["kind"], record["result"]
    detail: tuple[Any, ...] | None = None
    info = record.get("detail") or {}
    if result == "ok":
        if kind == "exec":
            detail = ("argv", *info["argv"])
        elif kind == "log":
            detail = ("message", info["message"])
        elif kind == "script":
            # argv is the interpreter, the script, then its arguments.
            argv = info["argv"]
            script = next(i for i, a in enumerate(argv) if a.endswith(".py"))
            stdout = info["stdout"].rstrip("\r\n")
            detail = ("script", Path(argv[script]).name, *argv[script + 1 :], "stdout", stdout)
    event = record["event"]
    return Run(
        record["rule"], record["action"], kind, result,
        event["pid"], event["timestamp"], event["name"], detail,
    )  # fmt: skip


def messages_in(path: Path, wanted: set[str]) -> list[str]:
    """The message of each line of a JSON Lines log: its one value that is one of
    the messages expected (whatever the line's other keys)."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        hits = {s for s in strings(json.loads(line)) if s in wanted}
        assert len(hits) == 1, f"no single expected message in log line {line!r}"
        found.append(hits.pop())
    return found


@needs_data
@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_runs_the_actions_its_recording_calls_for(name: str, tmp_path: Path) -> None:
    example = EXAMPLES[name]
    expected = example.expect()
    assert any(r.result == "ok" for r in expected.runs), "the recording must trigger the example"
    audit = tmp_path / "audit.jsonl"

    done, elapsed = run_automation(example, tmp_path, "--audit", str(audit))

    assert done.returncode == 0, done.stdout + done.stderr
    for window in expected.windows:
        assert elapsed < window, "the run outlasted a policy window: the expectation is void"
    got = [run_from_audit(r) for r in audited(audit)]
    assert Counter(got) == Counter(expected.runs)
    assert all(r["attempts"] == 1 for r in audited(audit) if r["result"] == "ok")

    notify_file = tmp_path / "notifications.jsonl"
    if expected.notifications:
        lines = notify_file.read_text(encoding="utf-8").splitlines()
        assert Counter(json.dumps(json.loads(x), sort_keys=True) for x in lines) == Counter(
            json.dumps(n, sort_keys=True) for n in expected.notifications
        )
    else:
        assert not notify_file.exists()
    if expected.log_messages:
        (log_file,) = (tmp_path / f["log"]["file"] for f in read_toml(example.toml)["action"])
        got_messages = messages_in(log_file, set(expected.log_messages))
        assert Counter(got_messages) == Counter(expected.log_messages)


@needs_data
def test_the_image_load_dedupe_visibly_drops_repeats() -> None:
    runs = expect_image_loads().runs
    results = Counter(r.result for r in runs)
    assert results["ok"] > 0
    assert results["deduped"] > 0, "the example's policy should drop some loads"


@pytest.mark.parametrize("name", EXAMPLES)
def test_check_prints_the_plan_of_an_example(name: str) -> None:
    example = EXAMPLES[name]
    done = subprocess.run(
        [sys.executable, "-m", "pyetwkit", "run", "--check", str(AUTOMATIONS / example.toml)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    config = read_toml(example.toml)
    for rule in config["rule"]:
        assert rule["name"] in done.stdout
    for action in config["action"]:
        assert action["name"] in done.stdout


@needs_data
@pytest.mark.parametrize("name", EXAMPLES)
def test_dry_run_reports_every_action_and_runs_none(name: str, tmp_path: Path) -> None:
    example = EXAMPLES[name]
    expected = example.expect()
    audit = tmp_path / "audit.jsonl"

    done, _ = run_automation(example, tmp_path, "--dry-run", "--audit", str(audit))

    assert done.returncode == 0, done.stdout + done.stderr
    records = audited(audit)
    # Whether policies are applied in a dry run or not, every match is reported,
    # as a run that would happen or as one a policy drops.
    assert {r["result"] for r in records} <= {"dry_run", *POLICY_DROPS}
    assert any(r["result"] == "dry_run" for r in records)

    def key(rule: str, action: str, pid: int | None, timestamp: str) -> tuple[Any, ...]:
        return (rule, action, pid, timestamp)

    assert Counter(
        key(r["rule"], r["action"], r["event"]["pid"], r["event"]["timestamp"]) for r in records
    ) == Counter(key(r.rule, r.action, r.pid, r.timestamp) for r in expected.runs)
    dry = [r for r in records if r["result"] == "dry_run"]
    ok = [r for r in expected.runs if r.result == "ok"]
    assert len(dry) in (len(ok), len(expected.runs))
    # Nothing ran: no notification, no line logged.
    assert not (tmp_path / "notifications.jsonl").exists()
    for action in read_toml(example.toml)["action"]:
        if isinstance(action.get("log"), dict) and "file" in action["log"]:
            log_file = tmp_path / action["log"]["file"]
            assert not log_file.exists() or log_file.stat().st_size == 0
