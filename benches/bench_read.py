"""Read benchmark: records/s of pyetwkit and two pure-Python peers over the .etl corpus.

Every reader reads every file of $PYETWKIT_TEST_DATA/etl-corpus (default: ../shared beside
the repository) side by side in this one run; a reader's rate is the sum of the records it
read over the sum of its seconds, taking the fastest of its whole-corpus passes. It also
measures the peak RSS of iterating the largest file with pyetwkit in a fresh interpreter.

The results are ratios to read, never assertions: the script prints tables, pass/fail
against the goals, and writes everything to benches/results/read.json. Run it through
``bash benches/run.sh``, which builds a release pyetwkit and installs the pinned peers.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pyetwkit
from dissect.etl.etl import ETL, EventRecord
from etl.etl import IEtlFileObserver, build_from_stream

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "results" / "read.json"
RSS_CHILD = BENCH_DIR / "rss_child.py"
RSS_FILE = "etwanalyzer_TraceLoggingTester.etl"

FILE_TIME_CAP_S = 120.0
MIB = 1024 * 1024
GOAL_VS_DISSECT = 100.0
GOAL_RUST_RATE = 5_000_000.0
GOAL_RSS_MIB = 64.0
PEER_PACKAGES = ("dissect.etl", "dissect.cstruct", "dissect.util", "etl-parser", "construct")


@dataclass
class Tally:
    """Records a reader has read so far; survives the reader failing midway."""

    records: int = 0


Reader = Callable[[Path, Tally], None]
T = TypeVar("T", bound=Tally)


@dataclass(frozen=True)
class ReaderSpec:
    key: str
    label: str
    repeats: int
    read: Reader


@dataclass(frozen=True)
class FileRun:
    name: str
    expected: int
    records: int
    seconds: float
    status: str  # "ok": all records; "short": fewer or more, no error; "failed": raised
    error: str | None


@dataclass
class ReaderResult:
    label: str
    repeats: int
    files: list[FileRun] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(run.records for run in self.files)

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.files)

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    def count(self, status: str) -> int:
        return sum(run.status == status for run in self.files)

    def summary(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "repeats": self.repeats,
            "records": self.records,
            "seconds": self.seconds,
            "records_per_s": self.rate,
            "files_ok": self.count("ok"),
            "files_short": self.count("short"),
            "files_failed": self.count("failed"),
            "files": [asdict(run) for run in self.files],
        }


@dataclass(frozen=True)
class Corpus:
    directory: Path
    expected: dict[str, int]

    def paths(self) -> list[Path]:
        return [self.directory / name for name in sorted(self.expected)]


class FileTimeout(BaseException):
    """The per-file cap ran out. A BaseException, so that a peer's broad
    ``except Exception`` (construct's GreedyRange has one) cannot swallow it."""


# --- readers -------------------------------------------------------------------------


def count_into(items: Iterable[object], tally: Tally) -> None:
    """Counts items, leaving in ``tally`` how many were read even if iteration raises."""
    records = 0
    try:
        for _item in items:
            records += 1
    finally:
        tally.records = records


def pyetwkit_count_records(path: Path, tally: Tally) -> None:
    tally.records = pyetwkit.count_records(path)[0]


def pyetwkit_iterate(path: Path, tally: Tally) -> None:
    with pyetwkit.open_etl(path) as etl:
        count_into(etl, tally)


def pyetwkit_header_fields(path: Path, tally: Tally) -> None:
    """Python iteration reading three header fields of every event (issue 13)."""
    records = 0
    try:
        with pyetwkit.open_etl(path) as etl:
            # Bare reads, as a user's loop does: no tuple or call around them.
            for event in etl:
                event.provider_id  # noqa: B018
                event.timestamp  # noqa: B018
                event.opcode  # noqa: B018
                records += 1
    finally:
        tally.records = records


def dissect_records(path: Path) -> Iterator[EventRecord]:
    with path.open("rb") as fh:
        yield from ETL(fh)


def dissect_walk(path: Path, tally: Tally) -> None:
    """Only what iteration does itself: each record's marker and size, no header fields."""
    count_into(dissect_records(path), tally)


def dissect_header_only(path: Path, tally: Tally) -> None:
    """Parses each record's header structure (provider, ids, pid/tid, time), no payload."""
    count_into((record.header.header for record in dissect_records(path)), tally)


def dissect_full(path: Path, tally: Tally) -> None:
    """Also decodes each payload with dissect.etl's bundled manifests, where it has one."""
    count_into((record.event for record in dissect_records(path)), tally)


class CountingObserver(IEtlFileObserver):
    """etl-parser hands each record it parses to an observer; this one only counts."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def _count(self, _record: object) -> None:
        self.tally.records += 1

    on_event_record = on_trace_record = on_perfinfo_trace = _count
    on_system_trace = on_win_trace = _count


def etl_parser_parse(path: Path, tally: Tally) -> None:
    """etl-parser's documented use: build_from_stream over the bytes, then parse."""
    build_from_stream(path.read_bytes()).parse(CountingObserver(tally))


READERS = (
    # A pass of pyetwkit takes 0.1 s: more of them cost nothing and make the best
    # one less exposed to a momentary stall of the shared host. The peers' 10 s
    # passes average such stalls out already.
    ReaderSpec(
        "pyetwkit_count_records", "pyetwkit count_records (Rust alone)", 7, pyetwkit_count_records
    ),
    ReaderSpec("pyetwkit_iterate", "pyetwkit Python iteration", 7, pyetwkit_iterate),
    ReaderSpec(
        "pyetwkit_header_fields",
        "pyetwkit iteration reading provider_id, timestamp, opcode",
        7,
        pyetwkit_header_fields,
    ),
    ReaderSpec("dissect_walk", "dissect.etl walk (marker+size)", 3, dissect_walk),
    ReaderSpec("dissect_header_only", "dissect.etl header-only", 3, dissect_header_only),
    ReaderSpec("dissect_full", "dissect.etl full (payloads)", 1, dissect_full),
    ReaderSpec("etl_parser", "etl-parser parse", 1, etl_parser_parse),
)


# --- measuring -----------------------------------------------------------------------


def find_corpus() -> Corpus:
    data = Path(os.environ.get("PYETWKIT_TEST_DATA", REPO_ROOT.parent / "shared"))
    directory = data / "etl-corpus"
    counts_path = directory / "expected_counts.json"
    if not counts_path.is_file():
        sys.exit(
            f"bench_read: no .etl corpus at {directory} (expected_counts.json missing).\n"
            "Set PYETWKIT_TEST_DATA to the folder that holds etl-corpus/."
        )
    counts = json.loads(counts_path.read_text())
    expected = {name: entry["records"] for name, entry in counts.items()}
    missing = [name for name in expected if not (directory / name).is_file()]
    if missing:
        sys.exit(f"bench_read: {directory} lacks {', '.join(missing)}")
    return Corpus(directory, expected)


@contextmanager
def time_cap(seconds: float) -> Iterator[None]:
    """Raises FileTimeout in the body once ``seconds`` have passed (POSIX SIGALRM)."""

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise FileTimeout(f"over the {seconds:.0f} s per-file cap")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


def status_of(error: str | None, tally: Tally, expected: int) -> str:
    if error is not None:
        return "failed"
    return "ok" if tally.records == expected else "short"


def timed_read(read: Callable[[Path, T], None], path: Path, tally: T) -> tuple[float, str | None]:
    """Runs one reader over one file under the per-file cap: its seconds, and
    what it raised (the tally keeps what it read before)."""
    error: str | None = None
    start = time.perf_counter()
    try:
        with time_cap(FILE_TIME_CAP_S):
            read(path, tally)
    except (Exception, FileTimeout) as exc:
        error = describe(exc)
    return time.perf_counter() - start, error


def run_file(reader: Reader, path: Path, expected: int) -> FileRun:
    tally = Tally()
    seconds, error = timed_read(reader, path, tally)
    status = status_of(error, tally, expected)
    return FileRun(path.name, expected, tally.records, seconds, status, error)


def run_reader(spec: ReaderSpec, corpus: Corpus) -> ReaderResult:
    """The fastest of ``spec.repeats`` passes over the whole corpus."""
    best: ReaderResult | None = None
    for _ in range(spec.repeats):
        result = ReaderResult(spec.label, spec.repeats)
        for path in corpus.paths():
            result.files.append(run_file(spec.read, path, corpus.expected[path.name]))
        if best is None or result.seconds < best.seconds:
            best = result
        print(f"  {spec.label}: pass of {result.seconds:.2f} s", flush=True)
    assert best is not None
    return best


def measure_rss(path: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, str(RSS_CHILD), str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=FILE_TIME_CAP_S,
    )
    child = json.loads(completed.stdout)
    growth = child["after_read"] - child["after_import"]
    return {
        "file": path.name,
        "file_mib": path.stat().st_size / MIB,
        "records": child["records"],
        "after_import_mib": child["after_import"] / MIB,
        "after_read_mib": child["after_read"] / MIB,
        "growth_mib": growth / MIB,
    }


# --- reporting -----------------------------------------------------------------------


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("pyetwkit", *PEER_PACKAGES)}


def goals(results: dict[str, ReaderResult], rss: dict[str, Any]) -> list[dict[str, Any]]:
    vs_dissect = results["pyetwkit_iterate"].rate / results["dissect_header_only"].rate
    rust_rate = results["pyetwkit_count_records"].rate
    fields_vs_dissect = results["pyetwkit_header_fields"].rate / results["dissect_header_only"].rate
    return [
        {
            "goal": "pyetwkit Python iteration vs dissect.etl header-only",
            "target": f">= {GOAL_VS_DISSECT:.0f}x",
            "measured": f"{vs_dissect:.1f}x",
            "met": vs_dissect >= GOAL_VS_DISSECT,
        },
        {
            "goal": "iteration reading provider_id, timestamp and opcode vs dissect.etl "
            "header-only (issue 13)",
            "target": f">= {GOAL_VS_DISSECT:.0f}x",
            "measured": f"{fields_vs_dissect:.1f}x",
            "met": fields_vs_dissect >= GOAL_VS_DISSECT,
        },
        {
            "goal": "pyetwkit count_records, Rust alone",
            "target": f">= {GOAL_RUST_RATE:,.0f} records/s",
            "measured": f"{rust_rate:,.0f} records/s",
            "met": rust_rate >= GOAL_RUST_RATE,
        },
        {
            "goal": f"peak RSS growth iterating {rss['file']} ({rss['file_mib']:.0f} MiB)",
            "target": f"< {GOAL_RSS_MIB:.0f} MiB",
            "measured": f"{rss['growth_mib']:.1f} MiB",
            "met": rss["growth_mib"] < GOAL_RSS_MIB,
        },
    ]


def ratios(results: dict[str, ReaderResult]) -> dict[str, float]:
    """pyetwkit's two rates over each peer reading's rate."""
    peers = ("dissect_walk", "dissect_header_only", "dissect_full", "etl_parser")
    return {
        f"{mine}_vs_{peer}": results[mine].rate / results[peer].rate
        for mine in ("pyetwkit_iterate", "pyetwkit_header_fields", "pyetwkit_count_records")
        for peer in peers
    }


def render_table(header: list[str], rows: list[list[str]], align: str) -> str:
    """Plain-text table; ``align`` holds one "l" or "r" per column."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = (
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, align, strict=True)
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def summary_table(results: dict[str, ReaderResult], expected_total: int) -> str:
    header = ["reader", "best of", "records", "seconds", "records/s", "ok", "short", "failed"]
    rows = [
        [
            result.label,
            str(result.repeats),
            f"{result.records:,}/{expected_total:,}",
            f"{result.seconds:.3f}",
            f"{result.rate:,.0f}",
            str(result.count("ok")),
            str(result.count("short")),
            str(result.count("failed")),
        ]
        for result in results.values()
    ]
    return render_table(header, rows, "lrrrrrrr")


def incomplete_table(results: dict[str, ReaderResult]) -> str:
    header = ["reader", "file", "records", "status", "error"]
    rows = [
        [result.label, run.name, f"{run.records:,}/{run.expected:,}", run.status, run.error or ""]
        for result in results.values()
        for run in result.files
        if run.status != "ok"
    ]
    if not rows:
        return "(none: every reader read every file in full)"
    return render_table(header, rows, "llrll")


def print_report(report: dict[str, Any], results: dict[str, ReaderResult]) -> None:
    corpus = report["corpus"]
    print(f"\ncorpus: {corpus['files']} files, {corpus['expected_records']:,} records")
    print(summary_table(results, corpus["expected_records"]))
    print("\nfiles not read in full:")
    print(incomplete_table(results))
    rss = report["rss"]
    print(
        f"\npeak RSS iterating {rss['file']}: {rss['after_import_mib']:.1f} MiB after import, "
        f"{rss['after_read_mib']:.1f} MiB after reading, +{rss['growth_mib']:.1f} MiB"
    )
    print("\nratios (records/s over records/s):")
    for name, value in report["ratios"].items():
        print(f"  {name}: {value:,.1f}x")
    print("\ngoals:")
    for goal in report["goals"]:
        verdict = "PASS" if goal["met"] else "FAIL"
        print(f"  {verdict}  {goal['goal']}: {goal['measured']} (goal {goal['target']})")


def main() -> None:
    corpus = find_corpus()
    print(f"corpus: {corpus.directory}; per-file cap {FILE_TIME_CAP_S:.0f} s", flush=True)
    results = {spec.key: run_reader(spec, corpus) for spec in READERS}
    rss = measure_rss(corpus.directory / RSS_FILE)
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": versions(),
        "corpus": {
            "directory": str(corpus.directory),
            "files": len(corpus.expected),
            "expected_records": sum(corpus.expected.values()),
        },
        "file_time_cap_s": FILE_TIME_CAP_S,
        "readers": {key: result.summary() for key, result in results.items()},
        "rss": rss,
        "ratios": ratios(results),
        "goals": goals(results, rss),
    }
    print_report(report, results)
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS_PATH.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
