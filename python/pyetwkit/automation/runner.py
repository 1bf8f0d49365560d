"""The runner: events from an :class:`~pyetwkit.EtwStreamer` whose selection
(Sigma rules and triggers, evaluated in Rust) names the rules each event
matched; for each, the rule's actions under their policies.

A configuration in force is a :class:`Plan`. A reloaded file becomes a new plan
and a new generation of the Rust selection; each event carries the generation
that chose it and is handled by that plan, so a reload loses no event and no
event is handled twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from pyetwkit._core import EtwEvent, Selection, SigmaRuleSet
from pyetwkit._session import OverflowPolicy
from pyetwkit.automation.actions import (
    LogSink,
    Outcome,
    event_fields,
    render,
    render_argv,
    run_argv,
    run_http,
    run_script,
)
from pyetwkit.automation.config import Action, Automation, ConfigError, Policy, Rule, load
from pyetwkit.automation.metrics import Metrics
from pyetwkit.automation.policies import Dedupe, Dispatcher, Throttle, with_retries
from pyetwkit.automation.sources import streamer
from pyetwkit.sigma import Match

log = logging.getLogger("pyetwkit.automation")

# An action with no timeout of its own gets this one: a hung command must not
# hold its queue forever.
DEFAULT_TIMEOUT = 30.0
FILETIME_PER_SECOND = 10_000_000


def selectors(automation: Automation) -> list[tuple[str, SigmaRuleSet | None, str | None]]:
    """The Rust selection's selectors: one per rule, by its name."""
    return [
        (
            rule.name,
            None if rule.rule_set is None else rule.rule_set._inner,
            None if rule.filter is None else rule.filter.to_json(),
        )
        for rule in automation.rules
    ]


def _limiters(policy: Policy, own: bool) -> tuple[Throttle | None, Dedupe | None]:
    """The throttle and dedupe a policy sets (``own``: only those it sets itself)."""
    explicit = policy.explicit if own else {"throttle", "dedupe"}
    throttle = dedupe = None
    if "throttle" in explicit and policy.throttle_count and policy.throttle_window:
        throttle = Throttle(policy.throttle_count, policy.throttle_window)
    if "dedupe" in explicit and policy.dedupe_window:
        dedupe = Dedupe(policy.dedupe_window)
    return throttle, dedupe


@dataclass
class Binding:
    """One action of one rule, with the state of its policies."""

    rule: Rule
    action: Action
    policy: Policy
    dispatcher: Dispatcher
    throttle: Throttle | None
    dedupe: Dedupe | None
    sink: LogSink | None
    disabled: bool = False


@dataclass
class RuleState:
    rule: Rule
    throttle: Throttle | None
    dedupe: Dedupe | None
    bindings: list[Binding]


@dataclass
class Plan:
    """One configuration in force."""

    automation: Automation
    rules: dict[str, RuleState]

    @classmethod
    def of(cls, automation: Automation) -> Plan:
        rules = {}
        for rule in automation.rules:
            bindings = []
            for action in automation.actions_of(rule.name):
                policy = action.policy.over(rule.policy)
                throttle, dedupe = _limiters(action.policy, own=True)
                sink = LogSink(action.spec) if action.kind == "log" else None
                dispatcher = Dispatcher(policy.mode, policy.max_concurrent)
                bindings.append(Binding(rule, action, policy, dispatcher, throttle, dedupe, sink))
            rules[rule.name] = RuleState(rule, *_limiters(rule.policy, own=False), bindings)
        return cls(automation, rules)

    def bindings(self) -> list[Binding]:
        return [b for state in self.rules.values() for b in state.bindings]


def _key(template: str | None, fields: dict[str, Any]) -> str:
    return "" if template is None else render(template, fields)


def _summary(event: EtwEvent) -> dict[str, Any]:
    """The event as the audit log names it."""
    return {
        "timestamp": event.timestamp,
        "provider_name": event.provider_name,
        "name": event.name,
        "event_id": event.event_id,
        "opcode": event.opcode,
        "pid": event.pid,
        "tid": event.tid,
        "process_name": event.process_name,
    }


@dataclass
class Report:
    """What a run did: action results by kind of result, and its counters."""

    results: Counter[str] = field(default_factory=Counter)
    events: int = 0
    matched: Counter[str] = field(default_factory=Counter)
    reloads: int = 0
    reloads_refused: int = 0

    @property
    def failed(self) -> int:
        return self.results["failed"] + self.results["timeout"]


class Runner:
    """Runs an automation over its sources (or ``etl``) until the source ends
    (a recording) or :meth:`stop` is called; every action started has finished
    when :meth:`run` returns.

    Args:
        automation: the validated file (:func:`pyetwkit.automation.load`).
        etl, speed, manifests: a recording to run over instead of the file's sources.
        dry_run: evaluate and report (audit, metrics) but run no action.
        audit: where to write one JSON line per action decision.
        metrics: the run's counters (:class:`~pyetwkit.automation.metrics.Metrics`;
            none are kept when not given).
        watch: reload the file when it changes (checked every ``watch_interval`` s).
        http_client: an ``httpx.AsyncClient`` for webhooks (one is made when needed).
        overflow: ``"drop"`` to drop (and count) events when Python falls behind
            a replay, as a live session does.
    """

    def __init__(
        self,
        automation: Automation,
        *,
        etl: str | None = None,
        speed: float | None = None,
        manifests: tuple[str, ...] = (),
        dry_run: bool = False,
        audit: IO[str] | None = None,
        metrics: Metrics | None = None,
        watch: bool = False,
        watch_interval: float = 1.0,
        http_client: Any = None,
        overflow: OverflowPolicy | None = None,
    ) -> None:
        self.automation = automation
        self.dry_run = dry_run
        self.audit = audit
        self.metrics = metrics
        self.watch = watch
        self.watch_interval = watch_interval
        self.report = Report()
        self.selection = Selection(selectors(automation))
        self.plans: dict[int, Plan] = {self.selection.generation: Plan.of(automation)}
        self._retired: list[Plan] = []
        self._stream = streamer(
            automation, self.selection, etl=etl, speed=speed, manifests=manifests, overflow=overflow
        )
        self._live = etl is None and automation.session.etl is None
        self._http = http_client
        self._own_http = False
        self._mtime = _mtime(automation.path)
        self._counted = (0, 0)  # (events, evaluations) already in the metrics
        self._dropped = 0

    # Running

    def stop(self) -> None:
        """Ends the run: the stream stops; actions already started finish."""
        self._stream.stop()

    async def run(self) -> Report:
        tasks = [asyncio.ensure_future(self._tick())]
        try:
            async with self._stream as stream:
                async for event in stream:
                    self._handle(event)
        finally:
            for task in tasks:
                task.cancel()
            await self._drain()
            self._sync_counts()
            for plan in [*self.plans.values(), *self._retired]:
                for binding in plan.bindings():
                    if binding.sink is not None:
                        binding.sink.close()
            if self._own_http:
                await self._http.aclose()
        return self.report

    async def _drain(self) -> None:
        for plan in [*self._retired, *self.plans.values()]:
            for binding in plan.bindings():
                await binding.dispatcher.drain()

    async def _tick(self) -> None:
        """Once per ``watch_interval``: the counters, and the file when watched."""
        while True:
            await asyncio.sleep(self.watch_interval)
            self._sync_counts()
            if self.watch:
                self.reload_if_changed()

    def _sync_counts(self) -> None:
        events, evaluated = self.selection.counts()
        self.report.events = events
        if self.metrics is not None:
            self.metrics.events.inc(events - self._counted[0])
            self.metrics.evaluated.inc(evaluated - self._counted[1])
        self._counted = (events, evaluated)
        if self._stream._session is not None:
            stats = self._stream.stats()
            dropped = stats.dropped + (stats.etw_events_lost or 0)
            if self.metrics is not None and dropped > self._dropped:
                self.metrics.dropped.inc(dropped - self._dropped)
            self._dropped = max(self._dropped, dropped)

    # Reloading

    def reload_if_changed(self) -> bool:
        """Reloads the file if it changed since it was read; whether it did."""
        mtime = _mtime(self.automation.path)
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        return self.reload()

    def reload(self) -> bool:
        """Validates the file again and, if valid, puts it in force from the next
        event on. An invalid file leaves the running configuration, and says why."""
        try:
            automation = load(self.automation.path)
        except (ConfigError, OSError) as e:
            self.report.reloads_refused += 1
            log.error("reload refused, the running configuration stays: %s", e)
            return False
        if automation.session != self.automation.session:
            log.warning("[session] changed: that takes a restart; rules and actions reloaded")
        generation = self.selection.replace(selectors(automation))
        self.plans[generation] = Plan.of(automation)
        self.automation = automation
        self.report.reloads += 1
        log.info(
            "reloaded %s: %d rules, %d actions (generation %d)",
            automation.path, len(automation.rules), len(automation.actions), generation,
        )  # fmt: skip
        return True

    # Handling an event

    def _plan(self, generation: int) -> Plan:
        # Events come in order: once one of a generation arrives, older plans get
        # no more events and retire (their running actions still finish).
        for old in [g for g in self.plans if g < generation]:
            self._retired.append(self.plans.pop(old))
        return self.plans[generation]

    def _handle(self, event: EtwEvent) -> None:
        selection = event.selection
        if selection is None:
            return
        generation, chosen = selection
        plan = self._plan(generation)
        now = event.filetime / FILETIME_PER_SECOND
        received = time.monotonic()
        summary = _summary(event)  # the same for every rule that chose the event
        for name, matches in chosen:
            state = plan.rules[name]
            self.report.matched[name] += 1
            if self.metrics is not None:
                self.metrics.matched.labels(rule=name).inc()
            fields = event_fields(
                event, name, matches, sigma_fields=state.rule.rule_set is not None
            )
            verdict = self._limit(state.throttle, state.dedupe, state.rule.policy, fields, now)
            for binding in state.bindings:
                self._submit(binding, fields, summary, now, received, verdict, matches)

    def _limit(
        self,
        throttle: Throttle | None,
        dedupe: Dedupe | None,
        policy: Policy,
        fields: dict[str, Any],
        now: float,
    ) -> str | None:
        """``"deduped"`` or ``"throttled"`` when a policy drops the run, else None."""
        if dedupe is not None and not dedupe.allow(_key(policy.dedupe_key, fields), now):
            return "deduped"
        if throttle is not None and not throttle.allow(_key(policy.throttle_key, fields), now):
            return "throttled"
        return None

    def _submit(
        self,
        binding: Binding,
        fields: dict[str, Any],
        summary: dict[str, Any],
        now: float,
        received: float,
        verdict: str | None,
        matches: list[Match],
    ) -> None:
        if verdict is None and binding.disabled:
            verdict = "disabled"
        if verdict is None:
            verdict = self._limit(
                binding.throttle, binding.dedupe, binding.action.policy, fields, now
            )
        if verdict is not None:
            self._record(binding, verdict, summary, {}, 0)
            return
        detail = self._detail(binding, fields)
        if self.dry_run:
            self._record(binding, "dry_run", summary, detail, 0)
            return

        async def job() -> None:
            await self._run(binding, fields, summary, detail, received)

        if not binding.dispatcher.submit(job):
            self._record(binding, "dropped", summary, detail, 0)

    def _detail(self, binding: Binding, fields: dict[str, Any]) -> dict[str, Any]:
        """What the action will do, rendered: for the audit and --dry-run."""
        spec, kind = binding.action.spec, binding.action.kind
        if kind == "exec":
            return {"argv": render_argv(spec["argv"], fields)}
        if kind == "script":
            return {"argv": [spec["path"], *render_argv(spec.get("args", []), fields)]}
        if kind == "http":
            return {"method": spec.get("method", "POST"), "url": render(spec["url"], fields)}
        assert binding.sink is not None
        return {"message": binding.sink.message(fields)}

    async def _run(
        self,
        binding: Binding,
        fields: dict[str, Any],
        summary: dict[str, Any],
        detail: dict[str, Any],
        received: float,
    ) -> None:
        action, policy = binding.action, binding.policy
        started = time.monotonic()
        if self.metrics is not None:
            # Live: from the event's time. A recording's times are its own: from
            # the event's arrival here.
            latency = started - received
            if self._live and fields.get("filetime"):
                latency = time.time() - (fields["filetime"] / FILETIME_PER_SECOND - _FILETIME_EPOCH)
            self.metrics.latency.observe(latency)
        last: list[Outcome] = []

        async def attempt() -> bool:
            try:
                outcome = await self._execute(binding, fields)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # an action's failure never stops the runner
                outcome = Outcome(False, None, False, b"", f"{type(e).__name__}: {e}".encode())
            last.append(outcome)
            return outcome.ok

        try:
            ok, attempts = await with_retries(attempt, policy.retries, policy.backoff)
        except asyncio.CancelledError:
            self._record(binding, "cancelled", summary, detail, len(last))
            raise
        outcome = last[-1]
        result = "ok" if ok else ("timeout" if outcome.timed_out else "failed")
        if self.metrics is not None:
            self.metrics.duration.labels(action=action.name).observe(time.monotonic() - started)
        if action.kind == "script":
            detail = {**detail, "stdout": outcome.stdout.decode("utf-8", "replace")}
        self._record(binding, result, summary, detail, attempts)
        if not ok:
            why = outcome.stderr.decode("utf-8", "replace").strip()[-500:]
            log.warning(
                "action %r of rule %r %s after %d attempt(s): %s",
                action.name, binding.rule.name, result, attempts,
                why or f"exit {outcome.returncode}",
            )  # fmt: skip
            if policy.on_error == "disable":
                binding.disabled = True
                log.warning("action %r disabled (on_error = 'disable')", action.name)

    async def _execute(self, binding: Binding, fields: dict[str, Any]) -> Outcome:
        spec, policy = binding.action.spec, binding.policy
        timeout = policy.timeout or DEFAULT_TIMEOUT
        kind = binding.action.kind
        if kind == "exec":
            env = {k: render(v, fields) for k, v in spec.get("env", {}).items()}
            return await run_argv(
                render_argv(spec["argv"], fields), cwd=spec["cwd"], env=env, timeout=timeout
            )
        if kind == "script":
            args = render_argv(spec.get("args", []), fields)
            return await run_script(
                spec["path"], fields, args=args, timeout=timeout, cwd=spec.get("cwd")
            )
        if kind == "http":
            return await run_http(self._http_client(), spec, fields, timeout=timeout)
        assert binding.sink is not None
        binding.sink.write(fields, binding.action.name)
        return Outcome(True, None, False, b"", b"")

    def _http_client(self) -> Any:
        if self._http is None:
            try:
                import httpx  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                raise RuntimeError(
                    "http actions need httpx: pip install 'pyetwkit[automation]'"
                ) from None
            self._http = httpx.AsyncClient()
            self._own_http = True
        return self._http

    def _record(
        self,
        binding: Binding,
        result: str,
        summary: dict[str, Any],
        detail: dict[str, Any],
        attempts: int,
    ) -> None:
        self.report.results[result] += 1
        if self.metrics is not None:
            self.metrics.actions.labels(action=binding.action.name, result=result).inc()
        if self.audit is not None:
            record = {
                "rule": binding.rule.name,
                "action": binding.action.name,
                "kind": binding.action.kind,
                "result": result,
                "attempts": attempts,
                "detail": detail,
                "event": summary,
            }
            self.audit.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
            self.audit.flush()


# Seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
_FILETIME_EPOCH = 11_644_473_600.0


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns / 1e9
    except OSError:
        return None


def run(automation: Automation, **options: Any) -> Report:
    """Runs ``automation`` to its end (see :class:`Runner`), in a new event loop."""
    return asyncio.run(Runner(automation, **options).run())


__all__ = ["Binding", "Plan", "Report", "Runner", "run", "selectors"]
