"""The automation file's validation: errors name the file, line and key; unknown
keys are errors; webhooks are refused unless the file allows them."""

from __future__ import annotations

import pytest
from pyetwkit import automation

BASE = """\
[session]
etl = "trace.etl"

[[rule]]
name = "new-process"
sigma = ["rules/"]

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
    assert auto.session.etl == "trace.etl"
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
        (('sigma = ["rules/"]', 'sigma = ["rules/"]\nmode = "lazy"'), "rule[0].mode", "one of"),
        (
            ('sigma = ["rules/"]', 'sigma = ["rules/"]\nthrottle = { count = 0, window = "1m" }'),
            "rule[0].throttle.count",
            "positive integer",
        ),
        (
            ('sigma = ["rules/"]', 'sigma = ["rules/"]\ndedupe = { window = "soon" }'),
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
