"""Differential tests: pyetwkit.sigma (the Rust engine) against the plain-Python
reference (tests/sigma_reference.py) on generated rules and events.

Rules are random detections using every supported modifier, keywords and condition
form, sometimes made invalid on purpose; events are derived from the rule's own
values (exact witnesses, and mutations of them) so both matches and misses are common.
One generator serves hypothesis (a `Chooser` over `draw`, so failures shrink) and a
seeded `random.Random` (for the balance test, which checks that the generator keeps
producing positives, negatives, rejections and every feature)."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from pyetwkit import sigma
from sigma_reference import (
    WINDASH,
    RuleError,
    Special,
    compile_field_test,
    compile_rule,
    parse_wildcards,
    string_form,
)

T = TypeVar("T")
Scalar = str | int | float | bool | None
Event = dict[str, Scalar]
Token = str | Special  # as in sigma_reference, plus placeholder references below

# ------------------------------------------------------------------ choosers


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...


class DrawChooser:
    """Choices drawn by hypothesis: each shrinks towards its first/smallest option."""

    def __init__(self, draw: Callable[[st.SearchStrategy[int]], int]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


class RandomChooser:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


def pick(c: Chooser, items: Sequence[T]) -> T:
    return items[c.integer(0, len(items) - 1)]


def chance(c: Chooser, p: float) -> bool:
    # Shrinks to False: optional features go away first.
    return c.integer(0, 99) >= 100 - round(p * 100)


# -------------------------------------------------------------- text helpers

# ASCII plus the dashes and a few Latin-1 letters whose lower() agrees everywhere.
LETTERS = "abcdxyzABCDXYZéàÉÀ"
TEXT = LETTERS + "0159 ._:\\/-" + WINDASH[2:]
FILLER = "abxyzAZ09 ._é-"
FIELDS = ("CommandLine", "Image", "User", "EventID", "Port", "Ip", "Hash", "Status")
PLACEHOLDER_NAMES = ("Admins", "Servers", "Ws")


def text(c: Chooser, lo: int, hi: int, alphabet: str = FILLER) -> str:
    return "".join(pick(c, alphabet) for _ in range(c.integer(lo, hi)))


def flip_case(c: Chooser, s: str) -> str:
    """Some characters' case swapped (one draw for the lot)."""
    if not s:
        return s
    mask = c.integer(0, 2 ** min(len(s), 24) - 1)
    return "".join(ch.swapcase() if mask >> (i % 24) & 1 else ch for i, ch in enumerate(s))


@dataclass(frozen=True)
class Ref:
    """A `%name%` placeholder reference inside an expand value."""

    name: str


def gen_tokens(
    c: Chooser, lo: int, hi: int, *, wild: bool = True, alphabet: str = TEXT, max_dashes: int = 3
) -> list[Token]:
    out: list[Token] = []
    for _ in range(c.integer(lo, hi)):
        r = c.integer(0, 99)
        if wild and r < 8:
            out.append(Special.ANY)
        elif wild and r < 14:
            out.append(Special.ONE)
        elif r < 16:
            out.append(pick(c, "*?\\"))  # literal characters that need escaping
        else:
            out.append(pick(c, alphabet))
    return limit_dashes(out, max_dashes)


def limit_dashes(tokens: list[Token], most: int = 3) -> list[Token]:
    # windash expands every dash into five: keep the permutations few.
    dashes = [i for i, t in enumerate(tokens) if isinstance(t, str) and t in WINDASH]
    for i in dashes[most:]:
        tokens[i] = "a"
    return tokens


def render(tokens: Sequence[Token | Ref], c: Chooser, *, expand: bool = False) -> str:
    """Rule text that parses back to ``tokens`` under the escaping rules; a backslash
    is written single where that is unambiguous (sometimes), double otherwise."""
    pieces: list[str] = []
    for t in tokens:
        if isinstance(t, Ref):
            pieces.append(f"%{t.name}%")
        elif t is Special.ANY:
            pieces.append("*")
        elif t is Special.ONE:
            pieces.append("?")
        elif t is Special.PERCENT or (expand and t == "%"):
            pieces.append("\\%")
        elif t in ("*", "?"):
            pieces.append("\\" + str(t))
        else:
            pieces.append(str(t))
    out = []
    for i, p in enumerate(pieces):
        nxt = pieces[i + 1][:1] if i + 1 < len(pieces) else ""
        special_next = nxt in ("*", "?", "\\") or (expand and nxt == "%")
        if p == "\\" and (special_next or chance(c, 0.5)):
            p = "\\\\"
        out.append(p)
    return "".join(out)


def instantiate(c: Chooser, tokens: Sequence[Token], sloppy: float = 0.0) -> str:
    """A string the tokens match exactly (wildcards filled in at random), or, with
    probability ``sloppy`` for each `?`, a near miss with no or two characters there."""
    out = []
    for t in tokens:
        if t is Special.ANY:
            out.append(text(c, 0, 3))
        elif t is Special.ONE:
            out.append(text(c, 0, 2) if chance(c, sloppy) else pick(c, FILLER))
        elif t is Special.PERCENT:
            out.append("%")
        else:
            out.append(str(t))
    return "".join(out)


def swap_dashes(c: Chooser, s: str) -> str:
    return "".join(pick(c, WINDASH) if ch in WINDASH else ch for ch in s)


def mutate(c: Chooser, v: Scalar) -> Scalar:
    """A near miss (or sometimes an equivalent in another type) of an event value."""
    options: list[Scalar]
    if v is None:
        options = ["", "null", 0]
    elif isinstance(v, bool):
        options = [not v, str(string_form(v)), str(string_form(v)).upper(), int(v)]
    elif isinstance(v, int):
        options = [v + 1, v - 1, str(v), float(v), f"{v} ", f"0{v}", True]
    elif isinstance(v, float):
        options = [v + 0.25, repr(v), f"{v}0", *([int(v)] if v.is_integer() else [])]
    else:
        return mutate_text(c, v)
    return pick(c, options)


def mutate_text(c: Chooser, v: str) -> Scalar:
    """A text with one small change (or a number, where it is all digits)."""
    if v.isdigit() and len(v) < 12:
        return int(v)
    if not v:
        return pick(c, [" ", "a", None])
    i = c.integer(0, len(v) - 1)
    op = c.integer(0, 5)
    if op == 0:
        return v[:i] + v[i + 1 :]  # drop a character
    if op == 1:
        return v[:i] + pick(c, FILLER) + v[i + 1 :]  # change one
    if op == 2:
        return v[:i] + pick(c, FILLER) + v[i:]  # insert one
    if op == 3:
        return flip_case(c, v)
    if op == 4:
        return swap_dashes(c, v) if any(ch in WINDASH for ch in v) else v + "-"
    return v + pick(c, [" ", "x", "\\"])


# ------------------------------------------------------------------- context


@dataclass
class Context:
    """What the rule generator learns for building events: candidate values per
    field (witnesses; mutations are made per event), how often to leave a field out,
    field pairs to copy (fieldref), and texts that satisfy keywords."""

    placeholders: dict[str, list[str]] | None
    pools: dict[str, list[Scalar]] = field(default_factory=dict)
    absent: dict[str, float] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    keyword_texts: list[list[str]] = field(default_factory=list)

    def offer(self, name: str, *values: Scalar) -> None:
        self.pools.setdefault(name, []).extend(values)
        self.absent.setdefault(name, 0.12)


def gen_placeholders(c: Chooser) -> dict[str, list[str]]:
    # Placeholder values are rule strings (wildcards work) without backslash or %.
    alphabet = LETTERS + "0159 ._-"
    return {
        name: [render(gen_tokens(c, 1, 5, alphabet=alphabet), c) for _ in range(c.integer(1, 3))]
        for name in PLACEHOLDER_NAMES
    }


# -------------------------------------------------------------- field tests
# Each returns (key, value) and offers event values that satisfy it.


def plain_string_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    values = [gen_tokens(c, 0 if chance(c, 0.1) else 1, 8) for _ in range(c.integer(1, 3))]
    cased = chance(c, 0.2)
    for toks in values:
        s = instantiate(c, toks, sloppy=0.2)
        ctx.offer(name, s if cased else flip_case(c, s))
    if chance(c, 0.1):  # a placeholder-looking value without expand is literal text
        values[0] = [*"%Admins%"]
        ctx.offer(name, "%admins%")
    rendered = [render(t, c) for t in values]
    return name + ("|cased" if cased else ""), rendered[0] if len(rendered) == 1 else rendered


def wrap_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    wrap = pick(c, ["contains", "contains", "startswith", "endswith"])
    use_all = wrap == "contains" and chance(c, 0.35)
    windash = chance(c, 0.3)
    n = c.integer(2, 3) if use_all else c.integer(1, 2)
    values = [gen_tokens(c, 1, 6) for _ in range(n)]
    mods = [wrap]
    if windash:
        mods.insert(c.integer(0, 1), "windash")
    if use_all:
        mods.insert(c.integer(0, len(mods)), "all")
    cased = chance(c, 0.2)
    if cased:
        mods.insert(c.integer(0, len(mods)), "cased")
    parts = [instantiate(c, t, sloppy=0.1) for t in values]
    if use_all:  # every value somewhere, in any order
        order = sorted(range(n), key=lambda _: c.integer(0, 9))
        witnesses = [text(c, 0, 2).join(parts[i] for i in order)]
    else:
        witnesses = parts
    for w in witnesses:
        before = text(c, 0, 3) if wrap != "startswith" else ""
        after = text(c, 0, 3) if wrap != "endswith" else ""
        w = before + w + after
        w = swap_dashes(c, w) if windash else w
        ctx.offer(name, w if cased else flip_case(c, w))
    rendered = [render(t, c) for t in values]
    return "|".join([name, *mods]), rendered[0] if n == 1 else rendered


def windash_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    toks = gen_tokens(c, 1, 4, wild=False)
    for _ in range(c.integer(1, 3)):
        toks.insert(c.integer(0, len(toks)), pick(c, WINDASH))
    toks = limit_dashes(toks)
    ctx.offer(name, swap_dashes(c, instantiate(c, toks)), instantiate(c, toks))
    return name + "|windash", render(toks, c)


NUMBERS = [0, 1, 5, 42, 443, 4624, 5985, 65535, -3, 2**31]


def number_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    values: list[Any] = []
    for _ in range(c.integer(1, 2)):
        kind = c.integer(0, 3)
        if kind == 0:
            values.append(c.integer(-8, 8) / 4)  # floats with short reprs, 2.0 included
        elif kind == 1:
            values.append(str(pick(c, NUMBERS)))  # a quoted number is a string
        else:
            values.append(pick(c, NUMBERS))
    for v in values:
        n = float(v) if isinstance(v, str) else v
        ctx.offer(name, v, str(v), n, float(n), repr(float(n)))
        if float(n).is_integer():
            ctx.offer(name, int(n))
    return name, values[0] if len(values) == 1 else values


def bool_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    v = chance(c, 0.5)
    value: Any = pick(c, [v, v, str(string_form(v))])
    ctx.offer(name, v, not v, str(string_form(v)).upper(), int(v))
    return name, value


def null_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    ctx.offer(name, "", text(c, 1, 3))
    ctx.absent[name] = 0.5
    return name, None


def empty_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    ctx.offer(name, "", "", " ")
    return name, ""


def exists_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    ctx.offer(name, text(c, 0, 3), None)
    ctx.absent[name] = 0.45
    return name + "|exists", chance(c, 0.5)


QUANTIFIERS = [("", 1, 1)] * 4 + [("*", 0, 3), ("+", 1, 3), ("?", 0, 1), ("{1,2}", 1, 2)]
# A class and characters to fill it with, one of which it may refuse.
REGEX_CLASSES = [("[a-z]", "abcxyzAB"), ("[^a-z]", "XYZ019-"), ("[0-9]", "0123456789")]


def regex_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    flags = [f for f in "ims" if chance(c, 0.3)]
    if chance(c, 0.5):
        flags = sorted(flags, key=lambda _: c.integer(0, 9))
    source, sample = [], []
    for _ in range(c.integer(1, 4)):
        # An atom and the texts one repetition of it may match (with a wrong one or
        # two among them: "[a-z]" meets "A", which only `i` accepts).
        kind = c.integer(0, 9)
        if kind <= 3:
            atom = pick(c, "abcxyzABC019_- ")
            choices = [atom]
        elif kind <= 5:
            atom, choices = ".", [*FILLER, *("\n" if "s" in flags else "")]
        elif kind <= 7:
            atom, chars = pick(c, REGEX_CLASSES)
            choices = [*chars]
        else:
            choices = [text(c, 1, 3, "abxyAB01") for _ in range(c.integer(2, 3))]
            atom = "(" + "|".join(choices) + ")"
        quant, lo, hi = pick(c, QUANTIFIERS)
        source.append(atom + quant)
        sample.append("".join(pick(c, choices) for _ in range(c.integer(lo, hi))))
    start, end = chance(c, 0.25), chance(c, 0.25)
    pattern = ("^" if start else "") + "".join(source) + ("$" if end else "")
    multi = "m" in flags
    prefix = "" if start and not multi else text(c, 0, 2) + ("\n" if start else "")
    suffix = "" if end and not multi else ("\n" if end else "") + text(c, 0, 2)
    witness = prefix + "".join(sample) + suffix
    ctx.offer(name, witness, flip_case(c, witness))  # the second matches only with `i`
    return "|".join([name, "re", *flags]), pattern


def compare_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    op = pick(c, ["lt", "lte", "gt", "gte"])
    n: int | float = pick(c, NUMBERS[:8]) if chance(c, 0.7) else c.integer(-20, 20) / 4
    values: list[Any] = [n]
    if chance(c, 0.2):
        values.append(pick(c, NUMBERS[:8]))
    ctx.offer(name, n, n + 1, n - 1, n + 0.25, str(n), f"+{n}", f" {n}", f"{n} ", f"{n}e0", True)
    ctx.offer(name, repr(float(n)), f"{float(n)}".rstrip("0"), str(n - 1))
    return f"{name}|{op}", values[0] if len(values) == 1 else values


def neq_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    if chance(c, 0.3):
        values: list[Any] = [pick(c, NUMBERS) for _ in range(c.integer(1, 2))]
        for v in values:
            ctx.offer(name, v, str(v), v + 1)
        key = name + "|neq"
    else:
        toks = [gen_tokens(c, 1, 5) for _ in range(c.integer(1, 2))]
        wrap = pick(c, ["", "", "contains", "startswith"])
        for t in toks:
            s = instantiate(c, t)
            ctx.offer(name, flip_case(c, s), s + "x", text(c, 1, 4))
        values = [render(t, c) for t in toks]
        key = "|".join([name, *([wrap] if wrap else []), "neq"])
    return key, values[0] if len(values) == 1 else values


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "": lambda s: s.encode(),
    "wide": lambda s: s.encode("utf-16-le"),
    "utf16le": lambda s: s.encode("utf-16-le"),
    "utf16be": lambda s: s.encode("utf-16-be"),
    "utf16": lambda s: b"\xff\xfe" + s.encode("utf-16-le"),
}


def base64_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    enc = pick(c, ["", "", "", "wide", "utf16le", "utf16be", "utf16"])
    kind = pick(c, ["base64offset|contains"] * 3 + ["base64", "base64|contains"])
    toks = gen_tokens(c, 3, 8, wild=False)  # wildcards do not survive base64
    plain = instantiate(c, toks)
    data = ENCODINGS[enc](plain)
    # A near miss: the same text in another of the encodings (for utf16, without BOM).
    other = ENCODINGS["wide" if enc == "utf16" else pick(c, [e for e in ENCODINGS if e != enc])](
        plain
    )
    ctx.offer(name, base64.b64encode(other).decode())
    for _ in range(2):
        if kind == "base64":
            w = base64.b64encode(data).decode()
        elif kind == "base64|contains":
            w = text(c, 0, 3) + base64.b64encode(data).decode() + text(c, 0, 3)
        else:  # the value somewhere inside an encoded text
            around = ENCODINGS[enc if enc != "utf16" else "wide"]
            raw = around(text(c, 0, 4)) + data + around(text(c, 0, 4))
            w = text(c, 0, 2) + base64.b64encode(raw).decode()
        ctx.offer(name, w if chance(c, 0.7) else flip_case(c, w))
    return "|".join([name, *([enc] if enc else []), kind]), render(toks, c)


def cidr_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    v6 = chance(c, 0.35)
    bits = 128 if v6 else 32
    cls: Any = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
    prefix = pick(c, [0, 8, 16, 24, 32, 48, 64, 120, bits]) if v6 else pick(c, [0, 8, 16, 24, 32])
    host = cls(c.integer(0, 2**bits - 1))
    net = ipaddress.ip_network(f"{host}/{prefix}", strict=False)
    # Host bits are allowed in the rule (strict=False), so sometimes write them.
    written = f"{host}/{prefix}" if chance(c, 0.3) else str(net)
    for _ in range(3):
        inside = cls(int(net.network_address) + c.integer(0, net.num_addresses - 1))
        outside = cls((int(net.network_address) + net.num_addresses) % 2**bits)
        for ip in (inside, outside):
            ctx.offer(name, ip.exploded.upper() if v6 and chance(c, 0.3) else str(ip))
    ctx.offer(name, "10.0.0.256", int(host) if not v6 else "::g")  # event ints stay small
    return f"{name}|cidr", written


def fieldref_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    others = [f for f in FIELDS if f != name]
    refs = [pick(c, others) for _ in range(c.integer(1, 2))]
    refs = list(dict.fromkeys(refs))
    mods = ["fieldref"]
    if chance(c, 0.25):
        mods.insert(c.integer(0, 1), "cased")
    s = text(c, 1, 4)
    ctx.offer(name, s, flip_case(c, s), 5, "5")
    for r in refs:
        ctx.offer(r, s, 5.0, "5")
        ctx.links.append((name, r))
    return "|".join([name, *mods]), refs[0] if len(refs) == 1 else refs


def expand_test(c: Chooser, ctx: Context, name: str) -> tuple[str, Any]:
    ph = ctx.placeholders or {}
    parts: list[Token | Ref] = []
    for _ in range(c.integer(1, 3)):
        r = c.integer(0, 9)
        if r < 5:
            parts.append(Ref(pick(c, PLACEHOLDER_NAMES)))
        elif r < 7:
            parts.append(Special.PERCENT)  # `\%`: a plain percent
        else:
            parts.extend(gen_tokens(c, 1, 3, alphabet=TEXT + "%"))
    if not any(isinstance(p, Ref) for p in parts):
        parts.append(Ref(pick(c, PLACEHOLDER_NAMES)))
    wrap = pick(c, ["", "", "contains"])
    for _ in range(2):
        pieces = []
        for p in parts:
            if isinstance(p, Ref):
                values = ph.get(p.name, ["?"])
                pieces.append(instantiate(c, parse_wildcards(pick(c, values))))
            else:
                pieces.append(instantiate(c, [p]))
        w = "".join(pieces)
        ctx.offer(name, flip_case(c, text(c, 0, 2) + w if wrap else w))
    mods = ["expand", wrap] if wrap and chance(c, 0.5) else [wrap, "expand"]
    return "|".join([name, *(m for m in mods if m)]), render(parts, c, expand=True)


FIELD_TESTS: list[tuple[int, Callable[[Chooser, Context, str], tuple[str, Any]]]] = [
    (6, plain_string_test),
    (8, wrap_test),
    (2, windash_test),
    (4, number_test),
    (1, bool_test),
    (1, null_test),
    (1, empty_test),
    (2, exists_test),
    (4, regex_test),
    (4, compare_test),
    (2, neq_test),
    (4, base64_test),
    (2, cidr_test),
    (2, fieldref_test),
    (2, expand_test),
]


def field_test(c: Chooser, ctx: Context) -> tuple[str, Any]:
    name = pick(c, FIELDS)
    weighted = [f for w, f in FIELD_TESTS for _ in range(w)]
    return pick(c, weighted)(c, ctx, name)


# ------------------------------------------------------ identifiers and rules


def keyword_values(c: Chooser, ctx: Context, n: int) -> list[Any]:
    values: list[Any] = []
    found = []
    for _ in range(n):
        if chance(c, 0.15):
            v = pick(c, NUMBERS)
            values.append(v)
            found.append(str(v))
        else:
            toks = gen_tokens(c, 2, 6)
            values.append(render(toks, c))
            found.append(flip_case(c, instantiate(c, toks, sloppy=0.1)))
    ctx.keyword_texts.append(found)
    return values


def gen_identifier(c: Chooser, ctx: Context) -> Any:
    kind = c.integer(0, 19)
    if kind < 11:
        return gen_map(c, ctx)
    if kind < 15:
        return [gen_map(c, ctx) for _ in range(c.integer(1, 3))]
    if kind < 18:
        return keyword_values(c, ctx, c.integer(1, 3))
    return {"|all": keyword_values(c, ctx, c.integer(2, 3))}


def gen_map(c: Chooser, ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _ in range(pick(c, [1, 1, 1, 1, 2, 2, 2, 3])):
        key, value = field_test(c, ctx)
        out.setdefault(key, value)  # YAML maps cannot repeat a key
    return out


def name_pattern(c: Chooser, names: Sequence[str]) -> str:
    """A `x of` target: `them`, or a pattern built from an existing name."""
    if chance(c, 0.2) and any(not n.startswith("_") for n in names):
        return "them"
    n = pick(c, names)
    k = c.integer(0, len(n))
    pattern = pick(c, [n[:k] + "*", "*" + n[k:], n, "*"])
    # Names match case-sensitively: a case-flipped pattern usually names nothing.
    return pattern.upper() if chance(c, 0.05) else pattern


def gen_condition(c: Chooser, names: Sequence[str], depth: int = 0) -> str:
    r = c.integer(0, 9) if depth < 3 else 0
    if r <= 3:
        if chance(c, 0.3):
            return f"{pick(c, ['1', 'all'])} of {name_pattern(c, names)}"
        return pick(c, names)
    if r <= 5:
        inner = gen_condition(c, names, depth + 1)
        return f"not {inner}" if chance(c, 0.6) else f"not ({inner})"
    op = pick(c, ["and", "or"])
    left, right = gen_condition(c, names, depth + 1), gen_condition(c, names, depth + 1)
    # Parentheses or none: any placement is grammatical, and precedence then decides.
    expr = f"{left} {op} {right}"
    return f"({expr})" if chance(c, 0.4) else expr


IDENTIFIER_NAMES = ("selection", "sel_a", "sel_b", "filter", "filter_x", "_hidden", "_x", "kw")
INVALID = (
    ("Status", ["", None]),  # null inside a list
    ("Status|contains|all", ["x"]),  # all with a single value
    ("Status|contains|all", "x"),
    ("Status|exists", "yes"),  # exists needs a bool
    ("Status|re|contains", "a"),  # re takes no string modifiers
    ("Status|contains|re", "a"),
    ("Status|lt", "5"),  # comparisons need a number
    ("Status|cidr", "10.0.0.0/33"),  # invalid networks
    ("Status|cidr", "not-an-ip"),
    ("Status|expand", "%Nope%"),  # unknown placeholder
    ("Status|re", "a(b"),  # invalid regexes
    ("Status|re", "[a-"),
    ("Status|startwith", "x"),  # unknown modifier
)


EVENTS = 8  # per rule: events are cheaper than rules to make and to check


@dataclass
class Case:
    rule: dict[str, Any]
    text: str
    placeholders: dict[str, list[str]] | None
    events: list[Event]


def gen_case(
    c: Chooser, placeholders: dict[str, list[str]] | None, rule_id: str, invalid_rate: float = 0.1
) -> Case:
    ctx = Context(placeholders)
    # Few identifiers and simple conditions most of the time, so that each field
    # test often decides the verdict (a deep and/or tree masks most of them).
    count = pick(c, [1, 1, 1, 1, 2, 2, 2, 3, 3, 4])
    names = sorted(IDENTIFIER_NAMES, key=lambda _: c.integer(0, 99))[:count]
    detection: dict[str, Any] = {n: gen_identifier(c, ctx) for n in names}
    if chance(c, 0.1):
        detection["condition"] = [gen_condition(c, names) for _ in range(2)]
    elif chance(c, 0.35):
        quantifier = pick(c, ["1", "all"])
        simple = [pick(c, names), f"{quantifier} of {name_pattern(c, names)}"]
        if any(not n.startswith("_") for n in names):
            simple.append(f"{quantifier} of them")
        detection["condition"] = pick(c, ["", "", "", "not "]) + pick(c, [simple[0], *simple])
    else:
        detection["condition"] = gen_condition(c, names)
    if chance(c, invalid_rate):
        r = c.integer(0, len(INVALID) + 2)
        if r < len(INVALID):
            key, value = INVALID[r]
            target = detection[pick(c, names)]
            target = target[0] if isinstance(target, list) else target
            if isinstance(target, dict) and "|all" not in target:
                target[key] = value
            else:
                detection[names[0]] = {key: value}
        elif r == len(INVALID):
            detection["condition"] = f"{pick(c, names)} and undefined_name"
        else:
            detection["condition"] = f"1 of nomatch* or {pick(c, names)}"
    rule = {
        "title": f"generated rule {rule_id[-4:]}",
        "id": rule_id,
        "status": "test",
        "logsource": {"product": "windows", "category": "test"},
        "detection": detection,
    }
    text = json.dumps(rule, ensure_ascii=False) if chance(c, 0.2) else to_yaml(rule)
    try:
        test: Callable[[Event], bool] | None = compile_rule(rule, placeholders)
    except RuleError:
        test = None
    events: list[Event] = []
    while len(events) < EVENTS:
        pair = sensitive_pair(c, ctx, gen_event(c, ctx), test) if chance(c, 0.6) else None
        events += pair or [gen_event(c, ctx)]
    return Case(rule, text, placeholders, events[:EVENTS])


def sensitive_pair(
    c: Chooser, ctx: Context, base: Event, test: Callable[[Event], bool] | None
) -> list[Event] | None:
    """Two events that differ in one field only and that the reference gives
    different verdicts, if the field's candidate values allow: with a random event
    alone, the rest of a detection often hides what one field test does."""
    names = [*ctx.pools, *(["Message"] if ctx.keyword_texts else [])]
    if test is None or not names:
        return None
    name = pick(c, names)
    if name == "Message":
        values: list[Scalar] = [keyword_message(c, ctx) for _ in range(4)]
    else:
        values = [*ctx.pools[name], *(mutate(c, v) for v in ctx.pools[name][:6]), None]
        for a, b in ctx.links:  # fieldref: the referenced field's value, in another case
            if b == name and isinstance(base.get(a), str):
                values += [base[a], flip_case(c, str(base[a]))]
    variants = [no_final_newline({**base, name: v}) for v in values]
    variants.append({k: v for k, v in base.items() if k != name})
    yes = [e for e in variants if test(e)]
    no = [e for e in variants if not test(e)]
    return [pick(c, yes), pick(c, no)] if yes and no else None


def keyword_message(c: Chooser, ctx: Context) -> str:
    """A text containing one or all the texts of a keyword identifier (or a near miss)."""
    found = pick(c, ctx.keyword_texts)
    chosen = found if chance(c, 0.6) else [pick(c, found)]
    if chance(c, 0.2):
        chosen = [str(mutate(c, chosen[0])), *chosen[1:]]
    return text(c, 0, 3).join(["", *chosen, ""])


def no_final_newline(event: Event) -> Event:
    # Python's `$` also matches before a final newline and Rust's does not; the
    # engine is promised no such values.
    return {k: v + "x" if isinstance(v, str) and v.endswith("\n") else v for k, v in event.items()}


def gen_event(c: Chooser, ctx: Context) -> Event:
    event: Event = {}
    for name, pool in ctx.pools.items():
        r = c.integer(0, 99)
        if r < ctx.absent[name] * 70:
            continue
        if r < ctx.absent[name] * 100:
            event[name] = None
            continue
        v = pick(c, pool)
        event[name] = mutate(c, v) if chance(c, 0.25) else v
    for a, b in ctx.links:  # fieldref: often the same text (in another case)
        if event.get(a) is not None and chance(c, 0.5):
            v = event[a]
            event[b] = flip_case(c, v) if isinstance(v, str) and chance(c, 0.7) else v
    if ctx.keyword_texts and chance(c, 0.8):
        event["Message"] = keyword_message(c, ctx)
    if chance(c, 0.3):
        event["Noise"] = pick(c, [text(c, 0, 5), c.integer(0, 9), None])
    return no_final_newline(event)


# ------------------------------------------------------------------------ YAML


def yaml_scalar(v: str | float | bool | None) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if any(not ch.isprintable() for ch in v):
        return json.dumps(v, ensure_ascii=False)  # double quotes, with escapes
    return "'" + v.replace("'", "''") + "'"  # Sigma style: backslashes as written


def to_yaml(obj: Any, indent: int = 0) -> str:
    """Block-style YAML, single-quoted strings (as Sigma rules are written)."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{yaml_scalar(k)}:\n{to_yaml(v, indent + 4)}")
            else:
                lines.append(f"{pad}{yaml_scalar(k)}: {yaml_scalar(v)}\n")
    else:
        for item in obj:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2 :]}")
            else:
                lines.append(f"{pad}- {yaml_scalar(item)}\n")
    return "".join(lines)


# ------------------------------------------------------------------ the tests


def reference(case: Case) -> tuple[list[bool] | None, str]:
    """Reference verdicts on the case's events, or None and why it is rejected."""
    try:
        test = compile_rule(case.rule, case.placeholders)
    except RuleError as e:
        return None, str(e)
    return [test(e) for e in case.events], ""


def uuid_for(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def disagreement(
    rule: dict[str, Any],
    placeholders: dict[str, list[str]] | None,
    events: Sequence[Event],
    text: str,
) -> tuple[str, str, Event | None] | None:
    """How the engine and the reference first differ on this rule and events, or
    None where they agree: (kind, detail, event), kind "loads", "rejects" or "verdict"."""
    try:
        test: Callable[[Event], bool] | None = compile_rule(rule, placeholders)
        why = ""
    except RuleError as e:
        test, why = None, str(e)
    rs = sigma.RuleSet.from_yaml(text, placeholders=placeholders)
    if test is None:
        if len(rs) != 0 or not rs.rejected:
            return "loads", f"the reference rejects the rule ({why}); the engine loaded it", None
        return None
    if len(rs) != 1 or rs.rejected:
        return "rejects", f"the engine rejected a valid rule: {rs.rejected}", None
    for event in events:
        got = [m.rule_id for m in rs.match(event, category="test")]
        want = [rule["id"]] if test(event) else []
        if got != want:
            return "verdict", f"engine matched {got}, reference {want}", event
    return None


def smaller(value: Any) -> list[Any]:
    """Simpler versions of a detection value: an item or key fewer, or one simpler part."""
    out: list[Any] = []
    if isinstance(value, list):
        out += [value[:i] + value[i + 1 :] for i in range(len(value)) if len(value) > 1]
        out += [value[0]] if len(value) == 1 and isinstance(value[0], dict) else []
        for i, item in enumerate(value):
            out += [[*value[:i], s, *value[i + 1 :]] for s in smaller(item)]
    if isinstance(value, dict):
        out += [{k: v for k, v in value.items() if k != key} for key in value if len(value) > 1]
        for key, item in value.items():
            out += [{**value, key: s} for s in smaller(item)]
    return out


def minimize(case: Case, event: Event | None, kind: str) -> tuple[dict[str, Any], Event | None]:
    """Greedily simplifies a disagreeing (rule, event) while the same kind of
    disagreement remains: hypothesis's own shrinking of these long choice sequences
    takes minutes, this takes a moment."""
    rule = case.rule
    as_json = case.text.startswith("{")

    def candidates(rule: dict[str, Any], event: Event | None) -> list[tuple[Any, Event | None]]:
        det = rule["detection"]
        names = [n for n in det if n != "condition"]
        out: list[tuple[Any, Event | None]] = []
        for n in names:  # one identifier, as the whole condition
            if det["condition"] != n:
                out.append(({**rule, "detection": {n: det[n], "condition": n}}, event))
        for n in names:  # an identifier fewer (the condition may not need it)
            out.append(({**rule, "detection": {k: v for k, v in det.items() if k != n}}, event))
        for n in names:
            out += [({**rule, "detection": {**det, n: s}}, event) for s in smaller(det[n])]
        if isinstance(det["condition"], list):
            out += [
                ({**rule, "detection": {**det, "condition": c}}, event) for c in det["condition"]
            ]
        for k in event or {}:
            out.append((rule, {f: v for f, v in (event or {}).items() if f != k}))
        return out

    for _ in range(200):
        for r, e in candidates(rule, event):
            text = json.dumps(r, ensure_ascii=False) if as_json else to_yaml(r)
            found = disagreement(r, case.placeholders, [e] if e is not None else [], text)
            if found is not None and found[0] == kind:
                rule, event = r, e
                break
        else:
            break
    return rule, event


def check(case: Case, events: Sequence[Event]) -> None:
    """Fails with a minimized reproducer where the engine and the reference differ."""
    found = disagreement(case.rule, case.placeholders, events, case.text)
    if found is None:
        return
    kind, why, event = found
    rule, small = minimize(case, event, kind)
    again = disagreement(
        rule, case.placeholders, [small] if small is not None else [], to_yaml(rule)
    )
    pytest.fail(
        f"{why}\n--- as generated ---\n{case.text}\n--- event ---\n{event!r}\n"
        f"--- minimized ---\n{to_yaml(rule)}--- event ---\n{small!r}\n"
        f"{again[1] if again else '(the minimized form does not reproduce as YAML)'}\n"
        f"placeholders={case.placeholders!r}"
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    c = DrawChooser(draw)
    placeholders = gen_placeholders(c) if chance(c, 0.9) else None
    return gen_case(c, placeholders, uuid_for(c.integer(0, 999)))


# No shrink phase: `check` minimizes failures itself (see `minimize`).
FAST = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@settings(FAST, max_examples=600)
@given(cases())
def test_engine_agrees_with_reference(case: Case) -> None:
    check(case, case.events)


@settings(FAST, max_examples=100)
@given(st.data())
def test_batched_rules_agree_with_reference(data: st.DataObject) -> None:
    """Several rules (some invalid) in one RuleSet: rejections do not stop the others,
    and each event matches exactly the rules the reference says."""
    c = DrawChooser(data.draw)
    placeholders = gen_placeholders(c)
    batch = [gen_case(c, placeholders, uuid_for(i), 0.25) for i in range(c.integer(2, 6))]
    rs = sigma.RuleSet.from_yaml([k.text for k in batch], placeholders=placeholders)
    compiled: dict[str, Callable[[Event], bool]] = {}
    for k in batch:
        with contextlib.suppress(RuleError):
            compiled[k.rule["id"]] = compile_rule(k.rule, placeholders)
    note("\n---\n".join(k.text for k in batch))
    events = [e for k in batch for e in k.events[:2]]
    if len(rs) != len(compiled) or len(rs.rejected) != len(batch) - len(compiled):
        for k in batch:  # a difference on one rule alone is reported as such, minimized
            check(k, [])
    assert len(rs) == len(compiled), rs.rejected
    assert len(rs.rejected) == len(batch) - len(compiled), rs.rejected
    for event in events:
        want = {rid for rid, test in compiled.items() if test(event)}
        got = [m.rule_id for m in rs.match(event, category="test")]
        if set(got) != want:
            for k in batch:
                check(k, [event])
        assert len(got) == len(set(got)), f"a rule matched twice: {got}"
        assert set(got) == want, f"event {event!r}"
        assert rs.match(event, category="elsewhere") == []  # the rules are category: test


# ------------------------------------------------------- the generator itself

SAMPLE = 600


def sample_cases(n: int = SAMPLE) -> list[Case]:
    """The same n cases every time (seeded), as the hypothesis tests would draw them."""
    c = RandomChooser(0)
    return [
        gen_case(c, gen_placeholders(c) if chance(c, 0.9) else None, uuid_for(i)) for i in range(n)
    ]


MODIFIERS = {
    "contains", "startswith", "endswith", "all", "cased", "neq", "exists", "windash",
    "re", "i", "m", "s", "base64", "base64offset", "wide", "utf16le", "utf16be", "utf16",
    "lt", "lte", "gt", "gte", "cidr", "fieldref", "expand",
}  # fmt: skip


def field_entries(value: Any) -> list[tuple[str, Any]]:
    """The (key, value) field tests inside a search identifier."""
    if isinstance(value, dict):
        return [(k, v) for k, v in value.items() if not k.startswith("|")]
    if isinstance(value, list):
        return [kv for item in value if isinstance(item, dict) for kv in field_entries(item)]
    return []


def keyword_entry(value: Any) -> tuple[str, Any] | None:
    """The (key, values) of a keyword search identifier, if it is one."""
    if isinstance(value, dict) and "|all" in value:
        return "|all", value["|all"]
    if isinstance(value, list) and not any(isinstance(v, dict) for v in value):
        return "", value
    return None


CONDITION_FORMS = ("not", "and", "or", "(", "1 of", "all of", "them")


def test_generator_balance() -> None:
    """Over a fixed sample, verdicts are neither mostly true nor mostly false, some
    rules are invalid, and each modifier's own test both passes and fails often, so a
    generator change cannot quietly stop testing something."""
    verdicts: Counter[bool] = Counter()
    rejected = 0
    per_modifier: dict[str, Counter[bool]] = {m: Counter() for m in [*MODIFIERS, "keywords"]}
    conditions = Counter[str]()
    for case in sample_cases():
        want, _ = reference(case)
        if want is None:
            rejected += 1
            continue
        verdicts.update(want)
        detection = case.rule["detection"]
        cond = detection["condition"]
        text = " or ".join(cond if isinstance(cond, list) else [cond])
        words = f" {' '.join(text.replace('(', ' ( ').split())} "
        for form in CONDITION_FORMS:
            conditions[form] += f" {form} " in words
        for ident, value in detection.items():
            if ident == "condition":
                continue
            for key, v in field_entries(value):
                test = compile_field_test(key, v, case.placeholders)
                for m in set(key.split("|")[1:]):
                    per_modifier[m].update(test(e) for e in case.events)
            keywords = keyword_entry(value)
            if keywords is not None:
                test = compile_field_test(*keywords, keyword=True)
                per_modifier["keywords"].update(test(e) for e in case.events)
    total = verdicts[True] + verdicts[False]
    assert verdicts[True] >= 0.3 * total, verdicts
    assert verdicts[False] >= 0.3 * total, verdicts
    assert 0.04 * SAMPLE <= rejected <= 0.2 * SAMPLE, rejected
    for m, seen in per_modifier.items():
        assert seen[True] >= 10, (m, seen)
        assert seen[False] >= 10, (m, seen)
    for form in CONDITION_FORMS:
        assert conditions[form] >= 20, (form, conditions)


def test_rendering_round_trips() -> None:
    """The generated texts read back as the rules the reference sees (PyYAML), and
    rendered strings parse back to their tokens."""
    for case in sample_cases(200):
        assert yaml.safe_load(case.text) == case.rule
    c = RandomChooser(1)
    for _ in range(500):
        toks = gen_tokens(c, 0, 10)
        assert parse_wildcards(render(toks, c)) == tuple(toks)
        expand_toks = [*toks, Special.PERCENT, "%", "\\"]
        assert parse_wildcards(render(expand_toks, c, expand=True), expand=True) == tuple(
            Special.PERCENT if t == "%" else t for t in expand_toks
        )
