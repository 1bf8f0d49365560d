"""A plain-Python evaluator of filter specs: the reference the Rust filters are
checked against. Deliberately simple: one clause per rule of the filter docs."""

from __future__ import annotations

import uuid
from typing import Any, Protocol


class EventLike(Protocol):
    """What the reference reads of an event: an ``EtwEvent`` has all of it."""

    @property
    def provider_id(self) -> str: ...
    @property
    def provider_name(self) -> str | None: ...
    @property
    def event_id(self) -> int: ...
    @property
    def opcode(self) -> int: ...
    @property
    def level(self) -> int: ...
    @property
    def keywords(self) -> int: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def process_name(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def properties(self) -> dict[str, Any]: ...


def evaluate(spec: dict[str, Any], event: EventLike) -> bool:
    op = spec["op"]
    if op == "all":
        return all(evaluate(s, event) for s in spec["of"])
    if op == "any":
        return any(evaluate(s, event) for s in spec["of"])
    if op == "not":
        return not evaluate(spec["of"], event)
    if op == "provider":
        ids = {str(uuid.UUID(i)) for i in spec["ids"]}
        names = {n.lower() for n in spec["names"]}
        name = event.provider_name
        return event.provider_id in ids or (name is not None and name.lower() in names)
    if op == "event_id":
        return event.event_id in spec["ids"]
    if op == "opcode":
        return event.opcode in spec["opcodes"]
    if op == "max_level":
        return event.level <= spec["level"]
    if op == "keywords_any":
        return event.keywords & spec["mask"] != 0
    if op == "keywords_all":
        return event.keywords & spec["mask"] == spec["mask"]
    if op == "pid":
        return event.pid is not None and event.pid in spec["pids"]
    if op == "process_name":
        image = event.process_name
        return image is not None and image.lower() in {n.lower() for n in spec["names"]}
    if op == "process_glob":
        image = event.process_name
        return image is not None and any(glob_matches(p, image) for p in spec["patterns"])
    if op == "event_name":
        name = event.name
        return name is not None and name.lower() in {n.lower() for n in spec["names"]}
    if op == "property":
        value = event.properties.get(spec["name"])
        if value is None:
            return False
        test = spec["test"]
        kind = test["kind"]
        if kind == "equals":
            return bool(value == test["value"])
        if kind == "contains":
            return isinstance(value, str) and test["text"] in value
        if kind == "regex":
            import re

            return isinstance(value, str) and re.search(test["pattern"], value) is not None
        if kind == "glob":
            return isinstance(value, str) and glob_matches(test["pattern"], value)
        if kind == "range":
            lo, hi = test["min"], test["max"]
            return (
                isinstance(value, int | float)
                and (lo is None or value >= lo)
                and (hi is None or value <= hi)
            )
    raise ValueError(f"unknown filter op {op!r}")


def glob_matches(pattern: str, text: str) -> bool:
    """The filter docs' glob: whole text, case-insensitive; ``*`` any run, ``?``
    one character, ``[...]`` a class (``[!...]`` negated), ``{a,b}``
    alternatives; every other character (a backslash too) is itself."""
    import re

    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            out.append("[" + ("^" if negated else "") + body.replace("\\", "\\\\") + "]")
            i = end
        elif c == "{":
            end = pattern.index("}", i)
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(re.escape(o) for o in options) + ")")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(out), text, re.IGNORECASE | re.DOTALL) is not None
