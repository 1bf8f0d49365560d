"""Sigma detections on ETW events, evaluated in Rust.

Load SigmaHQ rules unchanged and match flat field mappings, ETW events (through
the shipped ETW-to-Sigma mapping, see ``docs/sigma.md``) or a stream with
correlation rules::

    from pyetwkit import sigma

    rules = sigma.RuleSet.load(["rules/windows/process_creation"])
    for m in rules.match({"Image": r"C:\\Windows\\System32\\whoami.exe"},
                         category="process_creation"):
        print(m.level, m.title, "by", m.author)

Rules are under the Detection Rule License (DRL 1.1): match output keeps the
rule's author, as :class:`Match` does.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Union

from pyetwkit import _core

if TYPE_CHECKING:
    from pyetwkit._core import EtwEvent

__all__ = ["CorrelationMatch", "Match", "Rule", "RuleSet", "Stream", "map_event", "mapping_table"]

log = logging.getLogger(__name__)

FieldScalar = str | int | float | bool | None
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Rule:
    """A loaded rule's metadata."""

    id: str
    title: str
    level: str | None
    status: str | None
    author: str | None
    description: str | None
    tags: tuple[str, ...]
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    name: str | None
    product: str | None
    category: str | None
    service: str | None
    source: str

    @property
    def link(self) -> str | None:
        """The rule's first reference, or SigmaHQ's page for its id."""
        return self.references[0] if self.references else None

    @classmethod
    def _from_info(cls, info: Mapping[str, object]) -> Rule:
        def opt(key: str) -> str | None:
            v = info[key]
            return v if isinstance(v, str) else None

        def many(key: str) -> tuple[str, ...]:
            v = info[key]
            return tuple(v) if isinstance(v, list) else ()

        return cls(
            id=str(info["id"]),
            title=str(info["title"]),
            level=opt("level"),
            status=opt("status"),
            author=opt("author"),
            description=opt("description"),
            tags=many("tags"),
            references=many("references"),
            falsepositives=many("falsepositives"),
            name=opt("name"),
            product=opt("product"),
            category=opt("category"),
            service=opt("service"),
            source=str(info["source"]),
        )


class _RuleFacts:
    """What a match says of its rule, read from ``self.rule``."""

    rule: Rule

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def title(self) -> str:
        return self.rule.title

    @property
    def level(self) -> str | None:
        return self.rule.level

    @property
    def status(self) -> str | None:
        return self.rule.status

    @property
    def author(self) -> str | None:
        return self.rule.author

    @property
    def tags(self) -> tuple[str, ...]:
        return self.rule.tags

    @property
    def references(self) -> tuple[str, ...]:
        return self.rule.references

    def __str__(self) -> str:
        return f"[{self.level or '-'}] {self.title} ({self.rule_id}) by {self.author or 'unknown'}"


@dataclass(frozen=True)
class Match(_RuleFacts):
    """A rule matching one event, with the fields its tests read."""

    rule: Rule
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CorrelationMatch(_RuleFacts):
    """A correlation rule firing for one group of events."""

    rule: Rule
    group: dict[str, str]
    count: float
    timestamp: float


def _paths(paths: PathLike | Iterable[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [os.fspath(p) for p in paths]


def _seconds(timestamp: float | datetime) -> float:
    if isinstance(timestamp, datetime):
        return timestamp.timestamp()
    return float(timestamp)


class RuleSet:
    """Compiled Sigma rules. Build one with :meth:`load` or :meth:`from_yaml`.

    A rule that cannot load never stops the others: it is listed in
    :attr:`rejected` with the reason.
    """

    def __init__(self, inner: _core.SigmaRuleSet) -> None:
        self._inner = inner
        self.rules: tuple[Rule, ...] = tuple(Rule._from_info(i) for i in inner.rule_infos())
        self.correlations: tuple[Rule, ...] = tuple(
            Rule._from_info(i) for i in inner.correlation_infos()
        )
        if inner.rejected:
            log.info("%d Sigma rule(s) rejected", len(inner.rejected))

    @classmethod
    def load(
        cls,
        paths: PathLike | Iterable[PathLike],
        *,
        levels: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        placeholders: Mapping[str, Sequence[str]] | None = None,
    ) -> RuleSet:
        """Loads every ``.yml``/``.yaml`` file at ``paths`` (folders recursively).

        ``levels``, ``statuses`` and ``tags`` keep only the rules that have one of
        the values given; ``placeholders`` gives the values of ``%name%`` in
        values with the ``expand`` modifier (a rule needing an unknown one is rejected).
        """
        return cls(
            _core.SigmaRuleSet.load(
                _paths(paths),
                levels=list(levels) if levels is not None else None,
                statuses=list(statuses) if statuses is not None else None,
                tags=list(tags) if tags is not None else None,
                placeholders=_placeholders(placeholders),
            )
        )

    @classmethod
    def from_yaml(
        cls,
        texts: str | Sequence[str],
        *,
        placeholders: Mapping[str, Sequence[str]] | None = None,
    ) -> RuleSet:
        """Compiles rules from YAML text (one or several documents per text)."""
        if isinstance(texts, str):
            texts = [texts]
        labelled = [(f"<yaml {i}>", t) for i, t in enumerate(texts)]
        return cls(
            _core.SigmaRuleSet.from_texts(labelled, placeholders=_placeholders(placeholders))
        )

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"<RuleSet {len(self.rules)} rules, {len(self.rejected)} rejected>"

    @property
    def rejected(self) -> list[tuple[str, str]]:
        """``[(source, reason)]`` for each rule that could not load."""
        return self._inner.rejected

    @property
    def filtered_out(self) -> int:
        """Rules left out by ``levels``, ``statuses`` or ``tags``."""
        return self._inner.filtered_out

    def counts_by_logsource(self) -> dict[str, int]:
        """Rules per ``product/category/service`` (``-`` for a key left out)."""
        return dict(self._inner.counts_by_logsource)

    def match(
        self,
        fields: Mapping[str, FieldScalar],
        *,
        category: str | None = None,
        service: str | None = None,
        product: str | None = "windows",
    ) -> list[Match]:
        """The rules that match ``fields``, a flat mapping of field name to value.

        A rule applies when its logsource's product, category and service equal
        the ones given; a key the rule's logsource leaves out matches anything.
        """
        if not isinstance(fields, dict):
            fields = dict(fields)
        found = self._inner.match_fields(
            fields, product=product, category=category, service=service
        )
        return [Match(self.rules[i], dict(matched)) for i, matched in found]

    def match_event(self, event: EtwEvent) -> list[Match]:
        """The rules that match an ETW event, through the ETW-to-Sigma mapping.

        Events the mapping does not cover (see ``docs/sigma.md``) match nothing.
        Pass a trace's events in order: the mapping learns the trace's volume
        names and processes from them (drive letters, parent images).
        """
        found = self._inner.match_event(event)
        return [Match(self.rules[i], dict(matched)) for i, matched in found]

    def stream(self, *, max_groups: int = 100_000, max_entries: int = 10_000) -> Stream:
        """A stateful matcher that also evaluates correlation rules.

        State is bounded: at most ``max_groups`` groups per correlation and
        ``max_entries`` timestamps or values per group (see :attr:`Stream.stats`).
        """
        if max_groups < 1 or max_entries < 1:
            raise ValueError("max_groups and max_entries must be at least 1")
        return Stream(self, self._inner.stream(max_groups=max_groups, max_entries=max_entries))

    def _benchmark(
        self,
        events: Sequence[Mapping[str, FieldScalar]],
        *,
        category: str | None = None,
        service: str | None = None,
        product: str | None = "windows",
        repeat: int = 3,
    ) -> dict[str, float]:
        """Times matching in Rust with the GIL released (for ``benches/``)."""
        return self._inner.benchmark(
            [dict(e) for e in events],
            product=product,
            category=category,
            service=service,
            repeat=repeat,
        )


class Stream:
    """Matching over a stream of events, with correlation rules' state."""

    def __init__(self, rules: RuleSet, inner: _core.SigmaStream) -> None:
        self._rules = rules
        self._inner = inner

    def push(
        self,
        fields: Mapping[str, FieldScalar],
        *,
        timestamp: float | datetime,
        category: str | None = None,
        service: str | None = None,
        product: str | None = "windows",
    ) -> list[Match | CorrelationMatch]:
        """Matches one event (``timestamp`` in seconds, or a datetime) and
        advances the correlations. Rules a correlation refers to report their own
        matches only when it says ``generate: true``."""
        if not isinstance(fields, dict):
            fields = dict(fields)
        hits = self._inner.push(
            fields,
            _seconds(timestamp),
            product=product,
            category=category,
            service=service,
        )
        out: list[Match | CorrelationMatch] = []
        for kind, index, pairs, count, at in hits:
            if kind == "rule":
                out.append(Match(self._rules.rules[index], dict(pairs)))
            else:
                out.append(
                    CorrelationMatch(
                        self._rules.correlations[index],
                        dict(pairs),
                        float(count or 0.0),
                        float(at or 0.0),
                    )
                )
        return out

    @property
    def stats(self) -> dict[str, int]:
        """Events pushed, and what bounding the state dropped (never silently)."""
        events, groups, entries = self._inner.stats
        return {"events": events, "groups_evicted": groups, "entries_evicted": entries}


def _placeholders(
    placeholders: Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]] | None:
    if placeholders is None:
        return None
    return {name: [str(v) for v in values] for name, values in placeholders.items()}


def mapping_table() -> str:
    """The ETW-to-Sigma mapping as a Markdown table (what ``docs/sigma.md`` shows)."""
    lines = ["| ETW event | Sigma categories | fields |", "| --- | --- | --- |"]
    for source, categories, fields in _core.sigma_mappings():
        lines.append(f"| {source} | {', '.join(categories)} | {fields} |")
    return "\n".join(lines)


def map_event(event: EtwEvent) -> tuple[list[str], dict[str, FieldScalar]] | None:
    """The Sigma categories and fields of one ETW event, or None when the mapping
    does not cover it. Seen alone: no volume names or parent learned from
    earlier events (``RuleSet.match_event`` and the ``rules=`` stage learn them)."""
    mapped = _core.sigma_map_event(event)
    if mapped is None:
        return None
    categories, pairs = mapped
    return list(categories), dict(pairs)
