"""A plain-Python reference evaluator of Sigma detections, written from the Sigma
specification (sigma-rules-specification.md, sigma-appendix-modifiers.md) and the
project's decisions where the specification leaves room. The Rust engine is checked
against it (tests/test_sigma_differential.py), so it favours obviousness over speed:
wildcards become Python regexes, windash expands every permutation.

``compile_rule`` validates the whole detection (every identifier, used or not) and
raises ``RuleError`` for a rule that must be rejected; the returned function tells
whether a flat event (field name -> str | int | float | bool | None) matches.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import itertools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

Scalar = str | int | float | bool | None
Fields = Mapping[str, Scalar]
Placeholders = Mapping[str, Sequence[str]]
# A matcher for one (already transformed) rule value: (event, field name) -> bool.
Matcher = Callable[[Fields, str], bool]


class RuleError(ValueError):
    """The rule is invalid and must be rejected."""


# ---------------------------------------------------------------- string form


def string_form(value: Scalar) -> str | None:
    """How an event value reads as text; None has none (and so never matches text)."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------- wildcard strings (escaping)


class Special(enum.Enum):
    ANY = "*"  # any sequence, empty included
    ONE = "?"  # exactly one character
    PERCENT = "%"  # `\%` under expand: a literal percent that never starts a placeholder


# A parsed rule string: literal characters (one-char str) and Special tokens.
Token = str | Special


def parse_wildcards(text: str, *, expand: bool = False) -> tuple[Token, ...]:
    r"""Spec, "Escape Character": `\*` `\?` are literal, `\\` is one backslash, and a
    backslash before anything else is itself literal (the next character is read
    normally). Under expand, `\%` is a literal percent (spec, "Placeholders")."""
    out: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        nxt = text[i + 1 : i + 2]
        if c == "\\" and nxt in ("*", "?", "\\"):
            out.append(nxt)
            i += 2
        elif c == "\\" and expand and nxt == "%":
            out.append(Special.PERCENT)
            i += 2
        else:
            out.append(Special.ANY if c == "*" else Special.ONE if c == "?" else c)
            i += 1
    return tuple(out)


def _has_wildcards(tokens: Sequence[Token]) -> bool:
    return any(t in (Special.ANY, Special.ONE) for t in tokens)


def _plain_text(tokens: Sequence[Token], why: str) -> str:
    if _has_wildcards(tokens):
        raise RuleError(f"{why}: wildcards are not supported here")
    return "".join("%" if t is Special.PERCENT else str(t) for t in tokens)


def _wildcard_regex(tokens: Sequence[Token], cased: bool) -> re.Pattern[str]:
    # Whole-value match; re's backtracking gives `*a*b` vs `aab` for free.
    parts = []
    for t in tokens:
        if t is Special.ANY:
            parts.append(".*")
        elif t is Special.ONE:
            parts.append(".")
        elif t is Special.PERCENT:
            parts.append("%")
        else:
            parts.append(re.escape(t if cased else t.lower()))
    return re.compile("".join(parts), re.DOTALL)


# ------------------------------------------------------ transformed values

# A rule value moves through the modifier chain in one of these forms. A plain
# YAML str stays `str` (unparsed) until a modifier needs it parsed, because `re`,
# `cidr` and `fieldref` read the text as written, escapes and all.


@dataclass(frozen=True)
class Pattern:
    tokens: tuple[Token, ...]


@dataclass(frozen=True)
class Regex:
    source: str
    flags: int = 0


@dataclass(frozen=True)
class Compare:
    op: Callable[[Any, Any], bool]
    bound: int | float


@dataclass(frozen=True)
class FieldRef:
    other: str


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Value = str | int | float | bool | None | bytes | Pattern | Regex | Compare | FieldRef | Network

WINDASH = "-/\u2013\u2014\u2015"  # - / en dash, em dash, horizontal bar
COMPARISONS = {"lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge}
UTF16 = {
    "utf16le": lambda s: s.encode("utf-16-le"),
    "wide": lambda s: s.encode("utf-16-le"),
    "utf16be": lambda s: s.encode("utf-16-be"),
    "utf16": lambda s: b"\xff\xfe" + s.encode("utf-16-le"),
}
RE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
WRAPS = {"contains": (True, True), "startswith": (False, True), "endswith": (True, False)}
FLAGS = {"all", "cased", "neq"}  # change how values combine or compare, not the values
MODIFIERS = (
    set(WRAPS) | FLAGS | set(COMPARISONS) | set(UTF16) | set(RE_FLAGS)
    | {"exists", "windash", "base64", "base64offset", "re", "cidr", "fieldref", "expand"}
)  # fmt: skip


def base64offset_variants(data: bytes) -> list[str]:
    """pySigma's three shifted encodings: the part of b64(prefix + data + suffix)
    that does not depend on the prefix/suffix, for prefix lengths 0, 1, 2 (mod 3)."""
    start, end = (0, 2, 3), (None, -3, -2)
    return [
        base64.b64encode(b" " * i + data).decode()[start[i] : end[(len(data) + i) % 3]]
        for i in range(3)
    ]


@dataclass(frozen=True)
class _Chain:
    expand_mode: bool
    placeholders: Placeholders | None


def _pattern(v: Value, mod: str, chain: _Chain) -> Pattern:
    if isinstance(v, Pattern):
        return v
    if isinstance(v, str):
        return Pattern(parse_wildcards(v, expand=chain.expand_mode))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        # Spec, General: "All values are treated as case-insensitive strings".
        return Pattern(tuple(str(string_form(v))))
    raise RuleError(f"modifier {mod!r} needs a string value, not {v!r}")


def _windash(p: Pattern) -> list[Pattern]:
    choices = [WINDASH if isinstance(t, str) and t in WINDASH else (t,) for t in p.tokens]
    return [Pattern(tuple(c)) for c in itertools.product(*choices)]


_NAME = re.compile(r"[A-Za-z0-9_]")


def _expand(p: Pattern, chain: _Chain) -> list[Pattern]:
    """Replaces each %name% (name: word characters) by every value of the user's
    placeholder; several placeholders give every combination. The values are read as
    rule strings, so their wildcards keep their meaning."""
    pieces: list[list[tuple[Token, ...]]] = []  # alternatives for each piece, in order
    toks, i = p.tokens, 0
    while i < len(toks):
        j = i + 1  # toks[i + 1 : j] is the longest run of name characters after i
        while j < len(toks) and isinstance(toks[j], str) and _NAME.fullmatch(str(toks[j])):
            j += 1
        if toks[i] == "%" and i + 1 < j < len(toks) and toks[j] == "%":
            name = "".join(str(t) for t in toks[i + 1 : j])
            if chain.placeholders is None or name not in chain.placeholders:
                raise RuleError(f"unknown placeholder %{name}%")
            pieces.append([parse_wildcards(v) for v in chain.placeholders[name]])
            i = j + 1
        else:
            pieces.append([(toks[i],)])
            i += 1
    return [Pattern(tuple(itertools.chain(*combo))) for combo in itertools.product(*pieces)]


def _text(v: Value, mod: str, chain: _Chain) -> str:
    return _plain_text(_pattern(v, mod, chain).tokens, mod)


def _apply(mod: str, v: Value, chain: _Chain) -> list[Value]:
    """One modifier applied to one value: the alternatives (ORed) it becomes."""
    if mod in FLAGS:
        return [v]
    if mod in WRAPS:
        before, after = WRAPS[mod]
        toks = _pattern(v, mod, chain).tokens
        return [Pattern((Special.ANY,) * before + toks + (Special.ANY,) * after)]
    if mod == "windash":
        return list(_windash(_pattern(v, mod, chain)))
    if mod == "expand":
        return list(_expand(_pattern(v, mod, chain), chain))
    if mod in UTF16:
        return [UTF16[mod](_text(v, mod, chain))]
    if mod in ("base64", "base64offset"):
        data = v if isinstance(v, bytes) else _text(v, mod, chain).encode()
        if mod == "base64":
            return [Pattern(tuple(base64.b64encode(data).decode()))]
        return [Pattern(tuple(s)) for s in base64offset_variants(data)]
    if mod == "re":
        if not isinstance(v, str):  # re reads the value as written: it must come first
            raise RuleError(f"re needs an unmodified string value, not {v!r}")
        return [Regex(v)]
    if mod in RE_FLAGS:
        if not isinstance(v, Regex):
            raise RuleError(f"modifier {mod!r} only follows re")
        return [replace(v, flags=v.flags | RE_FLAGS[mod])]
    if mod in COMPARISONS:
        if not _is_number(v):
            raise RuleError(f"{mod} needs a number, not {v!r}")
        assert isinstance(v, (int, float))
        return [Compare(COMPARISONS[mod], v)]
    if mod == "cidr":
        if not isinstance(v, str):
            raise RuleError(f"cidr needs an unmodified string value, not {v!r}")
        try:
            return [ipaddress.ip_network(v, strict=False)]
        except ValueError as e:
            raise RuleError(f"invalid network {v!r}") from e
    if mod == "fieldref":
        if not isinstance(v, str):
            raise RuleError(f"fieldref needs a field name, not {v!r}")
        return [FieldRef(v)]
    raise RuleError(f"unknown modifier {mod!r}")  # exists is handled by the caller


# ------------------------------------------------------------------ matchers


def _present(fields: Fields, name: str) -> bool:
    return fields.get(name) is not None


def _as_number(value: Scalar) -> int | float | None:
    """A comparable number: int/float as is, a string only if it is all number."""
    if _is_number(value):
        assert isinstance(value, (int, float))
        return value
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"[+-]?[0-9]+", value):
        return int(value)
    if re.fullmatch(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?", value):
        return float(value)
    return None


def _matcher(v: Value, cased: bool) -> Matcher:
    """The event test for one final rule value (missing and None fail unless null)."""
    fold: Callable[[str], str] = (lambda s: s) if cased else str.lower

    def text(fields: Fields, name: str) -> str | None:
        return string_form(fields.get(name))

    if v is None:
        return lambda f, n: f.get(n) is None
    if isinstance(v, str):
        v = Pattern(parse_wildcards(v))
    if isinstance(v, Pattern):
        rx = _wildcard_regex(v.tokens, cased)
        return lambda f, n: (s := text(f, n)) is not None and rx.fullmatch(fold(s)) is not None
    if isinstance(v, bool):
        want = string_form(v)
        return lambda f, n: (s := text(f, n)) is not None and fold(s) == want
    if isinstance(v, (int, float)):
        number, want = v, fold(str(string_form(v)))

        def same_number(f: Fields, n: str) -> bool:
            e = f.get(n)
            if _is_number(e) and e == number:
                return True
            s = string_form(e)
            return s is not None and fold(s) == want

        return same_number
    if isinstance(v, bytes):
        raise RuleError("utf16 encodings must be followed by base64 or base64offset")
    if isinstance(v, Regex):
        try:
            rx = re.compile(v.source, v.flags)
        except re.error as e:
            raise RuleError(f"invalid regex {v.source!r}") from e
        return lambda f, n: (s := text(f, n)) is not None and rx.search(s) is not None
    if isinstance(v, Compare):
        op, bound = v.op, v.bound
        return lambda f, n: (x := _as_number(f.get(n))) is not None and op(x, bound)
    if isinstance(v, FieldRef):
        other = v.other

        def same_as_other(f: Fields, n: str) -> bool:
            a, b = text(f, n), text(f, other)
            return a is not None and b is not None and fold(a) == fold(b)

        return same_as_other
    assert isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network))
    net = v

    def in_network(f: Fields, n: str) -> bool:
        s = text(f, n)
        try:
            return s is not None and ipaddress.ip_address(s) in net
        except ValueError:
            return False

    return in_network


# --------------------------------------------------------------- field tests

Test = Callable[[Fields], bool]


def compile_field_test(
    key: str, value: Any, placeholders: Placeholders | None = None, *, keyword: bool = False
) -> Test:
    """One `Name|mod1|mod2: value` entry of a map. An empty name (`'|all': [...]`),
    or keyword=True, makes it a keyword search over every event value."""
    if not isinstance(key, str):
        raise RuleError(f"field key must be a string, not {key!r}")
    name, *mods = key.split("|")
    keyword = keyword or name == ""
    for m in mods:
        if m not in MODIFIERS:
            raise RuleError(f"unknown modifier {m!r}")
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and any(v is None for v in value):
        raise RuleError("null cannot be part of a list of values")  # spec, special values
    if not values:
        raise RuleError("empty value list")
    for v in values:
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise RuleError(f"unsupported value {v!r}")

    if "exists" in mods:
        if mods != ["exists"] or keyword:
            raise RuleError("exists takes no other modifiers")
        if not isinstance(value, bool):
            raise RuleError("exists needs true or false")
        return lambda f: (name in f) == value
    if "all" in mods and len(values) < 2:
        raise RuleError("all needs at least two values")  # modifiers appendix, `all`
    if None in values and mods:
        raise RuleError("null takes no modifiers")
    if keyword:
        if any(isinstance(v, bool) or v is None for v in values):
            raise RuleError("keywords are strings or numbers")
        values = [string_form(v) for v in values]  # numbers are searched as text

    chain = _Chain("expand" in mods, placeholders)
    matchers: list[list[Matcher]] = []  # per original value, its ORed alternatives
    for v in values:
        alts: list[Value] = [v]
        for m in mods:
            alts = [out for a in alts for out in _apply(m, a, chain)]
        if keyword:  # implicit contains around each (string) keyword
            alts = [_apply("contains", a, chain)[0] if isinstance(a, str | Pattern) else a
                    for a in alts]  # fmt: skip
        matchers.append([_matcher(a, "cased" in mods) for a in alts])

    def value_hit(f: Fields, n: str, alts: list[Matcher]) -> bool:
        return any(m(f, n) for m in alts)

    combine = all if "all" in mods else any
    if keyword:
        # None values are skipped: they have no string form.
        return lambda f: combine(
            any(value_hit(f, n, alts) for n in f if f[n] is not None) for alts in matchers
        )
    if "neq" in mods:  # none of the values (so `all` makes no difference)
        return lambda f: _present(f, name) and not any(value_hit(f, name, a) for a in matchers)
    return lambda f: combine(value_hit(f, name, alts) for alts in matchers)


def compile_identifier(value: Any, placeholders: Placeholders | None = None) -> Test:
    """A search identifier: a map ANDs its entries; a list ORs its items, where a map
    item is a map and a string/number item is a keyword (so a list of strings is a
    keyword list); a lone string/number is a single keyword."""
    if isinstance(value, dict):
        if not value:
            raise RuleError("empty map")
        tests = [compile_field_test(k, v, placeholders) for k, v in value.items()]
        return lambda f: all(t(f) for t in tests)
    if isinstance(value, list):
        if not value:
            raise RuleError("empty list")
        items: list[Test] = []
        for item in value:
            if isinstance(item, dict):
                items.append(compile_identifier(item, placeholders))
            elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
                items.append(compile_field_test("", item, placeholders, keyword=True))
            else:
                raise RuleError(f"unsupported list item {item!r}")
        return lambda f: any(t(f) for t in items)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return compile_field_test("", value, placeholders, keyword=True)
    raise RuleError(f"unsupported search identifier {value!r}")


# ----------------------------------------------------------------- condition

# Grammar, least to most binding (spec, "Condition"): or, and, not, x of, ( ).
#   expr := and ('or' and)* ; and := not ('and' not)* ; not := 'not' not | atom
#   atom := '(' expr ')' | ('1' | 'all') 'of' (pattern | 'them') | identifier
Cond = Callable[[Mapping[str, bool]], bool]
_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m is not None  # every non-space run is a token
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, names: Sequence[str]) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.names = names

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise RuleError("condition ends early")
        self.pos += 1
        return tok

    def parse(self) -> Cond:
        cond = self.expr()
        if self.peek() is not None:
            raise RuleError(f"unexpected {self.peek()!r} in condition")
        return cond

    def expr(self) -> Cond:
        parts = [self.conj()]
        while self.peek() == "or":
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def conj(self) -> Cond:
        parts = [self.neg()]
        while self.peek() == "and":
            self.take()
            parts.append(self.neg())
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

    def neg(self) -> Cond:
        if self.peek() == "not":
            self.take()
            inner = self.neg()
            return lambda r: not inner(r)
        return self.atom()

    def atom(self) -> Cond:
        tok = self.take()
        if tok == "(":
            inner = self.expr()
            if self.take() != ")":
                raise RuleError("missing )")
            return inner
        if tok in ("1", "all"):
            if self.take() != "of":
                raise RuleError(f"expected 'of' after {tok!r}")
            chosen = self.select(self.take())
            quant = any if tok == "1" else all
            return lambda r: quant(r[n] for n in chosen)
        if tok in ("and", "or", "not", "of", "them", ")"):
            raise RuleError(f"unexpected {tok!r} in condition")
        if tok not in self.names:
            raise RuleError(f"condition names undefined identifier {tok!r}")
        return lambda r: r[tok]

    def select(self, pattern: str) -> list[str]:
        if pattern == "them":  # every identifier except the _-prefixed ones
            chosen = [n for n in self.names if not n.startswith("_")]
        elif pattern in ("(", ")", "and", "or", "not", "of"):
            raise RuleError(f"unexpected {pattern!r} after 'of'")
        else:  # `*` is the only wildcard; matching is case-sensitive
            rx = re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)
            chosen = [n for n in self.names if rx.fullmatch(n)]
        if not chosen:
            raise RuleError(f"{pattern!r} matches no search identifier")
        return chosen


def parse_condition(condition: Any, names: Sequence[str]) -> Cond:
    """A condition string, or a list of them (ORed)."""
    items = condition if isinstance(condition, list) else [condition]
    if not items or not all(isinstance(c, str) for c in items):
        raise RuleError("condition must be a string or a list of strings")
    conds = [_Parser(c, names).parse() for c in items]
    return lambda r: any(c(r) for c in conds)


# ---------------------------------------------------------------------- rule


def compile_rule(rule: Any, placeholders: Placeholders | None = None) -> Test:
    """The whole rule checked now; the function evaluates one event."""
    detection = rule.get("detection") if isinstance(rule, dict) else None
    if not isinstance(detection, dict) or "condition" not in detection:
        raise RuleError("a rule needs a detection with a condition")
    tests = {
        str(name): compile_identifier(value, placeholders)
        for name, value in detection.items()
        if name != "condition"
    }
    cond = parse_condition(detection["condition"], list(tests))
    # Lazily evaluated identifiers would do; all of them keeps the reference simple.
    return lambda f: cond({n: t(f) for n, t in tests.items()})


def evaluate(rule: Any, fields: Fields, placeholders: Placeholders | None = None) -> bool:
    """Whether ``rule`` (a parsed rule document) matches ``fields``; RuleError if the
    rule is invalid."""
    return compile_rule(rule, placeholders)(fields)
