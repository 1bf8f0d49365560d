"""Actions: hostile field values reach exec actions only as argv elements, never
through a shell; a hung command is killed at its timeout, children included."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from pyetwkit.automation.actions import render_argv, run_argv, run_script

HOSTILE = [
    "& calc",
    "; rm -rf /",
    "'single' \"double\"",
    "line one\nline two",
    "$(touch /tmp/pyetwkit-pwned)",
    "`touch /tmp/pyetwkit-pwned`",
    "x" * 100_000,
    "|| echo pwned > /tmp/pyetwkit-pwned",
]

ECHO = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_values_stay_one_argv_element(tmp_path: Path, value: str) -> None:
    out = tmp_path / "argv.json"
    argv = render_argv(
        [sys.executable, "-c", ECHO, str(out), "{{CommandLine}}", "pre-{{pid}}-post"],
        {"CommandLine": value, "pid": 42},
    )
    result = await run_argv(argv, timeout=30)
    assert result.ok, result.stderr
    assert json.loads(out.read_text()) == [value, "pre-42-post"]
    assert not os.path.exists("/tmp/pyetwkit-pwned")


async def test_a_nul_is_refused_not_truncated() -> None:
    result = await run_argv(render_argv(["echo", "{{x}}"], {"x": "a\0b"}))
    assert not result.ok
    assert b"NUL" in result.stderr


async def test_a_hung_command_and_its_children_are_killed(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    # The parent starts a child that would outlive it, then hangs.
    code = (
        "import subprocess, sys, time;"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(marker)!r}, 'w').write(str(c.pid)); time.sleep(60)"
    )
    start = time.monotonic()
    result = await run_argv([sys.executable, "-c", code], timeout=1.0)
    assert result.timed_out
    assert time.monotonic() - start < 20
    child = int(marker.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the child outlived the timeout")


async def test_scripts_get_the_event_on_stdin(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("import json, sys; print(json.load(sys.stdin)['CommandLine'][::-1])")
    result = await run_script(str(script), {"CommandLine": "abc & def"}, timeout=30)
    assert result.ok
    assert result.stdout.decode().strip() == "fed & cba"


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_cancelled_run_kills_its_process(tmp_path: Path) -> None:
    """mode = "restart" cancels the run in progress: its process goes with it."""
    import asyncio

    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"

    async def cancel_midway() -> int:
        task = asyncio.ensure_future(run_argv([sys.executable, "-c", code, str(pid_file)]))
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return int(pid_file.read_text())

    pid = asyncio.run(cancel_midway())
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)
