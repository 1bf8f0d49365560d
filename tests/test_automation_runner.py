"""The runner over real recordings: selection in Rust, actions and their
policies, failure handling, hot reload and metrics, each checked against what
the recording holds, counted independently with plain Python."""

from __future__ import annotations

import asyncio
import fnmatch
import io
import json
import socket
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pyetwkit
import pytest
from pyetwkit.automation import load
from pyetwkit.automation.runner import Report, Runner

DIAGHUB = "perfview_diaghub_diaghub.kernel.1.etl"
PY = json.dumps(sys.executable)


@pytest.fixture(scope="module")
def recording(corpus: Path) -> str:
    return str(corpus / DIAGHUB)


@pytest.fixture(scope="module")
def events(recording: str) -> list[pyetwkit.EtwEvent]:
    return list(pyetwkit.open_etl(recording))


def write(tmp_path: Path, text: str, name: str = "automation.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(path: Path, recording: str, **options: Any) -> tuple[Report, list[dict[str, Any]]]:
    audit = io.StringIO()
    runner = Runner(load(path), etl=recording, audit=audit, **options)
    report = asyncio.run(runner.run())
    return report, [json.loads(line) for line in audit.getvalue().splitlines()]


STARTS = '[[rule]]\nname = "starts"\ntrigger = { event = "Process/Start" }\n'


def test_a_failing_action_never_stops_the_runner(
    tmp_path: Path, recording: str, events: Any
) -> None:
    text = (
        STARTS
        + f"""
[[action]]
name = "fails"
rule = "starts"
exec = [{PY}, "-c", "import sys; sys.exit(3)"]

[[action]]
name = "works"
rule = "starts"
exec = [{PY}, "-c", "import sys; print(sys.argv[2], file=open(sys.argv[1], 'a'))",
        "seen.txt", "{{{{pid}}}}"]
"""
    )
    report, audit = run(write(tmp_path, text), recording)
    starts = [e for e in events if e.name == "Process/Start"]
    assert len(starts) > 0
    results = Counter((a["action"], a["result"]) for a in audit)
    assert results == {("fails", "failed"): len(starts), ("works", "ok"): len(starts)}
    assert report.failed == len(starts)
    seen = (tmp_path / "seen.txt").read_text().split()
    assert sorted(map(int, seen)) == sorted(e.pid for e in starts)


def test_on_error_disable_unbinds_the_action(tmp_path: Path, recording: str, events: Any) -> None:
    text = (
        STARTS
        + f"""
[[action]]
rule = "starts"
on_error = "disable"
mode = "queued"
exec = [{PY}, "-c", "import sys; sys.exit(1)"]
"""
    )
    _, audit = run(write(tmp_path, text), recording)
    results = [a["result"] for a in audit]
    n = sum(e.name == "Process/Start" for e in events)
    # Queued runs were submitted before the first failed: they still run; once it
    # failed, the action is disabled for every later match.
    assert results.count("failed") >= 1
    assert results.count("failed") + results.count("disabled") == n
    assert "ok" not in results


def test_retries_follow_the_policy(tmp_path: Path, recording: str) -> None:
    # Fails twice per event, then succeeds: the count of attempts is in a file per pid.
    script = (
        "import sys, pathlib; p = pathlib.Path('tries-' + sys.argv[1]); "
        "n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); sys.exit(n < 3)"
    )
    text = (
        STARTS.replace("Process/Start", 'Process/Start", process_name = "git.exe')
        + f"""
[[action]]
rule = "starts"
retries = {{ count = 3, backoff = "10ms" }}
exec = [{PY}, "-c", "{script}", "{{{{pid}}}}-{{{{tid}}}}-{{{{timestamp}}}}"]

[[action]]
name = "too-few"
rule = "starts"
retries = 1
exec = [{PY}, "-c", "import sys; sys.exit(1)"]
"""
    )
    _report, audit = run(write(tmp_path, text), recording)
    first = [a for a in audit if a["action"] != "too-few"]
    assert first
    assert all(a["result"] == "ok" and a["attempts"] == 3 for a in first)
    second = [a for a in audit if a["action"] == "too-few"]
    assert all(a["result"] == "failed" and a["attempts"] == 2 for a in second)


def test_a_hung_command_is_killed_at_its_timeout(tmp_path: Path, recording: str) -> None:
    text = (
        STARTS.replace("Process/Start", 'Process/Start", process_name = "git.exe')
        + """
[[action]]
rule = "starts"
timeout = "300ms"
mode = "parallel"
max_concurrent = 8
exec = ["sleep", "60"]
"""
    )
    report, audit = run(write(tmp_path, text), recording)
    assert audit
    assert all(a["result"] == "timeout" for a in audit)
    assert report.failed == len(audit)


def test_throttle_and_dedupe_by_event_time_and_key(
    tmp_path: Path, recording: str, events: Any
) -> None:
    text = """
[[rule]]
name = "loads"
trigger = { event = "Image/Load" }
dedupe = { window = "1h", key = "{{FileName}}" }

[[action]]
rule = "loads"
throttle = { count = 2, window = "1h", key = "{{process_name}}" }
log = { message = "{{process_name}} {{FileName}}" }
"""
    _, audit = run(write(tmp_path, text), recording)
    # Independently: a file name seen before is a repeat (the whole trace is
    # within the hour); then at most two runs per process.
    expected: list[tuple[str, str, str]] = []
    seen_files: set[str] = set()
    per_process: Counter[str] = Counter()
    for e in events:
        if e.name != "Image/Load":
            continue
        name = e.properties["FileName"]
        if name in seen_files:
            expected.append((e.timestamp, "deduped", ""))
            continue
        seen_files.add(name)
        per_process[e.process_name or ""] += 1
        if per_process[e.process_name or ""] > 2:
            expected.append((e.timestamp, "throttled", ""))
        else:
            expected.append((e.timestamp, "ok", f"{e.process_name or ''} {name}"))
    # Dropped runs are audited at once, the others when they ran: by event.
    got = [(a["event"]["timestamp"], a["result"], a["detail"].get("message", "")) for a in audit]
    assert sorted(got) == sorted(expected)
    assert {r for _, r, _ in got} == {"ok", "deduped", "throttled"}


def test_selection_and_metrics_match_an_independent_count(
    tmp_path: Path, recording: str, events: Any
) -> None:
    pytest.importorskip("prometheus_client")
    from pyetwkit.automation.metrics import Metrics

    text = """
[[rule]]
name = "starts"
trigger = { event = ["Process/Start", "process/end"] }

[[rule]]
name = "dlls"
[rule.trigger]
event = "Image/Load"
path = { property = "FileName", glob = "*\\\\system32\\\\*.DLL" }

[[rule]]
name = "git"
[rule.trigger]
any = [
    { process_name = "git*.exe" },
    { property = { name = "ImageFileName", contains = "git" } },
]
"""
    metrics = Metrics()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server, thread = metrics.serve(port)
    try:
        report, _ = run(write(tmp_path, text), recording, metrics=metrics)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            body = reply.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    expected = {
        "starts": sum(e.name in ("Process/Start", "Process/End") for e in events),
        "dlls": sum(
            e.name == "Image/Load"
            and fnmatch.fnmatch(e.properties["FileName"].lower(), "*\\system32\\*.dll")
            for e in events
        ),
        "git": sum(
            fnmatch.fnmatch((e.process_name or "").lower(), "git*.exe")
            or "git" in str(e.properties.get("ImageFileName", ""))
            for e in events
        ),
    }
    assert all(expected.values())
    summary = metrics.summary()
    assert summary["events_total"] == len(events)
    assert summary["rules_evaluated_total"] == len(events) * 3
    assert summary["events_dropped_total"] == 0
    for rule, n in expected.items():
        assert summary[f"rules_matched_total{{rule={rule}}}"] == n
        assert f'rules_matched_total{{rule="{rule}"}} {float(n)}' in body
    assert f"events_total {float(len(events))}" in body
    assert report.matched == expected


def test_a_reload_loses_no_event_and_a_bad_one_keeps_the_running_rules(
    tmp_path: Path, recording: str, events: Any
) -> None:
    v1 = """
[[rule]]
name = "images"
trigger = { provider = "Image" }

[[action]]
rule = "images"
log = { message = "v1" }
"""
    v2 = (
        v1.replace('"v1"', '"v2"')
        + '\n[[rule]]\nname = "processes"\ntrigger = { provider = "Process" }\n'
        + '\n[[action]]\nrule = "processes"\nlog = { message = "p" }\n'
    )
    path = write(tmp_path, v1)
    audit = io.StringIO()
    # Paced at 8x: the 13 s recording takes under 2 s, long enough to swap mid-run.
    runner = Runner(load(path), etl=recording, speed=8.0, audit=audit, watch=True,
                    watch_interval=0.02)  # fmt: skip

    async def edit() -> None:
        while runner.report.matched["images"] == 0:
            await asyncio.sleep(0.005)
        path.write_text(v2)
        while runner.report.reloads == 0:
            await asyncio.sleep(0.005)
        path.write_text(v2.replace("[[rule]]", "[[rule]]\ncolour = 1", 1))

    async def both() -> Report:
        editing = asyncio.ensure_future(edit())
        report = await runner.run()
        await editing
        return report

    report = asyncio.run(both())
    assert report.reloads == 1
    assert report.reloads_refused == 1
    assert report.events == len(events)
    lines = [json.loads(x) for x in audit.getvalue().splitlines()]
    messages = [x["detail"]["message"] for x in lines if x["rule"] == "images"]
    # Every Image event handled exactly once: by v1 up to the swap, by v2 after.
    assert len(messages) == sum(e.provider_name == "Image" for e in events)
    swap = messages.index("v2")
    assert swap > 0
    assert set(messages[:swap]) == {"v1"}
    assert set(messages[swap:]) == {"v2"}
    # The new rule saw a suffix of the Process events: none missed after the swap.
    processes = [e.timestamp for e in events if e.provider_name == "Process"]
    seen = [x["event"]["timestamp"] for x in lines if x["rule"] == "processes"]
    assert seen
    assert seen == processes[len(processes) - len(seen) :]


class _Hook:
    """A local webhook receiver: each path's first request gets a 500, later ones
    a 204; every request is kept (path, headers, JSON body)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[tuple[str, dict[str, str], Any]] = []
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                first = all(path != self.path for path, _, _ in hook.requests)
                hook.requests.append((self.path, dict(self.headers), body))
                self.send_response(500 if first else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_webhooks_send_the_templated_body_and_retry(
    tmp_path: Path, recording: str, events: Any
) -> None:
    pytest.importorskip("httpx")
    hook = _Hook()
    text = f"""
[security]
allow_http = true

[[rule]]
name = "git"
trigger = {{ event = "Process/Start", process_name = "git.exe" }}

[[action]]
name = "hook"
rule = "git"
retries = {{ count = 2, backoff = "10ms" }}

[action.http]
url = "http://127.0.0.1:{hook.port}/hook/{{{{pid}}}}-{{{{tid}}}}"
headers = {{ X-Rule = "{{{{rule}}}}" }}
body = {{ command = "{{{{CommandLine}}}}", pid = "{{{{pid}}}}", tags = ["{{{{rule}}}}", 1] }}

[[action]]
name = "nobody-home"
rule = "git"
timeout = "2s"
http = {{ url = "http://127.0.0.1:1/refused" }}
"""
    try:
        report, audit = run(write(tmp_path, text), recording)
    finally:
        hook.close()
    starts = [e for e in events if e.name == "Process/Start" and e.process_name == "git.exe"]
    assert starts
    sent = [a for a in audit if a["action"] == "hook"]
    assert [a["result"] for a in sent] == ["ok"] * len(starts)
    assert all(a["attempts"] == 2 for a in sent)  # a 500, then the retry's 204
    # Each event's request arrived twice (the 500 and the retry), with the
    # templated header and body, values exactly as the event has them.
    for e in starts:
        path = f"/hook/{e.pid}-{e.tid}"
        got = [(h, b) for p, h, b in hook.requests if p == path]
        assert len(got) == 2
        headers, body = got[-1]
        assert headers["X-Rule"] == "git"
        assert body == {
            "command": e.properties["CommandLine"],
            "pid": str(e.pid),
            "tags": ["git", 1],
        }
    refused = [a for a in audit if a["action"] == "nobody-home"]
    assert [a["result"] for a in refused] == ["failed"] * len(starts)
    assert report.failed == len(starts)
