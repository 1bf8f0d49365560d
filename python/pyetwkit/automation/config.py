"""The automation file: read, validated and turned into plain objects.

Errors name the file, the line and the key (``automation.toml:12: rule[2].throttle.count:
must be a positive integer``). An unknown key is an error, so a typo never silently
disables a policy. What the file cannot do unless it says so (HTTP webhooks) is refused
here, at load, before anything runs.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pyetwkit._listen import KERNEL_FLAGS
from pyetwkit.automation.actions import TEMPLATE
from pyetwkit.automation.triggers import TriggerError, compile_trigger
from pyetwkit.filters import Filter
from pyetwkit.sigma import RuleSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]

Mode = Literal["single", "queued", "parallel", "restart"]
OnError = Literal["continue", "disable"]
MODES: tuple[Mode, ...] = ("single", "queued", "parallel", "restart")
ON_ERROR: tuple[OnError, ...] = ("continue", "disable")
ACTION_KINDS = ("exec", "http", "log", "script")
KERNEL_KINDS = tuple(KERNEL_FLAGS)
PRESETS = ("low_latency", "balanced", "high_throughput")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ConfigError(ValueError):
    """The automation file is not valid: ``path:line: key: why``."""

    def __init__(self, path: str, line: int | None, key: str, why: str) -> None:
        self.path, self.line, self.key, self.why = path, line, key, why
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {why}" if key else f"{where}: {why}")


@dataclass(frozen=True)
class Policy:
    """How often and how an action (or every action of a rule) may run."""

    throttle_count: int | None = None
    throttle_window: float | None = None
    throttle_key: str | None = None
    dedupe_window: float | None = None
    dedupe_key: str | None = None
    mode: Mode = "queued"
    max_concurrent: int = 1
    timeout: float | None = None
    retries: int = 0
    backoff: float = 1.0
    on_error: OnError = "continue"
    # The keys the file set: an action's own settings win over its rule's.
    explicit: frozenset[str] = frozenset()

    def over(self, defaults: Policy) -> Policy:
        """This policy, with ``defaults``' values wherever this one set nothing."""
        values = {k: v for k, v in defaults.__dict__.items() if k != "explicit"}
        for key in self.explicit:
            values.update(_POLICY_FIELDS[key](self))
        return Policy(**values, explicit=self.explicit | defaults.explicit)


# Which dataclass fields each policy key of the file sets.
_POLICY_FIELDS = {
    "throttle": lambda p: {
        "throttle_count": p.throttle_count,
        "throttle_window": p.throttle_window,
        "throttle_key": p.throttle_key,
    },
    "dedupe": lambda p: {"dedupe_window": p.dedupe_window, "dedupe_key": p.dedupe_key},
    "mode": lambda p: {"mode": p.mode},
    "max_concurrent": lambda p: {"max_concurrent": p.max_concurrent},
    "timeout": lambda p: {"timeout": p.timeout},
    "retries": lambda p: {"retries": p.retries, "backoff": p.backoff},
    "on_error": lambda p: {"on_error": p.on_error},
}


@dataclass(frozen=True)
class SessionConfig:
    etl: str | None = None
    speed: float | None = None
    providers: tuple[str | dict[str, Any], ...] = ()
    kernel: tuple[str, ...] = ()
    preset: str | None = None
    manifests: tuple[str, ...] = ()
    prescan_processes: bool = False


@dataclass(frozen=True)
class Rule:
    name: str
    sigma: tuple[str, ...] = ()
    sigma_inline: str | None = None
    levels: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    trigger: dict[str, Any] | None = None
    policy: Policy = field(default_factory=Policy)
    line: int | None = None
    # Compiled at load: what the rule selects, in Rust.
    filter: Filter | None = field(default=None, compare=False, repr=False)
    rule_set: RuleSet | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Action:
    name: str
    rules: tuple[str, ...]
    kind: str
    spec: dict[str, Any]
    policy: Policy = field(default_factory=Policy)
    line: int | None = None

    def templates(self) -> list[str]:
        """The ``{{Field}}`` names this action's text takes from events."""
        return sorted(set(TEMPLATE.findall(repr(self.spec))))


@dataclass(frozen=True)
class Automation:
    path: str
    session: SessionConfig
    rules: tuple[Rule, ...]
    actions: tuple[Action, ...]
    allow_http: bool = False

    def actions_of(self, rule: str) -> list[Action]:
        return [a for a in self.actions if rule in a.rules]


class _Lines:
    """Where a key is written: the line of ``key =`` inside the N-th ``[[table]]``
    (or ``[table]``), found in the file's text. TOML parsers give no positions."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_.-]+|\"[^\"]*\")\s*=")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, int], tuple[int, dict[str, int]]] = {}
        counts: dict[str, int] = {}
        current: tuple[str, int] = ("", 0)
        self.tables[current] = (1, {})
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header:
                name = header.group(1)
                index = counts.get(name, 0)
                counts[name] = index + 1
                current = (name, index)
                self.tables[current] = (number, {})
                continue
            key = self._KEY.match(line)
            if key:
                self.tables[current][1].setdefault(key.group(1).strip('"'), number)

    def of(self, table: str, index: int = 0, key: str | None = None) -> int | None:
        found = self.tables.get((table, index))
        if found is None:
            return None
        start, keys = found
        if key is None:
            return start
        return keys.get(key.split(".")[0], start)


def _folder_of(path: str) -> str:
    folder = os.path.dirname(path) if not path.startswith("<") else ""
    return folder or "."


class _Reader:
    def __init__(self, path: str, text: str, base: str) -> None:
        self.path = path
        self.lines = _Lines(text)
        self.base = base

    def resolve(self, value: str) -> str:
        """A path of the file, from the file's folder when relative."""
        expanded = os.path.expanduser(value)
        return os.path.abspath(os.path.join(self.base, expanded))

    def fail(self, table: str, index: int, key: str, why: str, label: str) -> ConfigError:
        return ConfigError(self.path, self.lines.of(table, index, key), f"{label}{key}", why)

    def known(
        self, data: Mapping[str, Any], allowed: set[str], table: str, index: int, label: str
    ) -> None:
        for key in data:
            if key not in allowed:
                close = sorted(allowed)
                raise self.fail(
                    table, index, key, f"unknown key (known: {', '.join(close)})", label
                )


def _duration(value: Any) -> float | None:
    """Seconds from a number or ``"500ms"``, ``"10s"``, ``"5m"``, ``"1h"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*", value)
        if m:
            scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
            seconds = float(m.group(1)) * scale
            return seconds if seconds > 0 else None
    return None


POLICY_KEYS = {"throttle", "dedupe", "mode", "max_concurrent", "timeout", "retries", "on_error"}


def _policy(
    r: _Reader, data: Mapping[str, Any], table: str, index: int, label: str, base: Policy
) -> Policy:
    values: dict[str, Any] = dict(base.__dict__)
    values["explicit"] = frozenset(k for k in POLICY_KEYS if k in data)

    def positive_int(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise r.fail(table, index, key, "must be a positive integer", label)
        return value

    def seconds(key: str, value: Any) -> float:
        got = _duration(value)
        if got is None:
            raise r.fail(table, index, key, "must be a positive duration ('10s', '5m', 2.5)", label)
        return got

    if "throttle" in data:
        t = data["throttle"]
        if not isinstance(t, dict):
            raise r.fail(table, index, "throttle", "must be a table {count, window, key}", label)
        r.known(t, {"count", "window", "key"}, table, index, f"{label}throttle.")
        values["throttle_count"] = positive_int("throttle.count", t.get("count"))
        values["throttle_window"] = seconds("throttle.window", t.get("window"))
        values["throttle_key"] = t.get("key")
    if "dedupe" in data:
        d = data["dedupe"]
        if not isinstance(d, dict):
            raise r.fail(table, index, "dedupe", "must be a table {window, key}", label)
        r.known(d, {"window", "key"}, table, index, f"{label}dedupe.")
        values["dedupe_window"] = seconds("dedupe.window", d.get("window"))
        values["dedupe_key"] = d.get("key")
    if "mode" in data:
        if data["mode"] not in MODES:
            raise r.fail(table, index, "mode", f"must be one of {', '.join(MODES)}", label)
        values["mode"] = data["mode"]
    if "max_concurrent" in data:
        values["max_concurrent"] = positive_int("max_concurrent", data["max_concurrent"])
    if "timeout" in data:
        values["timeout"] = seconds("timeout", data["timeout"])
    if "retries" in data:
        retries = data["retries"]
        if isinstance(retries, dict):
            r.known(retries, {"count", "backoff"}, table, index, f"{label}retries.")
            values["retries"] = positive_int("retries.count", retries.get("count"))
            if "backoff" in retries:
                values["backoff"] = seconds("retries.backoff", retries["backoff"])
        else:
            values["retries"] = positive_int("retries", retries)
    if "on_error" in data:
        if data["on_error"] not in ON_ERROR:
            raise r.fail(table, index, "on_error", "must be 'continue' or 'disable'", label)
        values["on_error"] = data["on_error"]
    return Policy(**values)


def _strings(
    r: _Reader, value: Any, table: str, index: int, key: str, label: str
) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise r.fail(table, index, key, "must be a string or a list of strings", label)


def loads(text: str, path: str = "<automation>", base: str | None = None) -> Automation:
    """Validates an automation file's text. Relative paths in it (recording,
    manifests, Sigma files, scripts, working directories) are read from ``base``
    (default: the file's folder, or the working directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None)
        raise ConfigError(path, line, "", f"not valid TOML: {e}") from None
    r = _Reader(path, text, base if base is not None else _folder_of(path))
    r.known(data, {"session", "security", "rule", "action"}, "", 0, "")
    security = data.get("security", {})
    r.known(security, {"allow_http"}, "security", 0, "security.")
    allow_http = security.get("allow_http", False)
    if not isinstance(allow_http, bool):
        raise r.fail("security", 0, "allow_http", "must be true or false", "security.")
    session = _session(r, data.get("session", {}))
    rules = tuple(_rule(r, i, raw) for i, raw in enumerate(data.get("rule", [])))
    names = [rule.name for rule in rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise r.fail("rule", i, "name", f"{name!r} is used by an earlier rule", f"rule[{i}].")
    actions = tuple(
        _action(r, i, raw, set(names), allow_http) for i, raw in enumerate(data.get("action", []))
    )
    if not rules:
        raise ConfigError(path, None, "rule", "the file has no [[rule]]")
    # Metrics and the audit name actions: two of one name would be counted as one.
    action_names = [a.name for a in actions]
    for i, name in enumerate(action_names):
        if name in action_names[:i]:
            why = f"{name!r} is used by an earlier action"
            raise r.fail("action", i, "name", why, f"action[{i}].")
    return Automation(path, session, rules, actions, allow_http)


def load(path: str | os.PathLike[str]) -> Automation:
    """Reads and validates the automation file at ``path``."""
    text = Path(path).read_text(encoding="utf-8")
    return loads(text, os.fspath(path))


def _session(r: _Reader, raw: Any) -> SessionConfig:
    label = "session."
    if not isinstance(raw, dict):
        raise r.fail("session", 0, "", "must be a table", label)
    r.known(
        raw,
        {"etl", "speed", "providers", "kernel", "preset", "manifests", "prescan_processes"},
        "session",
        0,
        label,
    )
    etl = raw.get("etl")
    if etl is not None and not isinstance(etl, str):
        raise r.fail("session", 0, "etl", "must be a path", label)
    live = "providers" in raw or "kernel" in raw
    if etl is not None and live:
        raise r.fail("session", 0, "etl", "give a recording (etl) or live sources, not both", label)
    speed = raw.get("speed")
    if speed is not None:
        if etl is None:
            raise r.fail("session", 0, "speed", "applies to a recording (etl) only", label)
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed <= 0:
            raise r.fail("session", 0, "speed", "must be a positive number", label)
    kernel = _strings(r, raw.get("kernel", []), "session", 0, "kernel", label)
    for kind in kernel:
        if kind not in KERNEL_KINDS:
            raise r.fail(
                "session", 0, "kernel", f"{kind!r} is not one of {', '.join(KERNEL_KINDS)}", label
            )
    preset = raw.get("preset")
    if preset is not None and preset not in PRESETS:
        raise r.fail("session", 0, "preset", f"must be one of {', '.join(PRESETS)}", label)
    providers = raw.get("providers", [])
    if not isinstance(providers, list) or not all(isinstance(p, (str, dict)) for p in providers):
        raise r.fail("session", 0, "providers", "must be a list of names, GUIDs or tables", label)
    prescan = raw.get("prescan_processes", False)
    if not isinstance(prescan, bool):
        raise r.fail("session", 0, "prescan_processes", "must be true or false", label)
    for i, provider in enumerate(providers):
        _check_provider(r, provider, i)
    return SessionConfig(
        etl=None if etl is None else r.resolve(etl),
        speed=float(speed) if speed is not None else None,
        providers=tuple(providers),
        kernel=kernel,
        preset=preset,
        manifests=tuple(
            r.resolve(m)
            for m in _strings(r, raw.get("manifests", []), "session", 0, "manifests", label)
        ),
        prescan_processes=prescan,
    )


def _check_provider(r: _Reader, raw: Any, index: int) -> None:
    """A provider entry builds (see ``session.provider_objects``), or a ConfigError."""
    from pyetwkit.automation.sources import provider_object

    try:
        provider_object(raw)
    except (TypeError, ValueError) as e:
        raise r.fail("session", 0, "providers", f"[{index}]: {e}", "session.") from None


RULE_KEYS = {"name", "sigma", "sigma_inline", "levels", "statuses", "tags", "trigger"} | POLICY_KEYS


def _trigger(r: _Reader, raw: Any, index: int, label: str) -> Filter:
    try:
        return compile_trigger(raw)
    except TriggerError as e:
        raise r.fail("rule", index, e.key, e.why, label) from None


def _sigma(
    r: _Reader, index: int, label: str, paths: tuple[str, ...], inline: str | None, raw: Any
) -> RuleSet | None:
    """The rule's Sigma rules, loaded now: a path that is missing or a source that
    yields no rule at all is an error; rules rejected among others are kept in
    ``RuleSet.rejected`` (``--check`` lists them)."""
    if not paths and inline is None:
        return None
    levels, statuses, tags = (
        list(_strings(r, raw.get(k, []), "rule", index, k, label)) or None
        for k in ("levels", "statuses", "tags")
    )
    if inline is not None and (levels or statuses or tags):
        raise r.fail("rule", index, "levels", "levels, statuses and tags filter sigma files, "
                     "not sigma_inline", label)  # fmt: skip
    if paths and inline is not None:
        raise r.fail("rule", index, "sigma_inline", "give sigma or sigma_inline, not both", label)
    if paths:
        resolved = [r.resolve(p) for p in paths]
        for given, path in zip(paths, resolved, strict=True):
            if not os.path.exists(path):
                raise r.fail("rule", index, "sigma", f"{given!r}: no such file or folder", label)
        rule_set = RuleSet.load(resolved, levels=levels, statuses=statuses, tags=tags)
    else:
        rule_set = RuleSet.from_yaml(inline or "")
    if len(rule_set) == 0:
        why = "; ".join(f"{src}: {reason}" for src, reason in rule_set.rejected[:3])
        key = "sigma_inline" if inline is not None and not paths else "sigma"
        raise r.fail("rule", index, key, f"no Sigma rule loaded ({why or 'none found'})", label)
    return rule_set


def _rule(r: _Reader, index: int, raw: Any) -> Rule:
    label = f"rule[{index}]."
    if not isinstance(raw, dict):
        raise r.fail("rule", index, "", "must be a table", label)
    r.known(raw, RULE_KEYS, "rule", index, label)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise r.fail("rule", index, "name", "every rule needs a name", label)
    sigma = _strings(r, raw.get("sigma", []), "rule", index, "sigma", label)
    inline = raw.get("sigma_inline")
    if inline is not None and not isinstance(inline, str):
        raise r.fail("rule", index, "sigma_inline", "must be Sigma YAML text", label)
    trigger = _trigger(r, raw["trigger"], index, label) if "trigger" in raw else None
    if not (sigma or inline is not None or trigger):
        raise r.fail(
            "rule", index, "name", "selects nothing: give sigma, sigma_inline or trigger", label
        )
    return Rule(
        name=name,
        sigma=sigma,
        sigma_inline=inline,
        levels=_strings(r, raw.get("levels", []), "rule", index, "levels", label),
        statuses=_strings(r, raw.get("statuses", []), "rule", index, "statuses", label),
        tags=_strings(r, raw.get("tags", []), "rule", index, "tags", label),
        trigger=dict(raw["trigger"]) if trigger is not None else None,
        policy=_policy(r, raw, "rule", index, label, Policy()),
        line=r.lines.of("rule", index),
        filter=trigger,
        rule_set=_sigma(r, index, label, sigma, inline, raw),
    )


ACTION_KEYS = {"name", "rule", "rules", "cwd", "env", *ACTION_KINDS} | POLICY_KEYS


def _action(r: _Reader, index: int, raw: Any, rule_names: set[str], allow_http: bool) -> Action:
    label = f"action[{index}]."
    if not isinstance(raw, dict):
        raise r.fail("action", index, "", "must be a table", label)
    r.known(raw, ACTION_KEYS, "action", index, label)
    if "rule" in raw and "rules" in raw:
        raise r.fail("action", index, "rules", "give rule or rules, not both", label)
    bound = _strings(r, raw.get("rule", raw.get("rules", [])), "action", index, "rule", label)
    if not bound:
        raise r.fail("action", index, "rule", "an action needs the rule(s) it runs for", label)
    for name in bound:
        if name not in rule_names:
            raise r.fail("action", index, "rule", f"no rule is named {name!r}", label)
    kinds = [k for k in ACTION_KINDS if k in raw]
    if len(kinds) != 1:
        raise r.fail("action", index, "", f"give exactly one of {', '.join(ACTION_KINDS)}", label)
    kind = kinds[0]
    spec = raw[kind]
    if kind == "exec":
        if not isinstance(spec, list) or not spec or not all(isinstance(a, str) for a in spec):
            raise r.fail(
                "action", index, "exec", "must be an argv list of strings (never a shell)", label
            )
        cwd, env = raw.get("cwd"), raw.get("env", {})
        if cwd is not None and not isinstance(cwd, str):
            raise r.fail("action", index, "cwd", "must be a folder's path", label)
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise r.fail("action", index, "env", "must be a table of strings", label)
        # Commands run in the file's folder unless cwd says otherwise.
        spec = {"argv": list(spec), "cwd": r.resolve(cwd or "."), "env": env}
    elif kind == "http":
        if not allow_http:
            raise r.fail(
                "action", index, "http",
                "webhooks are off: set [security] allow_http = true to allow them", label,
            )  # fmt: skip
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            raise r.fail("action", index, "http", "must be a table with a url", label)
        r.known(spec, {"url", "method", "headers", "body"}, "action", index, f"{label}http.")
        if not spec["url"].startswith(("http://", "https://")):
            raise r.fail("action", index, "http.url", "must be an http:// or https:// URL", label)
        if spec.get("method", "POST") not in HTTP_METHODS:
            raise r.fail(
                "action", index, "http.method", f"must be one of {', '.join(HTTP_METHODS)}", label
            )
        headers = spec.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise r.fail("action", index, "http.headers", "must be a table of strings", label)
    elif kind == "log":
        if spec is True:
            spec = {}
        if not isinstance(spec, dict):
            raise r.fail("action", index, "log", "must be true or a table", label)
        r.known(
            spec,
            {"level", "message", "file", "max_bytes", "backups"},
            "action",
            index,
            f"{label}log.",
        )
        if spec.get("level", "info") not in LOG_LEVELS:
            raise r.fail(
                "action", index, "log.level", f"must be one of {', '.join(LOG_LEVELS)}", label
            )
        for key, least in (("max_bytes", 1), ("backups", 0)):
            value = spec.get(key, least)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise r.fail("action", index, f"log.{key}", f"must be an integer >= {least}", label)
        for key in ("message", "file"):
            if key in spec and not isinstance(spec[key], str):
                raise r.fail("action", index, f"log.{key}", "must be a string", label)
    else:
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise r.fail("action", index, "script", "must be a path or a table with a path", label)
        r.known(spec, {"path", "args"}, "action", index, f"{label}script.")
        args = spec.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise r.fail("action", index, "script.args", "must be a list of strings", label)
        spec = {"path": r.resolve(spec["path"]), "args": args, "cwd": r.resolve(".")}
    for key in ("cwd", "env"):
        if key in raw and kind != "exec":
            raise r.fail("action", index, key, "applies to exec actions only", label)
    name = raw.get("name", f"{kind}-{index}")
    if not isinstance(name, str):
        raise r.fail("action", index, "name", "must be a string", label)
    return Action(
        name=name,
        rules=bound,
        kind=kind,
        spec=dict(spec),
        policy=_policy(r, raw, "action", index, label, Policy()),
        line=r.lines.of("action", index),
    )
