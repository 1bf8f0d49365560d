"""``pyetwkit run automation.toml``: rules bound to actions, live or over a
recording (``--etl``); ``--check`` validates and prints the plan, ``--dry-run``
reports what would run without running it."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from contextlib import ExitStack
from typing import Any, TextIO

from pyetwkit._cli_args import count


def _describe_action(action: Any) -> str:
    spec = action.spec
    if action.kind == "exec":
        return "exec " + json.dumps(spec["argv"]) + f" (in {spec['cwd']})"
    if action.kind == "script":
        return f"script {spec['path']} {json.dumps(spec.get('args', []))} (event as JSON on stdin)"
    if action.kind == "http":
        return f"http {spec.get('method', 'POST')} {spec['url']}"
    target = spec.get("file", "the pyetwkit.automation logger")
    return f"log {spec.get('level', 'info')} to {target}: {spec.get('message', '(default)')!r}"


def _describe_policy(policy: Any) -> str:
    parts = [f"mode={policy.mode}"]
    if policy.mode == "parallel":
        parts.append(f"max_concurrent={policy.max_concurrent}")
    if policy.throttle_count:
        key = f" per {policy.throttle_key}" if policy.throttle_key else ""
        parts.append(f"throttle={policy.throttle_count}/{policy.throttle_window:g}s{key}")
    if policy.dedupe_window:
        key = f" by {policy.dedupe_key}" if policy.dedupe_key else ""
        parts.append(f"dedupe={policy.dedupe_window:g}s{key}")
    if policy.timeout:
        parts.append(f"timeout={policy.timeout:g}s")
    if policy.retries:
        parts.append(f"retries={policy.retries} (backoff {policy.backoff:g}s)")
    parts.append(f"on_error={policy.on_error}")
    return ", ".join(parts)


def print_plan(automation: Any, args: argparse.Namespace, out: TextIO) -> None:
    session = automation.session
    if args.etl or session.etl:
        speed = args.speed if args.etl else session.speed
        paced = f" at {speed:g}x" if speed else " as fast as it reads"
        out.write(f"source: recording {args.etl or session.etl}{paced}\n")
    else:
        sources = [*map(str, session.providers), *(f"kernel:{k}" for k in session.kernel)]
        out.write(f"source: live session of {', '.join(sources) or '(nothing)'}\n")
    out.write(f"rules: {len(automation.rules)}\n")
    for rule in automation.rules:
        selects = []
        if rule.rule_set is not None:
            rejected = len(rule.rule_set.rejected)
            selects.append(
                f"{len(rule.rule_set)} Sigma rules"
                + (f" ({rejected} rejected)" if rejected else "")
            )
        if rule.filter is not None:
            selects.append(f"trigger {rule.filter!r}")
        out.write(f"  {rule.name}: {' and '.join(selects)}\n")
        if rule.rule_set is not None:
            for source, reason in rule.rule_set.rejected:
                out.write(f"    rejected {source}: {reason}\n")
        actions = automation.actions_of(rule.name)
        if not actions:
            out.write("    (no action: matches are only counted)\n")
        for action in actions:
            policy = action.policy.over(rule.policy)
            out.write(f"    -> {action.name}: {_describe_action(action)}\n")
            out.write(f"       {_describe_policy(policy)}\n")
    if any(a.kind == "http" for a in automation.actions):
        out.write("security: webhooks allowed (allow_http = true)\n")


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pyetwkit.automation import ConfigError, load

    try:
        automation = load(args.file)
    except ConfigError as e:
        print(f"pyetwkit run: {e}", file=err)
        return 2
    except OSError as e:
        print(f"pyetwkit run: {args.file}: {e.strerror or e}", file=err)
        return 2
    if args.speed is not None and not args.etl:
        print(
            "pyetwkit run: --speed applies with --etl (or speed in the file's [session])", file=err
        )
        return 2
    if args.speed is not None and args.speed <= 0:
        print("pyetwkit run: --speed must be a positive number", file=err)
        return 2
    if args.check:
        print_plan(automation, args, out)
        return 0
    logging.basicConfig(
        level=logging.INFO,
        stream=err,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from pyetwkit.automation.metrics import Metrics, prom
    from pyetwkit.automation.runner import Runner

    metrics = Metrics() if prom is not None else None
    if (args.metrics_port is not None or args.stats) and metrics is None:
        print(
            "pyetwkit run: metrics need prometheus_client: pip install 'pyetwkit[automation]'",
            file=err,
        )
        return 2
    with ExitStack() as stack:
        audit = None
        if args.audit:
            audit = stack.enter_context(open(args.audit, "w", encoding="utf-8"))
        if args.metrics_port is not None:
            assert metrics is not None
            metrics.serve(args.metrics_port, args.metrics_addr)
            print(f"metrics on http://{args.metrics_addr}:{args.metrics_port}/metrics", file=err)
        runner = Runner(
            automation,
            etl=args.etl,
            speed=args.speed,
            manifests=tuple(args.manifest),
            dry_run=args.dry_run,
            audit=audit,
            metrics=metrics,
            watch=args.watch,
        )
        report = asyncio.run(runner.run())
    results = ", ".join(f"{n} {r}" for r, n in sorted(report.results.items())) or "none"
    print(
        f"pyetwkit run: {report.events} events, "
        f"{sum(report.matched.values())} matches, actions: {results}",
        file=err,
    )
    if args.stats and metrics is not None:
        for name, value in metrics.summary().items():
            out.write(f"{name} {value:g}\n")
    return 1 if report.failed else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run an automation file: rules bound to actions, live or over a recording",
        description="Runs the rules and actions of an automation file (docs/automation.md). "
        "Exit status: 0 when every action succeeded, 1 when one failed, 2 for a bad file.",
    )
    run.add_argument("file", metavar="AUTOMATION.toml")
    run.add_argument(
        "--etl", metavar="FILE", help="run over this recording instead of the file's sources"
    )
    run.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="with --etl: replay paced at X times the recorded rate",
    )
    run.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="MAN",
        help="an instrumentation manifest to decode events with (repeatable)",
    )
    run.add_argument(
        "--check",
        action="store_true",
        help="validate the file and print the plan: rules, actions, policies",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="evaluate and report what would run, without running it",
    )
    run.add_argument(
        "--audit",
        metavar="OUT.jsonl",
        help="write one JSON line per action decision (what ran, with what result)",
    )
    run.add_argument(
        "--metrics-port",
        type=count(0),
        metavar="PORT",
        help="serve Prometheus metrics on this port",
    )
    run.add_argument(
        "--metrics-addr",
        default="127.0.0.1",
        metavar="ADDR",
        help="the address to serve metrics on (default 127.0.0.1)",
    )
    run.add_argument("--stats", action="store_true", help="print the metrics at the end")
    run.add_argument(
        "--no-watch",
        dest="watch",
        action="store_false",
        help="do not reload the file when it changes",
    )
    run.set_defaults(func=cmd_run)
