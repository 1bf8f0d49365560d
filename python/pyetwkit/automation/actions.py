"""What actions do, one function each: ``exec`` (an argv, never a shell), ``script``
(a Python file, the event as JSON on stdin), ``http`` (a webhook through httpx) and
``log`` (a line through :mod:`logging`, or JSON Lines to a rotating file).
Timeouts kill the whole process group, children included."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyetwkit._core import EtwEvent
from pyetwkit.sigma import Match, map_event

# A `{{Field}}` template: the one pattern, for rendering and for --check.
TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")

# The EtwEvent attributes a template may name (documented in docs/automation.md).
EVENT_ATTRIBUTES = (
    "kind", "provider_id", "provider_name", "event_id", "version", "opcode", "level", "task",
    "keywords", "channel", "pid", "tid", "processor", "timestamp", "filetime", "name",
    "process_name", "process_command_line", "activity_id", "sid", "session_id",
)  # fmt: skip


def event_fields(
    event: EtwEvent, rule: str, matches: Sequence[Match] = (), *, sigma_fields: bool = False
) -> dict[str, Any]:
    """What templates read: the event's attributes, its properties, its Sigma
    fields (when ``sigma_fields``, or from its matches), ``rule`` (the
    automation rule's name) and ``title``, ``sigma_level``, ``sigma_id`` (of its most
    severe Sigma match; for a trigger, ``title`` is the rule's name)."""
    fields: dict[str, Any] = {name: getattr(event, name, None) for name in EVENT_ATTRIBUTES}
    for key, value in (event.properties or {}).items():
        fields.setdefault(key, value)
    # The matches' fields first: the stage's mapping knows the trace's volumes
    # and processes, which map_event (one event alone) cannot.
    for match in matches:
        for key, value in match.fields.items():
            fields.setdefault(key, value)
    if sigma_fields or matches:
        mapped = map_event(event)
        for key, value in (mapped[1] if mapped else {}).items():
            fields.setdefault(key, value)
    fields["rule"] = rule
    top = max(matches, key=lambda m: _SEVERITY.get(m.rule.level or "", 0), default=None)
    fields["title"] = top.rule.title if top else rule
    fields["sigma_level"] = top.rule.level if top else None
    fields["sigma_id"] = top.rule.id if top else None
    return fields


_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render(template: str, fields: Mapping[str, Any]) -> str:
    """``template`` with each ``{{Field}}`` replaced by the field's value, exactly
    (an unknown field is empty). The result is one string: one argv element."""
    return TEMPLATE.sub(lambda m: _text(fields.get(m.group(1))), template)


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
    except asyncio.CancelledError:
        # Cancelled (mode = "restart", or the run stopping): the process goes too.
        _kill_group(process)
        await process.communicate()  # reaps it and closes its pipes
        raise
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
    path: str,
    fields: Mapping[str, Any],
    *,
    args: Sequence[str] = (),
    timeout: float | None = None,
    cwd: str | None = None,
) -> Outcome:
    """Runs a Python file (with this interpreter) with the event's fields as
    JSON on stdin."""
    payload = json.dumps(fields, default=str).encode()
    return await run_argv([sys.executable, path, *args], stdin=payload, timeout=timeout, cwd=cwd)


def render_value(value: Any, fields: Mapping[str, Any]) -> Any:
    """Every string inside ``value`` (a JSON body: tables, lists) rendered."""
    if isinstance(value, str):
        return render(value, fields)
    if isinstance(value, dict):
        return {k: render_value(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, fields) for v in value]
    return value


async def run_http(
    client: Any,
    spec: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    timeout: float | None,
) -> Outcome:
    """One webhook request through an ``httpx.AsyncClient``; 2xx is success."""
    body = render_value(spec.get("body", dict(fields)), fields)
    try:
        response = await client.request(
            spec.get("method", "POST"),
            render(spec["url"], fields),
            headers={k: render(v, fields) for k, v in spec.get("headers", {}).items()},
            json=body if spec.get("method", "POST") != "GET" else None,
            timeout=timeout,
        )
    except Exception as e:  # any transport failure is the action's failure
        timed_out = type(e).__name__.endswith("Timeout")  # httpx.ReadTimeout, ConnectTimeout...
        return Outcome(False, None, timed_out, b"", f"{type(e).__name__}: {e}".encode())
    ok = 200 <= response.status_code < 300
    return Outcome(ok, response.status_code, False, response.content[:4096], b"")


DEFAULT_MESSAGE = "{{rule}}: {{name}} pid={{pid}} {{process_name}}"


class LogSink:
    """Where one ``log`` action writes: the ``pyetwkit.automation`` logger, or
    JSON Lines to a file rotated at ``max_bytes`` (``backups`` old files kept)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.level = logging.getLevelName(spec.get("level", "info").upper())
        self.logger = logging.getLogger("pyetwkit.automation")
        self.handler: logging.handlers.RotatingFileHandler | None = None
        if "file" in spec:
            self.handler = logging.handlers.RotatingFileHandler(
                spec["file"],
                maxBytes=spec.get("max_bytes", 10 * 2**20),
                backupCount=spec.get("backups", 5),
                encoding="utf-8",
                delay=True,
            )

    def message(self, fields: Mapping[str, Any]) -> str:
        return render(self.spec.get("message", DEFAULT_MESSAGE), fields)

    def write(self, fields: Mapping[str, Any], action: str) -> str:
        message = self.message(fields)
        if self.handler is None:
            self.logger.log(self.level, message, extra={"event": dict(fields)})
            return message
        line = json.dumps(
            {"rule": fields.get("rule"), "action": action, "message": message, "event": fields},
            default=str,
            ensure_ascii=False,
        )
        record = logging.LogRecord("pyetwkit.automation", self.level, "", 0, line, None, None)
        self.handler.emit(record)
        return message

    def close(self) -> None:
        if self.handler is not None:
            self.handler.close()
