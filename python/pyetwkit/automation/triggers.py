"""A rule's ``trigger`` table compiled to a :mod:`pyetwkit.filters` expression,
so that simple triggers are evaluated in Rust like any filter. Keys in one table
must all hold; ``any``/``all`` combine tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyetwkit import filters as f
from pyetwkit.filters import Filter, join_filters

TRIGGER_KEYS = ("provider", "event", "process_name", "path", "property", "all", "any")
# A property test: exactly one of these (min and max may go together).
PROPERTY_TESTS = ("equals", "contains", "regex", "glob", "min", "max")


class TriggerError(ValueError):
    """A trigger key that cannot compile: ``key`` (dotted) and why."""

    def __init__(self, key: str, why: str) -> None:
        self.key, self.why = key, why
        super().__init__(f"{key}: {why}")


def _values(key: str, value: Any, kinds: tuple[type, ...]) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    ok = values and all(isinstance(v, kinds) and not isinstance(v, bool) for v in values)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise TriggerError(key, f"must be a {names} or a non-empty list of them")
    return values


def _checked(key: str, build: Callable[..., Filter], *args: Any) -> Filter:
    """``build(*args)``, its errors as a TriggerError naming ``key``."""
    try:
        return build(*args)
    except (TypeError, ValueError) as e:
        raise TriggerError(key, str(e)) from None


def _property(key: str, spec: Any) -> Filter:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise TriggerError(key, "must be a table with a name and one test")
    unknown = set(spec) - {"name", *PROPERTY_TESTS}
    if unknown:
        raise TriggerError(f"{key}.{sorted(unknown)[0]}", "unknown key")
    tests = [t for t in PROPERTY_TESTS if t in spec]
    name = spec["name"]
    if tests and set(tests) <= {"min", "max"}:
        return _checked(key, f.property_range, name, spec.get("min"), spec.get("max"))
    if len(tests) != 1:
        raise TriggerError(key, f"give one test: {', '.join(PROPERTY_TESTS[:4])} or min/max")
    test = tests[0]
    value = spec[test]
    if test == "equals":
        return _checked(key, f.property_equals, name, value)
    if not isinstance(value, str):
        raise TriggerError(f"{key}.{test}", "must be a string")
    build = {"contains": f.property_contains, "regex": f.property_regex, "glob": f.property_glob}
    return _checked(key, build[test], name, value)


def compile_trigger(raw: Any, key: str = "trigger") -> Filter:
    """The filter that ``raw`` (a trigger table) describes, or ``TriggerError``."""
    if not isinstance(raw, dict) or not raw:
        raise TriggerError(key, "must be a non-empty table")
    parts: list[Filter] = []
    for name, value in raw.items():
        at = f"{key}.{name}"
        if name == "provider":
            parts.append(_checked(at, f.provider, *_values(at, value, (str,))))
        elif name == "event":
            values = _values(at, value, (str, int))
            names = [v for v in values if isinstance(v, str)]
            ids = [v for v in values if isinstance(v, int)]
            chosen = [_checked(at, f.event_name, *names)] if names else []
            chosen += [_checked(at, f.event_id, *ids)] if ids else []
            parts.append(chosen[0] if len(chosen) == 1 else join_filters("any", " | ", chosen))
        elif name == "process_name":
            parts.append(_checked(at, f.process_glob, *_values(at, value, (str,))))
        elif name == "path":
            if not isinstance(value, dict) or set(value) != {"property", "glob"}:
                raise TriggerError(at, "must be a table {property, glob}")
            prop, pattern = value["property"], value["glob"]
            if not isinstance(prop, str) or not isinstance(pattern, str):
                raise TriggerError(at, "property and glob must be strings")
            parts.append(_checked(at, f.property_glob, prop, pattern))
        elif name == "property":
            parts.append(_property(at, value))
        elif name in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise TriggerError(at, "must be a non-empty list of trigger tables")
            inner = [compile_trigger(t, f"{at}[{i}]") for i, t in enumerate(value)]
            sep = " & " if name == "all" else " | "
            parts.append(inner[0] if len(inner) == 1 else join_filters(name, sep, inner))
        else:
            raise TriggerError(at, f"unknown key (known: {', '.join(TRIGGER_KEYS)})")
    return parts[0] if len(parts) == 1 else join_filters("all", " & ", parts)
