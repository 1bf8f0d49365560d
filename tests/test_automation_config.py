"""The automation file's validation: errors name the file, line and key; unknown
keys are errors; webhooks are refused unless the file allows them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyetwkit import automation

BASE = """\
[session]
etl = "trace.etl"

[[rule]]
name = "new-process"
trigger = { event = "Process/Start" }

[[action]]
rule = "new-process"
exec = ["python3", "notify.py", "{{CommandLine}}"]
"""


def error_of(text: str) -> automation.ConfigError:
    with pytest.raises(automation.ConfigError) as caught:
        automation.loads(text, "automation.toml")
    return caught.value


def test_a_valid_file() -> None:
    auto = automation.loads(BASE, "automation.toml")
    assert auto.session.etl == os.path.abspath("trace.etl")  # from the file's folder
    assert [r.name for r in auto.rules] == ["new-process"]
    (action,) = auto.actions_of("new-process")
    assert action.kind == "exec"
    assert action.spec["argv"] == ["python3", "notify.py", "{{CommandLine}}"]
    assert action.templates() == ["CommandLine"]
    assert action.policy.mode == "queued"  # nothing dropped unless a policy says so


def test_unknown_keys_name_file_line_and_key() -> None:
    e = error_of(BASE.replace('exec = ["python3"', 'timeuot = 5\nexec = ["python3"'))
    assert (e.path, e.line, e.key) == ("automation.toml", 10, "action[0].timeuot")
    assert "unknown key" in str(e)
    assert str(e).startswith("automation.toml:10: action[0].timeuot: unknown key")


def test_webhooks_are_refused_unless_allowed() -> None:
    hook = '\n[[action]]\nrule = "new-process"\nhttp = { url = "https://hooks.example/a" }\n'
    e = error_of(BASE + hook)
    assert e.key == "action[1].http"
    assert "allow_http" in e.why
    allowed = automation.loads("[security]\nallow_http = true\n" + BASE + hook)
    assert allowed.actions[1].kind == "http"


@pytest.mark.parametrize(
    ("change", "key", "why"),
    [
        (('rule = "new-process"', 'rule = "nope"'), "action[0].rule", "no rule is named"),
        (("exec = [", "exec = 'sh -c x' #["), "action[0].exec", "argv list"),
        (
            (
                'trigger = { event = "Process/Start" }',
                'trigger = { event = "Process/Start" }\nmode = "lazy"',
            ),
            "rule[0].mode",
            "one of",
        ),
        (
            (
                'trigger = { event = "Process/Start" }',
                'trigger = { event = "Process/Start" }\nthrottle = { count = 0, window = "1m" }',
            ),
            "rule[0].throttle.count",
            "positive integer",
        ),
        (
            (
                'trigger = { event = "Process/Start" }',
                'trigger = { event = "Process/Start" }\ndedupe = { window = "soon" }',
            ),
            "rule[0].dedupe.window",
            "positive duration",
        ),
        (
            ('etl = "trace.etl"', 'etl = "trace.etl"\nkernel = ["process"]'),
            "session.etl",
            "not both",
        ),
    ],
)
def test_invalid_values_say_why(change: tuple[str, str], key: str, why: str) -> None:
    e = error_of(BASE.replace(*change))
    assert e.key == key
    assert why in e.why


def test_not_toml_at_all() -> None:
    e = error_of("[[rule]\nname = 1")
    assert "not valid TOML" in str(e)


@pytest.mark.parametrize(
    ("trigger", "key", "why"),
    [
        ('{ event = "Process/Start", colour = 1 }', "rule[0].trigger.colour", "unknown key"),
        ('{ property = { name = "X", regex = "(" } }', "rule[0].trigger.property", "regular"),
        ('{ path = { property = "F", glob = "[z" } }', "rule[0].trigger.path", "glob"),
        ('{ event = 70000 }', "rule[0].trigger.event", "16-bit"),
        ('{ any = [] }', "rule[0].trigger.any", "non-empty list"),
        ('{ property = { name = "X", equals = 1, contains = "a" } }', "rule[0].trigger.property",
         "give one test"),
    ],
)  # fmt: skip
def test_triggers_compile_at_load(trigger: str, key: str, why: str) -> None:
    e = error_of(BASE.replace('trigger = { event = "Process/Start" }', f"trigger = {trigger}"))
    assert e.key == key
    assert why in e.why
    assert e.line == 6


def test_triggers_become_rust_filters() -> None:
    text = BASE.replace(
        'trigger = { event = "Process/Start" }',
        'trigger = { provider = "Process", event = ["Process/Start", 1], any = ['
        '{ process_name = "power*.exe" }, { path = { property = "FileName", glob = "*.dll" } }'
        '], property = { name = "Size", min = 10 } }',
    )
    (rule,) = automation.loads(text, "automation.toml").rules
    assert repr(rule.filter) == (
        "provider('Process') & (event_name('Process/Start') | event_id(1)) & "
        "(process_glob('power*.exe') | property_glob('FileName', '*.dll')) & "
        "property_range('Size', min=10, max=None)"
    )


def test_sigma_paths_are_read_from_the_files_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    (folder / "rules").mkdir(parents=True)
    (folder / "rules" / "r.yml").write_text(
        "title: T\nlogsource: {category: process_creation, product: windows}\n"
        "detection: {sel: {Image|endswith: '.exe'}, condition: sel}\n"
    )
    (folder / "rules" / "bad.yml").write_text("title: Broken\ndetection: {condition: nope}\n")
    text = BASE.replace('trigger = { event = "Process/Start" }', 'sigma = ["rules"]')
    path = folder / "automation.toml"
    path.write_text(text)
    (rule,) = automation.load(path).rules
    assert rule.rule_set is not None
    assert len(rule.rule_set) == 1
    assert len(rule.rule_set.rejected) == 1
    missing = text.replace('sigma = ["rules"]', 'sigma = ["nope"]')
    path.write_text(missing)
    with pytest.raises(automation.ConfigError, match="'nope': no such file or folder"):
        automation.load(path)
    path.write_text(text.replace('sigma = ["rules"]', 'sigma = ["rules/bad.yml"]'))
    with pytest.raises(automation.ConfigError, match="no Sigma rule loaded"):
        automation.load(path)


def test_action_names_are_unique() -> None:
    twice = BASE + '\n[[action]]\nname = "exec-0"\nrule = "new-process"\nlog = true\n'
    e = error_of(twice)
    assert (e.key, e.line) == ("action[1].name", len(BASE.splitlines()) + 3)
    assert "earlier action" in e.why
