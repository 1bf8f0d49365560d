"""Event filters, evaluated in Rust before events reach Python.

Build them with the functions here and combine them with ``&`` (all), ``|``
(any) and ``~`` (not)::

    from pyetwkit import filters as f

    wanted = f.provider("Microsoft-Windows-Kernel-Process") & f.event_id(1, 2) & ~f.pid(4)
    with pyetwkit.EtwListener(etl_file="trace.etl", filter=wanted) as listener:
        ...

A filter is a small expression tree; :meth:`Filter.to_spec` gives it as plain
data (what is sent to Rust), and ``repr`` shows it as code, which :func:`parse`
reads back (``parse(repr(x)) == x``): that is the ``--filter`` syntax of the
command line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from pyetwkit._core import check_filter

__all__ = [
    "Filter",
    "event_id",
    "event_name",
    "keywords_all",
    "keywords_any",
    "max_level",
    "opcode",
    "parse",
    "pid",
    "process_glob",
    "process_name",
    "property_contains",
    "property_equals",
    "property_glob",
    "property_range",
    "property_regex",
    "provider",
]

Spec = dict[str, Any]


class Filter:
    """A filter expression. Immutable; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ("_repr", "_spec")

    def __init__(self, spec: Spec, text: str) -> None:
        self._spec = spec
        self._repr = text

    def to_spec(self) -> Spec:
        """The expression as plain data: nested dicts with an ``op`` key."""
        return json.loads(json.dumps(self._spec))  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self._spec, separators=(",", ":"))

    def __and__(self, other: Filter) -> Filter:
        return _combine("all", " & ", self, other)

    def __or__(self, other: Filter) -> Filter:
        return _combine("any", " | ", self, other)

    def __invert__(self) -> Filter:
        inner = self._repr if self._spec["op"] not in ("all", "any") else f"({self._repr})"
        return Filter({"op": "not", "of": self._spec}, f"~{inner}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and self._spec == other._spec

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return self._repr


def _combine(op: str, sep: str, left: Filter, right: Filter) -> Filter:
    if not isinstance(right, Filter):
        return NotImplemented
    return join_filters(op, sep, (left, right))


def join_filters(op: str, sep: str, parts: Iterable[Filter]) -> Filter:
    items: list[Spec] = []
    texts: list[str] = []
    for part in parts:
        if part._spec["op"] == op:  # flatten a & b & c into one node
            items.extend(part._spec["of"])
            texts.append(part._repr)
        else:
            items.append(part._spec)
            other_op = part._spec["op"] in ("all", "any")
            texts.append(f"({part._repr})" if other_op else part._repr)
    return Filter({"op": op, "of": items}, sep.join(texts))


def require_filter(value: object) -> Filter | None:
    """``value`` as an optional filter, or ``TypeError`` naming what it is."""
    if value is None or isinstance(value, Filter):
        return value
    raise TypeError(f"filter must be a pyetwkit.filters.Filter, not {type(value).__name__}")


def _checked(spec: Spec, text: str) -> Filter:
    # Compile in Rust now, so a bad GUID or regex fails where it was written.
    check_filter(json.dumps(spec))
    return Filter(spec, text)


def _literal(value: object) -> str:
    """``repr`` of the plain value: an IntEnum or a str or float subclass has a
    repr of its own (``<Level.ERROR: 2>``), which would not read back as a literal."""
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return repr(plain(value))
    return repr(value)


def _args(values: Iterable[object]) -> str:
    return ", ".join(_literal(v) for v in values)


def _ints(name: str, values: tuple[int, ...], bits: int) -> list[int]:
    if not values:
        raise ValueError(f"{name}() needs at least one value")
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
            raise ValueError(f"{name}(): {v!r} is not a {bits}-bit unsigned integer")
    return list(values)


def provider(*ids_or_names: str) -> Filter:
    """Events of these providers, by GUID (any case, braces optional) or name,
    case-insensitively: a name matches exactly the events whose
    ``event.provider_name`` is that name (kernel class names such as ``Process``,
    TraceLogging providers, and manifest providers whose schema is known)."""
    if not ids_or_names:
        raise ValueError("provider() needs at least one GUID or name")
    ids: list[str] = []
    names: list[str] = []
    for value in ids_or_names:
        if not isinstance(value, str):
            raise TypeError(f"provider(): {value!r} is not a string (a GUID or a name)")
        try:
            ids.append(str(uuid.UUID(value.strip("{}"))))
        except ValueError:
            names.append(value)
    return _checked(
        {"op": "provider", "ids": ids, "names": names}, f"provider({_args(ids_or_names)})"
    )


def event_id(*ids: int) -> Filter:
    """Events with one of these event ids."""
    return _checked(
        {"op": "event_id", "ids": _ints("event_id", ids, 16)}, f"event_id({_args(ids)})"
    )


def event_name(*names: str) -> Filter:
    """Events with one of these names (``event.name``, case-insensitive):
    ``"Process/Start"`` for kernel events, a manifest or TraceLogging event's name."""
    return _checked(
        {"op": "event_name", "names": _texts("event_name", names)}, f"event_name({_args(names)})"
    )


def opcode(*opcodes: int) -> Filter:
    """Events with one of these opcodes (for kernel events, the hook's type)."""
    spec = {"op": "opcode", "opcodes": _ints("opcode", opcodes, 8)}
    return _checked(spec, f"opcode({_args(opcodes)})")


def max_level(level: int) -> Filter:
    """Events at this level or more severe (1 critical, 2 error, 3 warning,
    4 information, 5 verbose; level 0 events always pass)."""
    (value,) = _ints("max_level", (level,), 8)
    return _checked({"op": "max_level", "level": value}, f"max_level({_literal(level)})")


def keywords_any(mask: int) -> Filter:
    """Events with any of these keyword bits."""
    (value,) = _ints("keywords_any", (mask,), 64)
    return _checked({"op": "keywords_any", "mask": value}, f"keywords_any({int(value):#x})")


def keywords_all(mask: int) -> Filter:
    """Events with all of these keyword bits."""
    (value,) = _ints("keywords_all", (mask,), 64)
    return _checked({"op": "keywords_all", "mask": value}, f"keywords_all({int(value):#x})")


def pid(*pids: int) -> Filter:
    """Events of these process ids (events without a pid never match)."""
    return _checked({"op": "pid", "pids": _ints("pid", pids, 32)}, f"pid({_args(pids)})")


def process_name(*names: str) -> Filter:
    """Events of processes with this image name (``"notepad.exe"``,
    case-insensitive), known from the kernel Process events seen so far."""
    if not names:
        raise ValueError("process_name() needs at least one name")
    return _checked({"op": "process_name", "names": list(names)}, f"process_name({_args(names)})")


def process_glob(*patterns: str) -> Filter:
    """Events of processes whose image name matches one of these glob patterns
    (``"power*.exe"``; see :func:`property_glob` for the syntax)."""
    spec = {"op": "process_glob", "patterns": _texts("process_glob", patterns)}
    return _checked(spec, f"process_glob({_args(patterns)})")


def _texts(name: str, values: tuple[str, ...]) -> list[str]:
    if not values:
        raise ValueError(f"{name}() needs at least one value")
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"{name}(): {v!r} is not a string")
    return list(values)


def _property(name: str, test: Spec, text: str) -> Filter:
    return _checked({"op": "property", "name": name, "test": test}, text)


def property_equals(name: str, value: str | int | float | bool | None) -> Filter:
    """A decoded payload property equals ``value`` (1 and 1.0 are equal)."""
    return _property(
        name, {"kind": "equals", "value": value}, f"property_equals({_args((name, value))})"
    )


def property_contains(name: str, text: str) -> Filter:
    """A decoded string property contains ``text`` (case-sensitive)."""
    return _property(
        name, {"kind": "contains", "text": text}, f"property_contains({_args((name, text))})"
    )


def property_regex(name: str, pattern: str) -> Filter:
    """A decoded string property matches ``pattern`` (Rust regex syntax, searched
    anywhere in the value; anchor with ``^`` and ``$``)."""
    return _property(
        name, {"kind": "regex", "pattern": pattern}, f"property_regex({_args((name, pattern))})"
    )


def property_glob(name: str, pattern: str) -> Filter:
    """A decoded string property matches the glob ``pattern`` as a whole,
    case-insensitively: ``*`` any run of characters (path separators included),
    ``?`` one character, ``[abc]`` a class, ``{a,b}`` alternatives; a backslash
    is a literal character, so Windows paths read as written:
    ``property_glob("FileName", "*\\System32\\*.dll")``."""
    return _property(
        name, {"kind": "glob", "pattern": pattern}, f"property_glob({_args((name, pattern))})"
    )


def property_range(name: str, min: float | None = None, max: float | None = None) -> Filter:
    """A decoded numeric property within ``[min, max]``; either bound may be omitted."""
    if min is None and max is None:
        raise ValueError("property_range() needs min, max or both")
    return _property(
        name,
        {"kind": "range", "min": min, "max": max},
        f"property_range({_literal(name)}, min={_literal(min)}, max={_literal(max)})",
    )


def parse(text: str) -> Filter:
    """The filter ``text`` writes in the syntax ``repr`` prints, for example
    ``"(provider('Microsoft-Windows-Kernel-Process') & event_id(1, 2)) | ~pid(4)"``:
    calls of this module's filter functions (without a module prefix) with
    string, number, ``True``, ``False`` and ``None`` arguments, combined with
    ``&``, ``|``, ``~`` and parentheses.

    The text is never evaluated. Anything else, a syntax error, more than 64 KiB
    of text or more than 100 levels of nesting raise ``ValueError`` saying where;
    errors of the filter functions themselves (an event id above 65535) keep
    their message.
    """
    # The reader needs ast, which costs import time: load it when used.
    from pyetwkit._filter_text import parse_filter

    return parse_filter(text)
