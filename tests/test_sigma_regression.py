"""SigmaHQ's regression cases through ``RuleSet.match``: every rule that has
samples matches at least ``match_count`` of them, routed as thor.yml routes them;
and every rule in the tree loads or is rejected with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pyetwkit import sigma
from sigma_thor import Thor, flatten, mapped, read_samples

RULE_TREES = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def _cases(root: Path) -> list[tuple[str, Path, list[tuple[Path, int]]]]:
    """(rule id, rule file, [(sample, match_count)]) for every info.yml with a rule here."""
    rules_by_id: dict[str, Path] = {}
    for tree in RULE_TREES:
        for path in (root / tree).rglob("*.yml"):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and "regression_tests_path" in doc:
                rules_by_id[str(doc["id"])] = path
    cases = []
    for info_path in sorted((root / "regression_data").rglob("info.yml")):
        info = yaml.safe_load(info_path.read_text())
        rule_id = str(info["rule_metadata"][0]["id"])
        tests = info.get("regression_tests_info") or []
        if rule_id not in rules_by_id or not tests:
            continue
        samples = [
            (root / t["path"].replace(".evtx", ".json"), int(t.get("match_count", 1)))
            for t in tests
        ]
        cases.append((rule_id, rules_by_id[rule_id], samples))
    return cases


@pytest.fixture(scope="module")
def cases(sigma_dir: Path) -> list[tuple[str, Path, list[tuple[Path, int]]]]:
    return _cases(sigma_dir)


@pytest.fixture(scope="module")
def thor(sigma_dir: Path) -> Thor:
    return Thor.load(sigma_dir / "tests" / "thor.yml")


def _matches(rules: sigma.RuleSet, thor: Thor, sample: dict[str, Any], rule_id: str) -> bool:
    system, fields = flatten(sample)
    for route in thor.routes(system, fields):
        found = rules.match(
            mapped(fields, route),
            product=route.product,
            category=route.category,
            service=route.service,
        )
        if any(m.rule_id == rule_id for m in found):
            return True
    return False


def test_all_regression_cases_pass(
    cases: list[tuple[str, Path, list[tuple[Path, int]]]], thor: Thor
) -> None:
    assert len(cases) == 202
    failures = []
    for rule_id, rule_path, samples in cases:
        rules = sigma.RuleSet.load([rule_path])
        assert len(rules) == 1, (rule_path, rules.rejected)
        for sample_path, want in samples:
            hits = sum(_matches(rules, thor, s, rule_id) for s in read_samples(sample_path))
            if hits < want:
                failures.append(f"{rule_path.name}: {hits} of {want} matches in {sample_path.name}")
    assert not failures, "\n".join(failures)


def test_regression_samples_match_only_their_routes(
    cases: list[tuple[str, Path, list[tuple[Path, int]]]], thor: Thor
) -> None:
    # The negative side: a sample routed to a logsource its rule does not
    # name must not match it (routing is part of matching).
    _rule_id, rule_path, samples = next(c for c in cases if "proc_creation" in c[1].name)
    rules = sigma.RuleSet.load([rule_path])
    sample = next(read_samples(samples[0][0]))
    _, fields = flatten(sample)
    assert rules.match(fields, category="process_creation")
    assert not rules.match(fields, category="image_load")
    assert not rules.match(fields, category="process_creation", product="linux")


def test_whole_tree_loads_or_says_why(sigma_dir: Path) -> None:
    rules = sigma.RuleSet.load([sigma_dir / "rules"])
    total = len(rules) + len(rules.rejected)
    assert total == 2407
    assert len(rules) / total >= 0.99, rules.rejected
    for source, reason in rules.rejected:
        assert source.endswith(".yml")
        assert reason
    counts = rules.counts_by_logsource()
    assert counts["windows/process_creation/-"] == 1183


def test_one_ruleset_matches_every_case_together(
    sigma_dir: Path, cases: list[tuple[str, Path, list[tuple[Path, int]]]], thor: Thor
) -> None:
    # All rule trees in one set, as a user loads them: each sample still finds
    # its own rule among 2,400 others (the prefilter must not hide it).
    rules = sigma.RuleSet.load([sigma_dir / t for t in RULE_TREES])
    missing = []
    for rule_id, rule_path, samples in cases:
        sample_path, _ = samples[0]
        if not any(_matches(rules, thor, s, rule_id) for s in read_samples(sample_path)):
            missing.append(rule_path.name)
    assert not missing
