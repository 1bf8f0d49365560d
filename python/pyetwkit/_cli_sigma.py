"""``pyetwkit sigma``: ``check`` reports how a rule set loads; ``scan`` runs it
over a recording and prints each match with its rule's title, level, author and
link (the Detection Rule License asks that match output keep the author)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from pyetwkit import sigma
from pyetwkit._core import EtwEvent
from pyetwkit.etl import open_etl

LEVELS = ("informational", "low", "medium", "high", "critical")


def _load(args: argparse.Namespace) -> sigma.RuleSet:
    return sigma.RuleSet.load(
        args.rules,
        levels=args.level or None,
        statuses=args.status or None,
    )


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    rules = _load(args)
    report = {
        "loaded": len(rules),
        "correlations": len(rules.correlations),
        "rejected": [{"source": s, "reason": r} for s, r in rules.rejected],
        "filtered_out": rules.filtered_out,
        "by_logsource": rules.counts_by_logsource(),
    }
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        total = len(rules) + len(rules.rejected)
        share = f" ({100 * len(rules) / total:.1f}%)" if total else ""
        print(f"rules loaded:   {len(rules)} of {total}{share}", file=out)
        print(f"correlations:   {len(rules.correlations)}", file=out)
        if rules.filtered_out:
            print(f"left out by --level/--status: {rules.filtered_out}", file=out)
        print(f"rules rejected: {len(rules.rejected)}", file=out)
        for source, reason in rules.rejected:
            print(f"  {source}: {reason}", file=out)
        print("by logsource (product/category/service):", file=out)
        for label, n in sorted(rules.counts_by_logsource().items(), key=lambda kv: -kv[1]):
            print(f"  {n:6}  {label}", file=out)
    return 0 if len(rules) or not rules.rejected else 1


def _describe(event: EtwEvent, match: sigma.Match) -> dict[str, object]:
    return {
        "timestamp": event.timestamp,
        "provider": event.provider_name or event.provider_id,
        "event": event.name,
        "pid": event.pid,
        "rule_id": match.rule_id,
        "title": match.title,
        "level": match.level,
        "author": match.author,
        "link": match.rule.link,
        "rule_file": match.rule.source,
        "fields": match.fields,
    }


def cmd_scan(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    progress_for: Callable[[str, bool | None], bool],
) -> int:
    rules = _load(args)
    if rules.rejected:
        print(
            f"({len(rules.rejected)} rule(s) rejected; `pyetwkit sigma check` says why)", file=err
        )
    if not len(rules):
        print("pyetwkit: error: no rule loaded", file=err)
        return 1
    by_rule: Counter[str] = Counter()
    with open_etl(
        args.etl,
        rules=rules,
        progress=progress_for(args.etl, args.progress),
        prescan_processes=args.prescan,
        prescan_schemas=args.prescan,
    ) as etl:
        for event in etl:
            for match in event.matches:
                by_rule[f"[{match.level or '-'}] {match.title}"] += 1
                row = _describe(event, match)
                if args.format == "jsonl":
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                else:
                    fields = " ".join(f"{k}={v!r}" for k, v in match.fields.items())
                    print(
                        f"{event.timestamp} [{match.level or '-'}] {match.title}"
                        f" (by {match.author or 'unknown'}; {match.rule.link or match.rule.source})"
                        f"\n    {fields}",
                        file=out,
                    )
    print(f"{sum(by_rule.values())} match(es) of {len(by_rule)} rule(s) in {args.etl}", file=err)
    for label, n in by_rule.most_common():
        print(f"  {n:6}  {label}", file=err)
    return 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    progress_flags: Callable[[argparse.ArgumentParser], None],
    progress_for: Callable[[str, bool | None], bool],
) -> None:
    group = sub.add_parser("sigma", help="Sigma rules: check a rule set, scan a recording")
    commands = group.add_subparsers(dest="sigma_command", required=True)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("rules", nargs="+", metavar="RULES", help="rule files or folders (.yml)")
        p.add_argument(
            "--level", action="append", choices=LEVELS, default=[], help="keep only this level"
        )
        p.add_argument("--status", action="append", default=[], help="keep only this status")

    check = commands.add_parser("check", help="load rules and report what loaded and why not")
    selection(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=cmd_check)

    scan = commands.add_parser("scan", help="match rules against an .etl recording")
    selection(scan)
    scan.add_argument("--etl", required=True, metavar="FILE", help="the recording to scan")
    scan.add_argument("--format", choices=("text", "jsonl"), default="text")
    scan.add_argument(
        "--prescan",
        action="store_true",
        help="read the file's processes and schemas first, so that parents are known",
    )
    progress_flags(scan)
    scan.set_defaults(func=lambda a, o, e: cmd_scan(a, o, e, progress_for))
