"""Unit tests of the Sigma reference evaluator (tests/sigma_reference.py) on cases
taken from the specification text, so the differential test compares the engine with
something that is itself checked. Runs without pyetwkit."""

from __future__ import annotations

import base64
import textwrap
from typing import Any

import pytest
import yaml
from sigma_reference import RuleError, base64offset_variants, evaluate, parse_wildcards


def rule(detection: str) -> dict[str, Any]:
    """A rule around a YAML `detection:` body (written as in the spec's examples)."""
    text = "title: t\nlogsource: {product: windows, category: test}\ndetection:\n"
    doc: dict[str, Any] = yaml.safe_load(text + textwrap.indent(textwrap.dedent(detection), "  "))
    return doc


def one(field_key: str, value: Any) -> dict[str, Any]:
    """A rule with a single field test."""
    return {"detection": {"sel": {field_key: value}, "condition": "sel"}}


# --------------------------------------------- escaping (spec, "Escape Character")


@pytest.mark.parametrize(
    ("written", "event", "matches"),
    [
        # Plain backslash not followed by a wildcard: single or double backslash.
        (r"C:\Windows\System32\whoami.exe", r"C:\Windows\System32\whoami.exe", True),
        (r"C:\\Windows\\System32\\whoami.exe", r"C:\Windows\System32\whoami.exe", True),
        (r"C:\\Windows", r"C:\\Windows", False),
        # An escaped wildcard is a plain character.
        (r"a\*b", "a*b", True),
        (r"a\*b", "axb", False),
        (r"a\?b", "a?b", True),
        (r"a\?b", "axb", False),
        # Escaped backslash, then a real wildcard.
        (r"C:\\*", "C:\\", True),
        (r"C:\\*", "C:\\Users\\x", True),
        (r"C:\\*", "C:x", False),
        # Three backslashes: backslash and wildcard both plain.
        (r"C:\\\*", "C:\\*", True),
        (r"C:\\\*", "C:\\x", False),
        # Three or four backslashes are a double backslash.
        (r"a\\\\b", "a\\\\b", True),
        (r"a\\\b", "a\\\\b", True),
        (r"a\\\\b", "a\\b", False),
        # Trailing lone backslash is literal.
        ("a\\", "a\\", True),
    ],
)
def test_escaping(written: str, event: str, matches: bool) -> None:
    assert evaluate(one("F", written), {"F": event}) is matches


def test_escape_parse_table() -> None:
    ANY = parse_wildcards("*")[0]
    assert parse_wildcards(r"\\*") == ("\\", ANY)
    assert parse_wildcards(r"\\\*") == ("\\", "*")
    assert parse_wildcards(r"\x") == ("\\", "x")
    # `\%` is only special under expand.
    assert parse_wildcards(r"\%") == ("\\", "%")
    assert parse_wildcards(r"\%", expand=True) != ("\\", "%")


# ------------------------------------------------- wildcards and case (spec, General)


@pytest.mark.parametrize(
    ("written", "event", "matches"),
    [
        ("prog?.exe", "progA.exe", True),
        ("prog?.exe", "prog.exe", False),
        ("prog?.exe", "progAB.exe", False),
        ("antivirus_V*.exe", "antivirus_V21.2.1.exe", True),
        ("antivirus_V*.exe", "antivirus_V.exe", True),  # * matches the empty string
        ("antivirus_V*.exe", "antivirus_V1.exe.bak", False),  # whole-value match
        ("*a*b", "aab", True),  # needs backtracking
        ("*a*b", "aabc", False),
        ("WHOAMI.EXE", "whoami.exe", True),  # case-insensitive by default
        ("C:\\Windows\\É*", "c:\\windows\\é.exe", True),
    ],
)
def test_wildcards(written: str, event: str, matches: bool) -> None:
    assert evaluate(one("F", written), {"F": event}) is matches


def test_cased() -> None:
    assert evaluate(one("F|cased", "Whoami"), {"F": "Whoami"})
    assert not evaluate(one("F|cased", "Whoami"), {"F": "whoami"})
    assert not evaluate(one("F|contains|cased", "AMI"), {"F": "whoami"})
    assert evaluate(one("F|contains|cased", "oam"), {"F": "whoami"})


def test_missing_field_never_matches_a_value() -> None:
    assert not evaluate(one("F", "*"), {"G": "x"})
    assert not evaluate(one("F", "*"), {"F": None})
    assert not evaluate(one("F|contains", ""), {})
    assert not evaluate(one("F|re", "."), {"F": None})


# ----------------------------------------------------- lists and maps (spec examples)


def test_list_of_maps_is_or() -> None:
    r = rule(
        r"""
        selection:
            - Image|endswith: '\\example.exe'
            - Description|contains: 'Test executable'
        condition: selection
        """
    )
    assert evaluate(r, {"Image": "C:\\bin\\example.exe"})
    assert evaluate(r, {"Description": "a test EXECUTABLE here"})
    assert not evaluate(r, {"Image": "C:\\bin\\example.exe.bak", "Description": "x"})


def test_map_is_and_and_value_list_is_or() -> None:
    r = rule(
        """
        selection:
            EventLog: Security
            EventID:
                - 517
                - 1102
        condition: selection
        """
    )
    assert evaluate(r, {"EventLog": "security", "EventID": 1102})
    assert evaluate(r, {"EventLog": "Security", "EventID": "517"})
    assert not evaluate(r, {"EventLog": "Security", "EventID": 1103})
    assert not evaluate(r, {"EventLog": "System", "EventID": 517})
    assert not evaluate(r, {"EventID": 517})


def test_quoted_hex_is_a_string() -> None:
    r = rule(
        """
        selection:
            EventID: 4769
            TicketOptions: '0x40810000'
        condition: selection
        """
    )
    assert evaluate(r, {"EventID": 4769, "TicketOptions": "0X40810000"})
    assert not evaluate(r, {"EventID": 4769, "TicketOptions": 0x40810000})  # "1082195968"


def test_number_and_bool_type_tolerance() -> None:
    assert evaluate(one("Port", 5985), {"Port": 5985})
    assert evaluate(one("Port", 5985), {"Port": "5985"})
    assert evaluate(one("Port", 5985), {"Port": 5985.0})  # numerically equal
    assert not evaluate(one("Port", 5985), {"Port": "5985.0"})
    assert evaluate(one("Port", "5985"), {"Port": 5985})  # via the string form
    assert evaluate(one("X", 2.0), {"X": "2.0"})  # float rule value reads as repr
    assert not evaluate(one("X", 2.0), {"X": "2"})
    assert evaluate(one("X", 2.0), {"X": 2})
    assert evaluate(one("X", "2.0"), {"X": 2.0})
    assert evaluate(one("B", True), {"B": True})
    assert evaluate(one("B", True), {"B": "TRUE"})
    assert not evaluate(one("B", True), {"B": 1})
    assert not evaluate(one("B", 1), {"B": True})  # a bool is not a number here
    assert evaluate(one("B", "false"), {"B": False})
    # A choice the project has not made yet (so not generated): string modifiers read
    # a number as its text.
    assert evaluate(one("EventID|startswith", 46), {"EventID": 4624})


# ------------------------------------------- null and empty (spec, special values)


def test_null_example() -> None:
    r = rule(
        """
        selection:
            EventID: 4738
        filter:
            PasswordLastSet: null
        condition: selection and not filter
        """
    )
    assert evaluate(r, {"EventID": 4738, "PasswordLastSet": "2024-01-01"})
    assert not evaluate(r, {"EventID": 4738})
    assert not evaluate(r, {"EventID": 4738, "PasswordLastSet": None})
    assert evaluate(r, {"EventID": 4738, "PasswordLastSet": ""})  # empty is not null


def test_empty_or_null_valid_example() -> None:
    r = rule(
        """
        selection_main:
            FieldA: 'something'
        selection_empty1:
            FieldB: ''
        selection_empty2:
            FieldB: null
        condition: selection_main and 1 of selection_empty*
        """
    )
    assert evaluate(r, {"FieldA": "something", "FieldB": ""})
    assert evaluate(r, {"FieldA": "something"})
    assert not evaluate(r, {"FieldA": "something", "FieldB": " "})


def test_null_in_a_list_is_invalid() -> None:
    r = rule(
        """
        selection_main:
            FieldA: 'something'
            FieldB:
                - ''
                - null
        condition: selection_main
        """
    )
    with pytest.raises(RuleError):
        evaluate(r, {})


# -------------------------------------------------------------------- modifiers


def test_exists() -> None:
    r = rule(
        """
        selection:
            EventID: 4738
            PasswordLastSet|exists: true
        condition: selection
        """
    )
    assert evaluate(r, {"EventID": 4738, "PasswordLastSet": None})  # presence, not value
    assert not evaluate(r, {"EventID": 4738})
    assert evaluate(one("X|exists", False), {})
    assert not evaluate(one("X|exists", False), {"X": ""})
    with pytest.raises(RuleError):
        evaluate(one("X|exists", "yes"), {})


def test_all() -> None:
    r = one("CommandLine|contains|all", ["-enc", "hidden"])
    assert evaluate(r, {"CommandLine": "ps -ENC x -w Hidden"})
    assert not evaluate(r, {"CommandLine": "ps -enc x"})
    with pytest.raises(RuleError):  # single item values may not use all
        evaluate(one("CommandLine|contains|all", ["-enc"]), {})
    with pytest.raises(RuleError):
        evaluate(one("CommandLine|contains|all", "-enc"), {})


def test_startswith_endswith_keep_escaped_wildcards() -> None:
    assert evaluate(one("F|startswith", "adm"), {"F": "Administrator"})
    assert not evaluate(one("F|startswith", "adm"), {"F": "xadm"})
    assert evaluate(one("F|endswith", r"\cmd.exe"), {"F": r"C:\x\CMD.exe"})
    assert evaluate(one("F|contains", r"a\*"), {"F": "xa*y"})
    assert not evaluate(one("F|contains", r"a\*"), {"F": "xaby"})


def test_windash() -> None:
    r = one("CommandLine|windash|contains", " -s ")
    for dash in "-/\u2013\u2014\u2015":
        assert evaluate(r, {"CommandLine": f"psexec {dash}s cmd"})
    assert not evaluate(r, {"CommandLine": "psexec +s cmd"})
    both = one("CommandLine|windash", "-a -b")
    assert evaluate(both, {"CommandLine": "/a \u2014b"})  # each dash varies independently
    assert not evaluate(both, {"CommandLine": "/a _b"})


def test_base64_known_values() -> None:
    # The values published with pySigma's base64offset modifier.
    assert base64offset_variants(b"http://") == ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]
    r = one("CommandLine|base64offset|contains", "http://")
    for prefix in ("", "x", "xy", "xyz"):
        encoded = base64.b64encode(f"{prefix}http://evil".encode()).decode()
        assert evaluate(r, {"CommandLine": f"powershell -enc {encoded}"})
    assert not evaluate(r, {"CommandLine": base64.b64encode(b"https://evil").decode()})
    assert evaluate(one("F|base64", "cmd"), {"F": "Y21k"})
    assert not evaluate(one("F|base64", "cmd"), {"F": "Y21kZA=="})


def test_utf16_encodings() -> None:
    # Appendix: cmd > 63 00 6d 00 64 00 (le), 00 63 00 6d 00 64 (be), FF FE + le (utf16).
    assert evaluate(one("F|wide|base64", "cmd"), {"F": base64.b64encode(b"c\0m\0d\0").decode()})
    assert evaluate(one("F|utf16le|base64", "cmd"), {"F": "YwBtAGQA"})
    assert evaluate(one("F|utf16be|base64", "cmd"), {"F": "AGMAbQBk"})
    assert evaluate(one("F|utf16|base64", "cmd"), {"F": "//5jAG0AZAA="})
    r = one("F|wide|base64offset|contains", "cmd")
    assert evaluate(r, {"F": base64.b64encode("/c cmd.exe".encode("utf-16-le")).decode()})
    with pytest.raises(RuleError):  # utf16 output is bytes: only base64 can follow
        evaluate(one("F|wide", "cmd"), {})


def test_regex() -> None:
    assert evaluate(one("F|re", "b+c"), {"F": "abbbcd"})  # unanchored
    assert not evaluate(one("F|re", "B+C"), {"F": "abbbcd"})  # case-sensitive by default
    assert evaluate(one("F|re|i", "B+C"), {"F": "abbbcd"})
    assert not evaluate(one("F|re", "^b$"), {"F": "a\nb\nc"})
    assert evaluate(one("F|re|m", "^b$"), {"F": "a\nb\nc"})
    assert not evaluate(one("F|re", "a.b"), {"F": "a\nb"})
    assert evaluate(one("F|re|s", "a.b"), {"F": "a\nb"})
    assert evaluate(one("F|re", "^tru"), {"F": True})  # applies to the string form
    for bad in ("F|re|contains", "F|contains|re", "F|i"):
        with pytest.raises(RuleError):
            evaluate(one(bad, "x"), {})
    with pytest.raises(RuleError):
        evaluate(one("F|re", "a(b"), {})


def test_numeric_comparisons() -> None:
    assert evaluate(one("EventID|gt", 4000), {"EventID": "4624"})
    assert evaluate(one("EventID|gt", 4000), {"EventID": 4000.5})
    assert not evaluate(one("EventID|gt", 4000), {"EventID": 4000})
    assert evaluate(one("EventID|gte", 4000), {"EventID": "+4000"})
    assert evaluate(one("EventID|lt", 1.5), {"EventID": "1e0"})
    assert evaluate(one("EventID|lte", 0.5), {"EventID": ".5"})
    assert not evaluate(one("EventID|gt", 4000), {"EventID": " 4624"})  # not all number
    assert not evaluate(one("EventID|gt", 0), {"EventID": True})
    assert not evaluate(one("EventID|gt", 0), {"EventID": None})
    with pytest.raises(RuleError):
        evaluate(one("EventID|gt", "4000"), {})


def test_neq() -> None:
    r = one("User|neq", ["SYSTEM", "LOCAL SERVICE"])
    assert evaluate(r, {"User": "alice"})
    assert not evaluate(r, {"User": "system"})
    assert not evaluate(r, {})  # an absent field differs from nothing
    assert not evaluate(r, {"User": None})
    assert evaluate(one("Port|neq", 80), {"Port": 443})
    assert not evaluate(one("Port|neq", 80), {"Port": "80"})


def test_cidr() -> None:
    r = one("DestinationIp|cidr", "10.0.0.0/8")
    assert evaluate(r, {"DestinationIp": "10.1.2.3"})
    assert not evaluate(r, {"DestinationIp": "11.0.0.1"})
    assert not evaluate(r, {"DestinationIp": "fe80::1"})
    assert not evaluate(r, {"DestinationIp": 167837955})  # 10.1.2.3 as an int is no address
    assert evaluate(one("Ip|cidr", "2001:db8::/32"), {"Ip": "2001:DB8::42"})
    assert evaluate(one("Ip|cidr", "10.1.2.3/8"), {"Ip": "10.9.9.9"})  # host bits allowed
    with pytest.raises(RuleError):
        evaluate(one("Ip|cidr", "10.0.0.0/33"), {})


def test_fieldref() -> None:
    r = one("SourceUser|fieldref", "TargetUser")
    assert evaluate(r, {"SourceUser": "Alice", "TargetUser": "alice"})
    assert not evaluate(r, {"SourceUser": "Alice", "TargetUser": "bob"})
    assert not evaluate(r, {"SourceUser": "Alice"})
    assert not evaluate(r, {"SourceUser": None, "TargetUser": None})
    assert evaluate(r, {"SourceUser": 5, "TargetUser": "5"})  # string forms compared
    assert not evaluate(one("A|fieldref|cased", "B"), {"A": "Alice", "B": "alice"})
    assert evaluate(one("A|fieldref", ["B", "C"]), {"A": "x", "C": "X"})


def test_expand() -> None:
    ph = {"Admins": ["root", "adm*"], "Servers": ["srv?", "db"]}
    assert evaluate(one("U", "%Admins%"), {"U": "%admins%"})  # literal without expand
    assert not evaluate(one("U", "%Admins%"), {"U": "root"}, ph)
    r = one("U|expand", "%Admins%")
    assert evaluate(r, {"U": "ROOT"}, ph)
    assert evaluate(r, {"U": "administrator"}, ph)  # placeholder wildcards keep meaning
    assert not evaluate(r, {"U": "%Admins%"}, ph)
    both = one("Host|expand", "%Admins%@%Servers%")
    assert evaluate(both, {"Host": "root@srv1"}, ph)
    assert evaluate(both, {"Host": "admin@db"}, ph)
    assert not evaluate(both, {"Host": "root@srv"}, ph)
    # Spec: `\%plain%name%` is a plain `%plain` followed by the placeholder.
    assert evaluate(one("U|expand", r"\%plain%Admins%"), {"U": "%plainroot"}, ph)
    for bad, placeholders in (("%Nope%", ph), ("%Admins%", None)):
        with pytest.raises(RuleError):
            evaluate(one("U|expand", bad), {}, placeholders)


def test_unknown_modifier() -> None:
    with pytest.raises(RuleError):
        evaluate(one("F|startwith", "x"), {})


# -------------------------------------------------------------------- keywords


def test_keywords() -> None:
    r = rule(
        """
        mimikatz_keywords:
            - 'event::clear'
            - 'event::drop'
        condition: mimikatz_keywords
        """
    )
    assert evaluate(r, {"A": 1, "Msg": "ran EVENT::Clear now"})
    assert not evaluate(r, {"Msg": "event::list", "Other": None})
    r = rule(
        """
        keywords_cmdlet:
            '|all':
                - 'OabVirtualDirectory'
                - ' -ExternalUrl '
        condition: keywords_cmdlet
        """
    )
    assert evaluate(r, {"A": "set-oabvirtualdirectory", "B": "x -ExternalUrl y"})
    assert not evaluate(r, {"A": "set-oabvirtualdirectory -ExternalUrl"})
    assert evaluate({"detection": {"k": [4624], "condition": "k"}}, {"Id": 14624})


# ------------------------------------------------------------------- conditions


def test_them_excludes_underscore_names() -> None:
    r = rule(
        """
        selection_a:
            A: 'x'
        selection_b:
            B: 'y'
        _filter:
            C: 'z'
        condition: all of them
        """
    )
    assert evaluate(r, {"A": "x", "B": "y"})
    assert not evaluate(r, {"A": "x"})
    r["detection"]["condition"] = "1 of them"
    assert not evaluate(r, {"C": "z"})
    r["detection"]["condition"] = "1 of _*"  # a pattern may name _-identifiers
    assert evaluate(r, {"C": "z"})


def test_one_of_pattern_and_not() -> None:
    r = rule(
        """
        selection1:
            A: 'x'
        selection2:
            B: 'y'
        filter_main:
            C: 'z'
        condition: 1 of selection* and not 1 of filter*
        """
    )
    assert evaluate(r, {"B": "y"})
    assert not evaluate(r, {"B": "y", "C": "z"})
    assert not evaluate(r, {"C": "z"})


@pytest.mark.parametrize(
    ("condition", "fields", "matches"),
    [
        ("a or b and c", {"A": 1}, True),  # and binds tighter than or
        ("(a or b) and c", {"A": 1}, False),
        ("not a and b", {"B": 1}, True),  # not binds tighter than and
        ("not (a and b)", {"A": 1, "B": 1}, False),
        ("not a or b", {"A": 1}, False),
        ("not 1 of b* or a", {"B": 1}, False),
        ("all of c*", {"C": 1}, True),
        (["a", "b"], {"B": 1}, True),  # a condition list ORs
    ],
)
def test_condition_precedence(condition: Any, fields: dict[str, int], matches: bool) -> None:
    r = {"detection": {"a": {"A": 1}, "b": {"B": 1}, "c": {"C": 1}, "condition": condition}}
    assert evaluate(r, fields) is matches


@pytest.mark.parametrize("condition", ["a and d", "1 of x*", "a and", "(a", "a b", "2 of a*"])
def test_bad_conditions_are_rejected(condition: str) -> None:
    with pytest.raises(RuleError):
        evaluate({"detection": {"a": {"A": 1}, "condition": condition}}, {})


def test_unused_invalid_identifier_still_rejects() -> None:
    r = {"detection": {"a": {"A": 1}, "b": {"B|gt": "x"}, "condition": "a"}}
    with pytest.raises(RuleError):
        evaluate(r, {"A": 1})
