"""Decode benchmark: events/s of a full payload decode, pyetwkit next to dissect.etl.

Both readers decode every event of every file of $PYETWKIT_TEST_DATA/etl-corpus (default:
../shared beside the repository) in this one run. pyetwkit reads each event's ``properties``
(decoded lazily in Rust on that first access) and its ``name``; dissect.etl builds each
record's ``event`` with its bundled manifests. A reader's rate is the sum of the events it
decoded over the sum of its seconds, from its fastest whole-corpus pass. The pyetwkit /
dissect.etl ratio is given over the files both decoded in full, and over all files (dissect.etl
stops at an error on some; the events it decoded before it count). The script also reports
how many events pyetwkit found a decoder for, per file.

The results are ratios to read, never assertions: the script prints tables, pass/fail
against the goal, and writes everything to benches/results/decode.json. Run it through
``bash benches/run.sh decode``, which builds a release pyetwkit and installs the pinned peers.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyetwkit
from bench_read import (
    BENCH_DIR,
    FILE_TIME_CAP_S,
    REPO_ROOT,
    Corpus,
    Tally,
    dissect_full,
    find_corpus,
    machine,
    render_table,
    status_of,
    timed_read,
)

RESULTS_PATH = BENCH_DIR / "results" / "decode.json"

GOAL_VS_DISSECT = 100.0
PYETWKIT_REPEATS = 5
PACKAGES = ("pyetwkit", "dissect.etl", "dissect.cstruct", "dissect.util")


@dataclass
class DecodeTally(Tally):
    """Besides the events read: how many got properties, how many were decoded in full,
    how many had a name. Only pyetwkit's reader fills these."""

    with_properties: int = 0
    complete: int = 0
    named: int = 0


Reader = Callable[[Path, DecodeTally], None]


@dataclass(frozen=True)
class ReaderSpec:
    key: str
    label: str
    repeats: int
    read: Reader
    coverage: bool  # whether the reader counts properties, complete and named


@dataclass(frozen=True)
class FileRun:
    name: str
    expected: int
    events: int
    seconds: float
    status: str  # "ok": all events; "short": fewer or more, no error; "failed": raised
    error: str | None
    with_properties: int | None
    complete: int | None
    named: int | None


@dataclass
class ReaderResult:
    label: str
    repeats: int
    files: list[FileRun] = field(default_factory=list)

    def runs(self, names: set[str] | None = None) -> list[FileRun]:
        return [run for run in self.files if names is None or run.name in names]

    def events(self, names: set[str] | None = None) -> int:
        return sum(run.events for run in self.runs(names))

    def seconds(self, names: set[str] | None = None) -> float:
        return sum(run.seconds for run in self.runs(names))

    def rate(self, names: set[str] | None = None) -> float:
        return self.events(names) / self.seconds(names)

    def ok_names(self) -> set[str]:
        return {run.name for run in self.files if run.status == "ok"}

    def count(self, status: str) -> int:
        return sum(run.status == status for run in self.files)

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "repeats": self.repeats,
            "events": self.events(),
            "seconds": self.seconds(),
            "events_per_s": self.rate(),
            "files_ok": self.count("ok"),
            "files_short": self.count("short"),
            "files_failed": self.count("failed"),
            "files": [asdict(run) for run in self.files],
        }


# --- readers -------------------------------------------------------------------------


# The manifests of the corpus's manifest providers that its traces do not embed,
# as dissect.etl bundles its own. Parsed once, before any timing (as dissect.etl's are).
MANIFESTS = ("clr/ClrEtwAll.man", "nasbench-tdh-dumps/Microsoft-Windows-Powershell.manifest.xml")
_manifests: list[pyetwkit.Manifest] = []


def load_manifests(corpus_dir: Path) -> list[str]:
    """Loads MANIFESTS from the shared data beside the corpus; returns those found."""
    found = []
    for name in MANIFESTS:
        path = corpus_dir.parent / "manifests" / name
        if path.is_file():
            _manifests.append(pyetwkit.load_manifest(path))
            found.append(name)
    return found


def pyetwkit_decode(path: Path, tally: DecodeTally) -> None:
    """Every event's properties (the payload decode) and name, as a user's loop would."""
    events = with_properties = complete = named = 0
    try:
        with pyetwkit.open_etl(path, manifests=_manifests) as etl:
            for event in etl:
                if event.properties:
                    with_properties += 1
                if event.properties_complete is True:
                    complete += 1
                if event.name is not None:
                    named += 1
                events += 1
    finally:
        tally.records = events
        tally.with_properties = with_properties
        tally.complete = complete
        tally.named = named


READERS = (
    # A pass of pyetwkit takes about a second, of dissect.etl full about twenty.
    ReaderSpec(
        "pyetwkit_decode",
        "pyetwkit full decode (properties + name)",
        PYETWKIT_REPEATS,
        pyetwkit_decode,
        coverage=True,
    ),
    # bench_read's own dissect.etl full reader: ``record.event`` for every record.
    ReaderSpec("dissect_full", "dissect.etl full (record.event)", 1, dissect_full, coverage=False),
)


# --- measuring -----------------------------------------------------------------------


def run_file(spec: ReaderSpec, path: Path, expected: int) -> FileRun:
    tally = DecodeTally()
    seconds, error = timed_read(spec.read, path, tally)
    status = status_of(error, tally, expected)
    if not spec.coverage:
        return FileRun(path.name, expected, tally.records, seconds, status, error, None, None, None)
    return FileRun(
        path.name,
        expected,
        tally.records,
        seconds,
        status,
        error,
        tally.with_properties,
        tally.complete,
        tally.named,
    )


def run_reader(spec: ReaderSpec, corpus: Corpus) -> ReaderResult:
    """The fastest of ``spec.repeats`` passes over the whole corpus."""
    best: ReaderResult | None = None
    for _ in range(spec.repeats):
        result = ReaderResult(spec.label, spec.repeats)
        for path in corpus.paths():
            result.files.append(run_file(spec, path, corpus.expected[path.name]))
        if best is None or result.seconds() < best.seconds():
            best = result
        print(f"  {spec.label}: pass of {result.seconds():.2f} s", flush=True)
    assert best is not None
    return best


# --- reporting -----------------------------------------------------------------------


def commit() -> dict[str, Any]:
    """The checkout's commit, and whether the tree had changes to tracked files."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True
        )
        return completed.stdout.strip()

    try:
        return {"hash": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"hash": None, "dirty": None}


def versions() -> dict[str, str]:
    return {name: version(name) for name in PACKAGES}


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def coverage(result: ReaderResult) -> dict[str, Any]:
    """pyetwkit's decode coverage, per file and over the corpus."""

    def entry(runs: list[FileRun]) -> dict[str, Any]:
        events = sum(run.events for run in runs)
        counts = {
            key: sum(getattr(run, key) or 0 for run in runs)
            for key in ("with_properties", "complete", "named")
        }
        shares = {f"{key}_share": share(count, events) for key, count in counts.items()}
        return {"events": events, **counts, **shares}

    return {
        "files": {run.name: entry([run]) for run in result.files},
        "totals": entry(result.files),
    }


def ratios(mine: ReaderResult, peer: ReaderResult) -> dict[str, Any]:
    """pyetwkit's rate over dissect.etl's: over the files both decoded in full, and over all
    files (dissect.etl's rate then counts the events it decoded up to its errors)."""
    both = sorted(mine.ok_names() & peer.ok_names())
    names = set(both)
    return {
        "both_complete_files": both,
        "both_complete_events": mine.events(names),
        "pyetwkit_vs_dissect_both_complete": mine.rate(names) / peer.rate(names) if both else None,
        "pyetwkit_vs_dissect_all_files": mine.rate() / peer.rate(),
    }


def goals(ratio: dict[str, Any]) -> list[dict[str, Any]]:
    files = len(ratio["both_complete_files"])
    cases = (
        (
            f"pyetwkit full decode vs dissect.etl full, the {files} files both decoded in full",
            ratio["pyetwkit_vs_dissect_both_complete"],
        ),
        (
            "pyetwkit full decode vs dissect.etl full, all files (dissect.etl up to its errors)",
            ratio["pyetwkit_vs_dissect_all_files"],
        ),
    )
    return [
        {
            "goal": text,
            "target": f">= {GOAL_VS_DISSECT:.0f}x",
            "measured": "n/a" if value is None else f"{value:.1f}x",
            "met": value is not None and value >= GOAL_VS_DISSECT,
        }
        for text, value in cases
    ]


def summary_table(results: dict[str, ReaderResult], expected_total: int) -> str:
    header = ["reader", "best of", "events", "seconds", "events/s", "ok", "short", "failed"]
    rows = [
        [
            result.label,
            str(result.repeats),
            f"{result.events():,}/{expected_total:,}",
            f"{result.seconds():.3f}",
            f"{result.rate():,.0f}",
            str(result.count("ok")),
            str(result.count("short")),
            str(result.count("failed")),
        ]
        for result in results.values()
    ]
    return render_table(header, rows, "lrrrrrrr")


def percent(part: int, whole: int) -> str:
    return f"{100 * share(part, whole):.1f}%"


def files_table(mine: ReaderResult, peer: ReaderResult) -> str:
    """Per file: pyetwkit's time and coverage, dissect.etl's time and status, the ratio."""
    header = [
        "file",
        "events",
        "props",
        "complete",
        "named",
        "pyetwkit s",
        "dissect events",
        "dissect s",
        "dissect",
        "ratio",
    ]
    rows = []
    for run, other in zip(mine.files, peer.files, strict=True):
        both_ok = run.status == "ok" and other.status == "ok"
        ratio = (run.events / run.seconds) / (other.events / other.seconds) if both_ok else None
        rows.append(
            [
                run.name,
                f"{run.events:,}",
                percent(run.with_properties or 0, run.events),
                percent(run.complete or 0, run.events),
                percent(run.named or 0, run.events),
                f"{run.seconds:.4f}",
                f"{other.events:,}",
                f"{other.seconds:.3f}",
                other.status,
                "-" if ratio is None else f"{ratio:,.0f}x",
            ]
        )
    return render_table(header, rows, "lrrrrrrrlr")


def errors_table(results: dict[str, ReaderResult]) -> str:
    header = ["reader", "file", "events", "status", "error"]
    rows = [
        [result.label, run.name, f"{run.events:,}/{run.expected:,}", run.status, run.error or ""]
        for result in results.values()
        for run in result.files
        if run.status != "ok"
    ]
    if not rows:
        return "(none: every reader decoded every file in full)"
    return render_table(header, rows, "llrll")


def print_report(report: dict[str, Any], results: dict[str, ReaderResult]) -> None:
    corpus = report["corpus"]
    print(f"\ncorpus: {corpus['files']} files, {corpus['expected_events']:,} events")
    print(summary_table(results, corpus["expected_events"]))
    print("\nper file (props / complete / named: pyetwkit's share of the file's events):")
    print(files_table(results["pyetwkit_decode"], results["dissect_full"]))
    print("\nfiles not decoded in full:")
    print(errors_table(results))
    totals = report["pyetwkit_coverage"]["totals"]
    events = totals["events"]
    print(
        f"\npyetwkit coverage: {totals['with_properties']:,}/{events:,} events with properties "
        f"({percent(totals['with_properties'], events)}), "
        f"{totals['complete']:,}/{events:,} complete ({percent(totals['complete'], events)}), "
        f"{totals['named']:,}/{events:,} named ({percent(totals['named'], events)})"
    )
    ratio = report["ratios"]
    both = ratio["pyetwkit_vs_dissect_both_complete"]
    print("\nratios (pyetwkit events/s over dissect.etl events/s):")
    print(
        f"  files both decoded in full ({len(ratio['both_complete_files'])}, "
        f"{ratio['both_complete_events']:,} events): "
        + ("n/a" if both is None else f"{both:,.1f}x")
    )
    print(f"  all files: {ratio['pyetwkit_vs_dissect_all_files']:,.1f}x")
    print("\ngoals:")
    for goal in report["goals"]:
        verdict = "PASS" if goal["met"] else "FAIL"
        print(f"  {verdict}  {goal['goal']}: {goal['measured']} (goal {goal['target']})")


def main() -> None:
    corpus = find_corpus()
    print(f"corpus: {corpus.directory}; per-file cap {FILE_TIME_CAP_S:.0f} s", flush=True)
    manifests = load_manifests(corpus.directory)
    print(f"pyetwkit manifests: {', '.join(manifests) or 'none found'}", flush=True)
    results = {spec.key: run_reader(spec, corpus) for spec in READERS}
    ratio = ratios(results["pyetwkit_decode"], results["dissect_full"])
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "versions": versions(),
        "corpus": {
            "directory": str(corpus.directory),
            "files": len(corpus.expected),
            "expected_events": sum(corpus.expected.values()),
        },
        "file_time_cap_s": FILE_TIME_CAP_S,
        "pyetwkit_manifests": manifests,
        "readers": {key: result.summary() for key, result in results.items()},
        "pyetwkit_coverage": coverage(results["pyetwkit_decode"]),
        "ratios": ratio,
        "goals": goals(ratio),
    }
    print_report(report, results)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS_PATH.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
