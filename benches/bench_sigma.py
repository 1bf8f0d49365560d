"""Sigma benchmark: pyetwkit's Sigma rule engine beside rsigma-eval (Rust) and azuma (Python),
on one core, with the same rules and the same events, in one run.

Run it with ``bash benches/run.sh sigma [--events N] [--seed S] [--azuma-events K]
[--repeat R] [--engines LIST] [--json PATH]``, which builds pyetwkit in release mode and
installs azuma (benches/requirements-sigma.txt) in benches/.venv. The rsigma-eval peer,
benches/sigma_peer (a standalone cargo project), is built here in release mode with
``cargo build --release --locked`` (a no-op when it is up to date).

The rules: all the SigmaHQ process_creation rules (``sigma/rules/windows/process_creation``
of ``$PYETWKIT_TEST_DATA``, default ``../shared`` beside the repository). The events: N
Sysmon EventID 1 events (default 100,000) from ``sigma_workload.py``: the regression samples,
recombined samples and processes of the ETL corpus, cached in benches/.cache/.

The engines, each over the same events, loading excluded from the timing:

- pyetwkit, Rust alone: ``RuleSet._benchmark(events, repeat=R)`` evaluates in Rust, no Python
  in the loop; best of R passes.
- pyetwkit from Python: ``rs.match(fields, category="process_creation")`` in a Python loop;
  best of R passes.
- pyetwkit through the pipeline: ``open_etl(trace, rules=rs)`` over the kernel traces of the
  ETL corpus (PIPELINE_TRACES), every event mapped to Sigma's fields and matched in Rust, only
  matches reaching Python; beside the same read without rules. Its events are ETW events,
  not the Sysmon workload: the rate says what the stage costs in a real read.
- rsigma-eval: the sigma_peer binary, ``Engine::evaluate`` on each event (serde_json values),
  single-threaded; best of R passes.
- azuma: ``rule.match(event)`` for every rule, on the first K events only (default 2,000:
  it is pure Python and slow); one pass.

The process is pinned to one CPU (``os.sched_setaffinity``) when the OS allows, and the peer
inherits it. Rates are events per second on that core; the ratios are pyetwkit (Rust) over
rsigma-eval and pyetwkit (Python ``match``) over azuma. Matches are counted per engine, and
compared on the regression samples and on azuma's subset; differences are printed as notes,
never as failures. Results are figures and ratios from one run on one machine, never timed
assertions; they are printed and written to benches/results/sigma.json (or ``--json PATH``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sigma_workload as workload

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEER_DIR = BENCH_DIR / "sigma_peer"
RESULTS = BENCH_DIR / "results" / "sigma.json"
CATEGORY = "process_creation"
PRODUCT = "windows"
DEFAULT_REPEAT = 3
DEFAULT_AZUMA_EVENTS = 2_000
ENGINES = ("rust", "python", "pipeline", "rsigma", "azuma")
ENGINE_NAMES = {
    "rust": "pyetwkit (Rust, _benchmark)",
    "python": "pyetwkit (Python, match)",
    "pipeline": "pyetwkit (pipeline, open_etl)",
    "rsigma": "rsigma-eval",
    "azuma": "azuma",
}
NOTES_SHOWN = 10

Event = dict[str, Any]


@dataclass
class Result:
    """One engine's run: its rate on its events, its rule counts, what it matched."""

    engine: str
    version: str | None
    events: int
    seconds: float
    seconds_all: list[float]
    matches: int  # rule matches over the timed events (one pass)
    rules_loaded: int | None
    rules_failed: int | None
    failures: list[tuple[str, str]] = field(default_factory=list)
    load_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    def row(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "version": self.version,
            "events": self.events,
            "seconds": self.seconds,
            "seconds_all": self.seconds_all,
            "events_per_s": self.events_per_s,
            "us_per_event": 1e6 * self.seconds / self.events,
            "matches": self.matches,
            "rules_loaded": self.rules_loaded,
            "rules_failed": self.rules_failed,
            "failures": [{"rule": r, "error": e} for r, e in self.failures],
            "load_seconds": self.load_seconds,
            **self.extra,
        }


# Matched rule ids per event, for the comparisons: engine -> event index -> ids.
Matched = dict[int, frozenset[str]]


# --- one core ------------------------------------------------------------------------------


def pin_to_one_cpu(cpu: int | None) -> int | None:
    """Pins this process (and the children it starts) to one CPU; returns it, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    if chosen not in allowed:
        sys.exit(f"bench_sigma: CPU {chosen} is not one of {allowed}")
    os.sched_setaffinity(0, {chosen})
    return chosen


def best_of(repeat: int, run: Callable[[], int]) -> tuple[list[float], int]:
    """Runs ``run`` ``repeat`` times; its wall times and its (unchanging) match count."""
    seconds, matches = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        m = run()
        seconds.append(time.perf_counter() - started)
        if matches is not None and m != matches:
            sys.exit("bench_sigma: passes over the same events gave different match counts")
        matches = m
    return seconds, matches or 0


# --- pyetwkit -----------------------------------------------------------------------------


def match_id(match: Any) -> str:
    """A pyetwkit Match's rule id (or title when the rule has none)."""
    for attr in ("rule_id", "id"):
        value = getattr(match, attr, None)
        if value:
            return str(value)
    rule = getattr(match, "rule", None)
    if rule is not None and getattr(rule, "id", None):
        return str(rule.id)
    return str(getattr(match, "title", match))


def pyetwkit_rule_counts(rs: Any) -> tuple[int | None, int | None, list[tuple[str, str]]]:
    """Rules loaded and rejected by a pyetwkit RuleSet: ``len(rs)`` and ``rs.rejected``
    (pairs of path and reason), where the RuleSet has them."""
    try:
        loaded: int | None = len(rs)
    except TypeError:
        loaded = None
    rejected = None
    for attr in ("rejected", "failures", "errors"):
        if hasattr(rs, attr):
            rejected = getattr(rs, attr)
            break
    if rejected is None:
        return loaded, None, []
    failures = []
    for item in rejected:
        if isinstance(item, tuple | list) and len(item) == 2:
            failures.append((Path(str(item[0])).name, str(item[1])))
        else:
            failures.append((Path(str(item)).name, ""))
    return loaded, len(failures), failures


def load_pyetwkit(rules: Sequence[Path]) -> tuple[Any, float]:
    from pyetwkit import sigma

    started = time.perf_counter()
    rs = sigma.RuleSet.load([str(p) for p in rules])
    return rs, time.perf_counter() - started


def run_pyetwkit_rust(rs: Any, events: list[Event], repeat: int, version: str) -> Result:
    raw = rs._benchmark(events, category=CATEGORY, product=PRODUCT, repeat=repeat)
    loaded, failed, failures = pyetwkit_rule_counts(rs)
    extra = {k: v for k, v in raw.items() if k not in {"events", "seconds", "matches"}}
    seconds = float(raw["seconds"])
    return Result(
        ENGINE_NAMES["rust"],
        version,
        int(raw["events"]),
        seconds,
        [float(s) for s in raw.get("seconds_all", [seconds])],
        int(raw["matches"]),
        loaded,
        failed,
        failures,
        extra=extra,
    )


def run_pyetwkit_python(rs: Any, events: list[Event], repeat: int, version: str) -> Result:
    match = rs.match

    def one_pass() -> int:
        n = 0
        for event in events:
            n += len(match(event, category=CATEGORY))
        return n

    seconds, matches = best_of(repeat, one_pass)
    loaded, failed, failures = pyetwkit_rule_counts(rs)
    return Result(
        ENGINE_NAMES["python"], version, len(events), min(seconds), seconds, matches,
        loaded, failed, failures,
    )  # fmt: skip


# Kernel traces of the ETL corpus with process, image and file events.
PIPELINE_TRACES = (
    "airbus_ShutdownPerfDiagLogger.etl",
    "perfview_diaghub_diaghub.kernel.1.etl",
    "perfview_net.4.5.2.x86.etl",
    "perfview_net.4.5.2.x64.etl",
)


def run_pyetwkit_pipeline(rs: Any, repeat: int, version: str) -> Result:
    import pyetwkit

    corpus = workload.data_root() / "etl-corpus"
    traces = [corpus / name for name in PIPELINE_TRACES if (corpus / name).is_file()]

    def read(rules: Any) -> tuple[int, int]:
        events = matches = 0
        for trace in traces:
            with pyetwkit.open_etl(trace, rules=rules, keep_unmatched=rules is not None) as etl:
                for event in etl:
                    events += 1
                    matches += len(event.matches)
        return events, matches

    def timed(rules: Any) -> tuple[list[float], int, int]:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            events, matches = read(rules)
            times.append(time.perf_counter() - start)
        return times, events, matches

    plain, events, _ = timed(None)
    staged, _, matches = timed(rs)
    loaded, failed, failures = pyetwkit_rule_counts(rs)
    extra = {
        "traces": [t.name for t in traces],
        "seconds_without_rules": min(plain),
        "events_per_s_without_rules": events / min(plain),
    }
    return Result(
        ENGINE_NAMES["pipeline"], version, events, min(staged), staged, matches,
        loaded, failed, failures, extra=extra,
    )  # fmt: skip


def pyetwkit_matched(rs: Any, events: list[Event], indices: Iterable[int]) -> Matched:
    return {
        i: frozenset(match_id(m) for m in rs.match(events[i], category=CATEGORY)) for i in indices
    }


# --- azuma --------------------------------------------------------------------------------


@dataclass
class Azuma:
    rules: list[Any]
    failures: list[tuple[str, str]]
    load_seconds: float
    version: str
    errors: int = 0  # rule evaluations that raised (counted as no match)

    def matched(self, event: Event) -> list[str]:
        ids = []
        for rule in self.rules:
            try:
                if rule.match(event):
                    ids.append(str(rule.id or rule.title))
            except Exception:
                self.errors += 1
        return ids


def load_azuma(rules: Sequence[Path]) -> Azuma:
    import azuma

    started = time.perf_counter()
    loaded, failures = [], []
    for path in rules:
        try:
            loaded.append(azuma.Rule.model_validate_file(path))
        except Exception as e:
            reason = f"{type(e).__name__}: {e}".splitlines()[0]
            failures.append((path.name, reason))
    return Azuma(loaded, failures, time.perf_counter() - started, azuma.__version__)


def run_azuma(az: Azuma, events: list[Event]) -> tuple[Result, Matched]:
    matched: Matched = {}
    started = time.perf_counter()
    for i, event in enumerate(events):
        matched[i] = frozenset(az.matched(event))
    seconds = time.perf_counter() - started
    matches = sum(len(ids) for ids in matched.values())
    result = Result(
        ENGINE_NAMES["azuma"], az.version, len(events), seconds, [seconds], matches,
        len(az.rules), len(az.failures), az.failures, az.load_seconds,
        {"rule_errors": az.errors},
    )  # fmt: skip
    return result, matched


# --- rsigma-eval (benches/sigma_peer) -----------------------------------------------------


def build_peer() -> Path:
    """Builds the peer in release mode (a no-op when up to date); the binary's path."""
    command = [
        "cargo", "build", "--release", "--locked", "--message-format=json-render-diagnostics",
        "--manifest-path", str(PEER_DIR / "Cargo.toml"),
    ]  # fmt: skip
    print("building benches/sigma_peer (release) ...", flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        sys.exit("bench_sigma: building benches/sigma_peer failed")
    for line in done.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            return Path(message["executable"])
    sys.exit("bench_sigma: cargo built no sigma-peer executable")


def run_rsigma(
    peer: Path, events_path: Path, rules: Path, repeat: int
) -> tuple[Result, list[frozenset[str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = Path(tmp) / "ids.jsonl"
        command = [
            str(peer), "--events", str(events_path), "--repeat", str(repeat),
            "--ids-out", str(ids_path), str(rules),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"bench_sigma: sigma-peer failed:\n{done.stderr}")
        raw = json.loads(done.stdout)
        with ids_path.open() as lines:
            matched = [frozenset(json.loads(line)) for line in lines]
    failures = [(Path(f["path"]).name, f["error"]) for f in raw["failures"]]
    result = Result(
        ENGINE_NAMES["rsigma"], raw.get("version"), raw["events"], raw["seconds"],
        raw["seconds_all"], raw["matches"], raw["rules_loaded"], raw["rules_failed"],
        failures, raw.get("load_seconds"),
    )  # fmt: skip
    return result, matched


# --- comparing matches --------------------------------------------------------------------


def compare(
    title: str, matched: dict[str, Matched], expected: dict[int, str] | None = None
) -> dict[str, Any]:
    """Per engine: events matched, matches, and (for the regression samples) how many samples
    matched the rule they were recorded for; then the events where engines disagree."""
    names = list(matched)
    indices = sorted(next(iter(matched.values()))) if matched else []
    print(f"\n{title}: {len(indices):,} events")
    header = f"  {'engine':30s} {'events matched':>14s} {'matches':>8s}"
    if expected is not None:
        header += f" {'own rule matched':>16s}"
    print(header)
    summary: dict[str, Any] = {"events": len(indices), "engines": {}}
    for name in names:
        per_event = matched[name]
        events_matched = sum(1 for i in indices if per_event[i])
        matches = sum(len(per_event[i]) for i in indices)
        line = f"  {name:30s} {events_matched:>14,} {matches:>8,}"
        entry: dict[str, Any] = {"events_matched": events_matched, "matches": matches}
        if expected is not None:
            own = sum(1 for i in indices if expected[i] in per_event[i])
            line += f" {own:>9,} of {len(indices):<4,}"
            entry["own_rule_matched"] = own
        print(line)
        summary["engines"][name] = entry
    titles = rule_titles()
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1 :]:
            differing = [i for i in indices if matched[a][i] != matched[b][i]]
            only: dict[str, Counter[str]] = {a: Counter(), b: Counter()}
            for i in differing:
                only[a].update(matched[a][i] - matched[b][i])
                only[b].update(matched[b][i] - matched[a][i])
            summary.setdefault("differences", {})[f"{a} vs {b}"] = {
                "events": len(differing),
                **{f"only {name}": dict(c.most_common()) for name, c in only.items()},
            }
            if not differing:
                print(f"  {a} and {b} agree on every event")
                continue
            print(f"  note: {a} and {b} differ on {len(differing):,} events; rules matched by one:")
            for name, counts in only.items():
                for rule, n in counts.most_common(NOTES_SHOWN):
                    title = titles.get(rule, "")[:60]
                    print(f"    only {name:14s} {n:>6,} events  {rule}  {title}")
                if len(counts) > NOTES_SHOWN:
                    print(f"    only {name:14s} ... and {len(counts) - NOTES_SHOWN} more rules")
    return summary


def rule_titles() -> dict[str, str]:
    """Rule id -> title, for the notes (read from the rule files' top-level lines)."""
    titles = {}
    for path in workload.rule_paths():
        rule_id = title = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("id:"):
                rule_id = line[3:].strip().strip("'\"")
            elif line.startswith("title:"):
                title = line[6:].strip().strip("'\"")
        if rule_id and title:
            titles[rule_id] = title
    return titles


# --- reporting ----------------------------------------------------------------------------


def table(results: list[Result]) -> None:
    print(
        f"\n  {'engine':30s} {'version':>8s} {'events':>8s} {'seconds':>8s} {'events/s':>11s} "
        f"{'us/event':>9s} {'matches':>8s} {'loaded':>7s} {'failed':>7s}"
    )

    def count(n: int | None) -> str:
        return "?" if n is None else f"{n:,}"

    for r in results:
        print(
            f"  {r.engine:30s} {r.version or '?':>8s} {r.events:>8,} {r.seconds:>8.3f} "
            f"{r.events_per_s:>11,.0f} {1e6 * r.seconds / r.events:>9.2f} {r.matches:>8,} "
            f"{count(r.rules_loaded):>7s} {count(r.rules_failed):>7s}"
        )


def show_failures(results: list[Result]) -> None:
    shown: list[list[tuple[str, str]]] = []
    for r in results:
        if r.failures and r.failures not in shown:  # one RuleSet serves both pyetwkit rows
            shown.append(r.failures)
            print(f"\n  rules {r.engine} rejected ({len(r.failures)}):")
            for rule, error in r.failures[:NOTES_SHOWN]:
                print(f"    {rule}: {error[:140]}")
            if len(r.failures) > NOTES_SHOWN:
                print(f"    ... and {len(r.failures) - NOTES_SHOWN} more")


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        return {"hash": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"hash": None, "dirty": None}


def machine(cpu: int | None) -> dict[str, Any]:
    model = None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), None
            )
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "pinned_cpu": cpu,
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def parse_engines(text: str) -> list[str]:
    engines = [e.strip() for e in text.split(",") if e.strip()]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown engines {unknown}; known: {ENGINES}")
    return engines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=workload.DEFAULT_EVENTS, help="N")
    parser.add_argument("--seed", type=int, default=workload.DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="passes, best kept")
    parser.add_argument(
        "--azuma-events", type=int, default=DEFAULT_AZUMA_EVENTS, help="azuma's subset"
    )
    parser.add_argument(
        "--engines", type=parse_engines, default=list(ENGINES), help=",".join(ENGINES)
    )
    parser.add_argument("--cpu", type=int, help="the CPU to pin to (default: the last allowed)")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args()
    engines: list[str] = args.engines
    cpu = pin_to_one_cpu(args.cpu)
    print(f"pinned to CPU {cpu}" if cpu is not None else "not pinned (no sched_setaffinity)")

    rules = workload.rule_paths()
    events_path, meta = workload.ensure(args.events, args.seed)
    events = workload.read_events(events_path)
    regression = {r["index"]: r["rule_id"] for r in meta["regression"]}
    azuma_n = min(args.azuma_events, len(events))
    composition = ", ".join(f"{n:,} {kind}" for kind, n in meta["composition"].items())
    print(f"{len(rules):,} {CATEGORY} rules; {len(events):,} events ({composition})")

    results: list[Result] = []
    matched: dict[str, Matched] = {}
    pyetwkit_version = None
    if {"rust", "python", "pipeline"} & set(engines):
        import pyetwkit

        pyetwkit_version = pyetwkit.__version__
        rs, load_seconds = load_pyetwkit(rules)
        if "rust" in engines:
            print("pyetwkit, Rust alone ...", flush=True)
            result = run_pyetwkit_rust(rs, events, args.repeat, pyetwkit_version)
            result.load_seconds = load_seconds
            results.append(result)
        if "python" in engines:
            print("pyetwkit, Python match ...", flush=True)
            result = run_pyetwkit_python(rs, events, args.repeat, pyetwkit_version)
            result.load_seconds = load_seconds
            results.append(result)
        if "pipeline" in engines:
            print("pyetwkit, through the pipeline (open_etl, corpus kernel traces) ...", flush=True)
            result = run_pyetwkit_pipeline(rs, args.repeat, pyetwkit_version)
            result.load_seconds = load_seconds
            results.append(result)
            plain = result.extra["events_per_s_without_rules"]
            print(f"  (the same read without rules: {plain:,.0f} events/s)")
        wanted = set(regression) | set(range(azuma_n))
        matched["pyetwkit"] = pyetwkit_matched(rs, events, sorted(wanted))
    if "rsigma" in engines:
        peer = build_peer()
        print("rsigma-eval ...", flush=True)
        result, peer_matched = run_rsigma(peer, events_path, workload.rule_dir(), args.repeat)
        results.append(result)
        matched["rsigma-eval"] = dict(enumerate(peer_matched))
    if "azuma" in engines:
        az = load_azuma(rules)
        print(f"azuma, first {azuma_n:,} events (one pass) ...", flush=True)
        result, on_subset = run_azuma(az, events[:azuma_n])
        results.append(result)
        rest = [i for i in sorted(regression) if i >= azuma_n]
        matched["azuma"] = {**on_subset, **{i: frozenset(az.matched(events[i])) for i in rest}}

    print(f"\none core (CPU {cpu}), loading excluded, best of {args.repeat} (azuma: 1 pass)")
    table(results)
    by_key = {k: r for k in ENGINES for r in results if r.engine == ENGINE_NAMES[k]}
    if "rust" in by_key and "median_candidates" in by_key["rust"].extra:
        median = by_key["rust"].extra["median_candidates"]
        print(f"\n  pyetwkit: median candidate rules per event after the prefilter: {median}")
    show_failures(results)

    ratios: dict[str, float] = {}
    pairs = (("rust", "rsigma"), ("python", "azuma"), ("rust", "azuma"), ("python", "rsigma"))
    print("\nratios (events/s over events/s):")
    for a, b in pairs:
        if a in by_key and b in by_key:
            name = f"{by_key[a].engine} / {by_key[b].engine}"
            ratios[name] = by_key[a].events_per_s / by_key[b].events_per_s
            print(f"  {name:60s} {ratios[name]:>10,.3g}x")

    comparisons = {}
    subset = {name: {i: m[i] for i in regression} for name, m in matched.items()}
    if subset:
        comparisons["regression samples"] = compare(
            "matches on the regression samples", subset, regression
        )
    if "azuma" in matched and len(matched) > 1:
        on_azuma = {name: {i: m[i] for i in range(azuma_n)} for name, m in matched.items()}
        comparisons["azuma subset"] = compare(f"matches on azuma's {azuma_n:,} events", on_azuma)
    full = [r for r in results if r.events == len(events)]
    if full:
        print(f"\nmatches over all {len(events):,} events:")
        for r in full:
            print(f"  {r.engine:30s} {r.matches:>8,}")

    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": {**machine(cpu), "pyetwkit": pyetwkit_version},
        "repeat": args.repeat,
        "rules": len(rules),
        "workload": {
            "path": str(events_path.relative_to(REPO_ROOT)),
            **{k: v for k, v in meta.items() if k != "regression"},
        },
        "azuma_events": azuma_n,
        "engines": [r.row() for r in results],
        "ratios": ratios,
        "comparisons": comparisons,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
