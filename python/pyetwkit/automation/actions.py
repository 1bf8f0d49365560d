"""What actions do, one function each: ``exec`` (an argv, never a shell), ``script``
(a Python file, the event as JSON on stdin). Timeouts kill the whole process group,
children included. (Work in progress: http and log come with the runner.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyetwkit._core import EtwEvent

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")

# The EtwEvent attributes a template may name (documented in docs/automation.md).
EVENT_ATTRIBUTES = (
    "kind", "provider_id", "provider_name", "event_id", "version", "opcode", "level", "task",
    "keywords", "channel", "pid", "tid", "processor", "timestamp", "filetime", "name",
    "process_name", "process_command_line", "activity_id", "sid", "session_id",
)  # fmt: skip


def event_fields(event: EtwEvent, rule: str) -> dict[str, Any]:
    """What templates read: the event's attributes, its properties, and ``rule``."""
    fields: dict[str, Any] = {name: getattr(event, name, None) for name in EVENT_ATTRIBUTES}
    for key, value in (event.properties or {}).items():
        fields.setdefault(key, value)
    fields["rule"] = rule
    return fields


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: str, fields: Mapping[str, Any]) -> str:
    """``template`` with each ``{{Field}}`` replaced by the field's value, exactly
    (an unknown field is empty). The result is one string: one argv element."""
    return _TEMPLATE.sub(lambda m: _text(fields.get(m.group(1))), template)


def render_argv(argv: Sequence[str], fields: Mapping[str, Any]) -> list[str]:
    """Each element rendered on its own: a value can never add or split elements."""
    return [render(element, fields) for element in argv]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    returncode: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes


async def run_argv(
    argv: Sequence[str],
    *,
    stdin: bytes | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Outcome:
    """Runs ``argv`` directly (no shell) in a process group of its own; at the
    timeout the whole group is killed, children included."""
    if any("\0" in a for a in argv):
        # execve cannot pass a NUL: refuse rather than truncate silently.
        return Outcome(False, None, False, b"", b"argument contains a NUL character")
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        start_new_session=sys.platform != "win32",
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        _kill_group(process)
        out, err = await process.communicate()
        return Outcome(False, process.returncode, True, out, err)
    return Outcome(process.returncode == 0, process.returncode, False, out, err)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    try:
        if sys.platform == "win32":
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def run_script(
    path: str, fields: Mapping[str, Any], *, args: Sequence[str] = (), timeout: float | None = None
) -> Outcome:
    """Runs a Python file with the event's fields as JSON on stdin."""
    payload = json.dumps(fields, default=str).encode()
    return await run_argv([sys.executable, path, *args], stdin=payload, timeout=timeout)
