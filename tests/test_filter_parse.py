"""filters.parse: the text syntax of filters (``pyetwkit dump --filter``) is
the syntax repr prints; parse(repr(x)) == x; hostile text is refused, never run."""

from __future__ import annotations

import contextlib
import enum
import functools
import operator
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from pyetwkit import filters as f
from pyetwkit.filters import Filter, parse


def doc_examples() -> list[str]:
    """The --filter expressions of the docs' command-line examples."""
    text = (ROOT / "docs" / "filters.md").read_text(encoding="utf-8")
    return re.findall(r'--filter "([^"]+)"', text)


def test_docs_have_command_line_examples() -> None:
    assert len(doc_examples()) >= 3


@pytest.mark.parametrize("text", doc_examples())
def test_doc_examples_parse(text: str) -> None:
    flt = parse(text)
    assert parse(repr(flt)) == flt


def test_the_module_docstring_example() -> None:
    text = "(provider('Microsoft-Windows-Kernel-Process') & event_id(1, 2)) | ~pid(4)"
    expected = (f.provider("Microsoft-Windows-Kernel-Process") & f.event_id(1, 2)) | ~f.pid(4)
    assert parse(text) == expected
    assert repr(parse(text)) == text


EVERY_FACTORY = [
    ("provider('Microsoft-Windows-DotNETRuntime')", f.provider("Microsoft-Windows-DotNETRuntime")),
    (
        "provider('{6F2A1C7E-5B0D-4E8A-9A51-3C1D2B7E9044}', 'Process')",
        f.provider("6f2a1c7e-5b0d-4e8a-9a51-3c1d2b7e9044", "Process"),
    ),
    ("event_id(1, 2, 65535)", f.event_id(1, 2, 65535)),
    ("opcode(0, 255)", f.opcode(0, 255)),
    ("max_level(4)", f.max_level(4)),
    ("max_level(level=4)", f.max_level(4)),
    ("keywords_any(0x10)", f.keywords_any(16)),
    ("keywords_all(0xFFFFFFFFFFFFFFFF)", f.keywords_all(2**64 - 1)),
    ("keywords_all(1_024)", f.keywords_all(1024)),
    ("pid(0, 4, 4294967295)", f.pid(0, 4, 2**32 - 1)),
    ("process_name('powershell.exe', 'pwsh.exe')", f.process_name("powershell.exe", "pwsh.exe")),
    ("property_equals('Status', -5)", f.property_equals("Status", -5)),
    ("property_equals('Ratio', -2.5e-3)", f.property_equals("Ratio", -0.0025)),
    ("property_equals('Flag', True)", f.property_equals("Flag", True)),
    ("property_equals('Name', None)", f.property_equals("Name", None)),
    ('property_equals("Name", "it\'s")', f.property_equals("Name", "it's")),
    ("property_equals(name='Id', value=-0x10)", f.property_equals("Id", -16)),
    (
        "property_contains('CommandLine', '\\\\temp\\\\')",
        f.property_contains("CommandLine", "\\temp\\"),
    ),
    (
        r"property_regex('ImageFileName', r'(?i)^power.*\.exe$')",
        f.property_regex("ImageFileName", r"(?i)^power.*\.exe$"),
    ),
    ("event_name('Process/Start', 'GCStart')", f.event_name("Process/Start", "GCStart")),
    ("process_glob('power*.exe')", f.process_glob("power*.exe")),
    (
        r"property_glob('FileName', r'*\System32\{ntdll,kernel32}.dll')",
        f.property_glob("FileName", "*\\System32\\{ntdll,kernel32}.dll"),
    ),
    ("property_range('Size', min=1000)", f.property_range("Size", min=1000)),
    ("property_range('Size', min=None, max=5)", f.property_range("Size", max=5)),
    ("property_range('Size', -1.5, 2)", f.property_range("Size", -1.5, 2)),
]


@pytest.mark.parametrize(("text", "expected"), EVERY_FACTORY)
def test_every_factory_reads(text: str, expected: Filter) -> None:
    assert parse(text) == expected
    assert parse(repr(expected)) == expected


def test_every_factory_is_covered() -> None:
    called = {text.split("(")[0] for text, _ in EVERY_FACTORY}
    factories = set(f.__all__) - {"Filter", "parse"}
    assert called == factories


def test_precedence_is_pythons() -> None:
    a, b, c, d = f.pid(1), f.pid(2), f.pid(3), f.pid(4)
    assert parse("pid(1) | pid(2) & pid(3)") == a | (b & c)
    assert parse("pid(1) & pid(2) | pid(3) & pid(4)") == (a & b) | (c & d)
    assert parse("(pid(1) | pid(2)) & pid(3)") == (a | b) & c
    assert parse("~pid(1) & pid(2)") == (~a) & b
    assert parse("~(pid(1) & pid(2))") == ~(a & b)
    assert parse("~~pid(1)") == ~~a
    assert parse("pid(1) & (pid(2) & pid(3))") == a & b & c  # & is one flat list either way
    assert parse("((pid(1)))") == a


def test_blanks_and_line_breaks_inside_parentheses() -> None:
    assert parse("  pid(1)  &  pid(2) ") == f.pid(1) & f.pid(2)
    assert parse("(pid(1) |\n pid(2))") == f.pid(1) | f.pid(2)


def test_repr_of_enum_and_subclass_values_reads_back() -> None:
    class Level(enum.IntEnum):
        WARNING = 3

    class Name(str):
        def __repr__(self) -> str:
            return f"Name({str(self)!r})"

    for flt in [
        f.max_level(Level.WARNING),
        f.event_id(Level.WARNING),
        f.keywords_any(Level.WARNING),
        f.provider(Name("Process")),
        f.property_equals(Name("Level"), Level.WARNING),
        f.property_range(Name("Level"), min=Level.WARNING),
    ]:
        assert "<" not in repr(flt)
        assert "Name(" not in repr(flt)
        assert parse(repr(flt)) == flt


def test_provider_wants_strings() -> None:
    with pytest.raises(TypeError, match="not a string"):
        f.provider(1)  # type: ignore[arg-type]


# Random filter trees, from every factory with awkward but valid arguments.

names = st.text(max_size=8)
numbers = st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
guids = st.uuids().map(str).flatmap(lambda g: st.sampled_from([g, g.upper(), "{" + g + "}"]))
patterns = st.sampled_from(["^s", "exe$", "a+", r"\d{2,}", "(?i)power", "'\"\\\\"]) | st.from_regex(
    r"\A[a-zA-Z0-9 ]{0,6}\Z"
)


def ids(bits: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 2**bits - 1), min_size=1, max_size=3)


leaves = st.one_of(
    st.lists(guids | st.text(min_size=1, max_size=8), min_size=1, max_size=3).map(
        lambda values: f.provider(*values)
    ),
    ids(16).map(lambda values: f.event_id(*values)),
    ids(8).map(lambda values: f.opcode(*values)),
    st.integers(0, 255).map(f.max_level),
    st.integers(0, 2**64 - 1).map(f.keywords_any),
    st.integers(0, 2**64 - 1).map(f.keywords_all),
    ids(32).map(lambda values: f.pid(*values)),
    st.lists(names, min_size=1, max_size=3).map(lambda values: f.process_name(*values)),
    st.builds(f.property_equals, names, st.none() | st.booleans() | numbers | names),
    st.builds(f.property_contains, names, names),
    st.builds(f.property_regex, names, patterns),
    st.builds(f.property_range, names, min=numbers, max=st.none() | numbers),
    st.builds(f.property_range, names, min=st.none(), max=numbers),
)


def combined(children: st.SearchStrategy[Filter]) -> st.SearchStrategy[Filter]:
    pairs = st.tuples(children, children)
    return st.one_of(
        children.map(lambda x: ~x),
        pairs.map(lambda p: p[0] & p[1]),
        pairs.map(lambda p: p[0] | p[1]),
    )


filter_trees = st.recursive(leaves, combined, max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(flt=filter_trees)
def test_repr_reads_back_as_the_same_filter(flt: Filter) -> None:
    again = parse(repr(flt))
    assert again == flt
    assert repr(again) == repr(flt)


def alternating_runs(levels: int) -> Filter:
    """pid(0) & pid(1) | pid(2) & ... with parentheses: each run of & or | a level."""
    deep = f.pid(0)
    for n in range(1, levels + 1):
        deep = deep & f.pid(n) if n % 2 else deep | f.pid(n)
    return deep


def negated(times: int) -> Filter:
    flt = f.pid(1)
    for _ in range(times):
        flt = ~flt
    return flt


def test_nesting_up_to_the_limit_reads_back() -> None:
    assert parse(repr(alternating_runs(100))) == alternating_runs(100)
    assert parse("~" * 100 + "pid(1)") == negated(100)
    with pytest.raises(ValueError, match="more than 100 levels"):
        parse(repr(alternating_runs(101)))


def test_long_runs_of_one_operator_are_not_nesting() -> None:
    pids = [f.pid(n) for n in range(1000)]
    assert parse(" | ".join(map(repr, pids))) == functools.reduce(operator.or_, pids)


# Hostile or wrong text: always ValueError, never evaluated.

HOSTILE = [
    "__import__('os')",
    "__import__('os').system('true')",
    "provider.__class__",
    "provider.__class__.__subclasses__()",
    "pid(1).__class__",
    "getattr(pid, '__globals__')",
    "eval('pid(1)')",
    "exec('x = 1')",
    "open('/etc/passwd')",
    "pid(__import__('os').getpid())",
    "[x for x in ()]",
    "(x for x in ())",
    "{pid(1)}",
    "(pid(1), pid(2))",
    "pid(1)[0]",
    "lambda: 0",
    "pid(1) if True else pid(2)",
    "'a' * 10**9",
    "f'{pid(1)}'",
    "provider(f'{1}')",
    "pid(x := 1)",
    "pid(1) and pid(2)",
    "not pid(1)",
    "pid(1) ^ pid(2)",
    "pid(1) == pid(2)",
    "pid(1) + pid(2)",
    "pid(*(1,))",
    "pid(**{'a': 1})",
    "pid(--1)",
    "pid(+1)",
    "property_equals('a', -True)",
    "property_equals('a', b'x')",
    "property_equals('a', 1j)",
    "property_equals('a', ...)",
    "property_equals('a', [1])",
    "f.pid(1)",
    "pid(1)(2)",
    "x",
    "1",
    "'pid(1)'",
    "None",
    "",
    "   ",
    "pid(1); pid(2)",
    "import os",
    "pid(1)\x00",
    "pid('\udcff')",
    "~" * 100000 + "pid(1)",
    "~" * 60000 + "pid(1)",
    "~" * 101 + "pid(1)",
    "(" * 100000,
    "(" * 60000 + "pid(1)" + ")" * 60000,
    "(" * 60000,
    "pid(1)" + " | pid(1)" * 7000,
    "pid(1)" + " + 1" * 15000,
    "property_contains('a', '" + "x" * 70000 + "')",
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda text: repr(text[:30]))
def test_hostile_or_wrong_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the messages are checked below)
        parse(text)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        st.sampled_from("pid(1)~&|^'\"\\0x,.-=_ \n#*[]{}:;") | st.characters(), max_size=40
    )
    | filter_trees.map(repr).flatmap(lambda text: st.just(text[: len(text) // 2]))
)
def test_any_text_is_a_filter_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert isinstance(parse(text), Filter)


def test_nothing_is_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for text in [
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"pid(1) | pid(__import__('pathlib').Path({str(marker)!r}).touch())",
    ]:
        with pytest.raises(ValueError):  # noqa: PT011
            parse(text)
    assert not marker.exists()


@pytest.mark.parametrize("value", [None, b"pid(1)", 1, f.pid(1), ["pid(1)"]])
def test_text_must_be_a_string(value: object) -> None:
    with pytest.raises(TypeError, match="needs a str"):
        parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os')", "unknown filter function '__import__' at column 1"),
        ("pid(1) | provider.__class__", "column 10, found attribute access `provider.__class__`"),
        ("pid(1) & foo", "column 10, found name `foo`"),
        ("provider('é') & pid(x)", "column 21, found name `x`"),  # characters, not bytes
        ("  pid(1) & x", "column 12"),
        ("pid(1) & & pid(2)", "syntax error at column 10"),
        ("provider('abc", "syntax error at column 10"),
        ("(pid(1) |\n  foo)", "line 2, column 3"),
        ("pid(1) and pid(2)", "use & and |"),
        ("not pid(1)", "use ~"),
        ("pid(1) & pid(2) ^ pid(3)", "column 1, found operator ^"),
        ("'a' * 10**9", "found operator *"),
        ("[x for x in ()]", "column 1, found comprehension"),
        ("lambda: 0", "column 1, found lambda"),
        ("pid(1) & max_level()", "missing 1 required positional argument: 'level' at column 10"),
        ("provider(1)", "not a string (a GUID or a name) at column 1"),
        ("pid(1) & property_equals('a', b'x')", "column 31, found literal `b'x'`"),
        ("pid(**{})", "column 5"),
        (r"property_regex('Image', '\.exe$')", r"column 25: invalid escape sequence '\.'"),
        ("~" * 101 + "pid(1)", "more than 100 levels deep at column 102"),
        ("x" * 70000, "too long: 70000 characters"),
        ("(" * 60000, "too many nested parentheses"),
        ("~" * 60000 + "pid(1)", "too deeply"),
        ("", "empty filter"),
    ],
)
def test_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse(text)


@pytest.mark.parametrize(
    ("text", "direct"),
    [
        ("event_id(70000)", lambda: f.event_id(70000)),
        ("pid(-1)", lambda: f.pid(-1)),
        ("pid()", lambda: f.pid()),
        ("keywords_any(0x10000000000000000)", lambda: f.keywords_any(2**64)),
        ("property_regex('a', '(')", lambda: f.property_regex("a", "(")),
        ("property_glob('a', '[z')", lambda: f.property_glob("a", "[z")),
        ("property_range('a')", lambda: f.property_range("a")),
        ("property_range('a', min=True)", lambda: f.property_range("a", min=True)),
        ("provider('a') & process_name(1)", lambda: f.process_name(1)),  # type: ignore[arg-type]
    ],
)
def test_factory_errors_keep_their_message(text: str, direct: Callable[[], Filter]) -> None:
    with pytest.raises(ValueError) as expected:  # noqa: PT011
        direct()
    with pytest.raises(ValueError) as got:  # noqa: PT011
        parse(text)
    assert str(got.value) == str(expected.value)
