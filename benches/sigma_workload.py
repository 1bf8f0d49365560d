"""The Sigma benchmark's workload: Sysmon process-creation events (EventID 1) as flat dicts
of Sysmon field names, written as JSON Lines for every engine of ``bench_sigma.py``.

Run it with ``python benches/sigma_workload.py [--events N] [--seed S] [--out PATH]`` (in a
venv where ``import pyetwkit`` works: the ETL corpus is read with it); ``bench_sigma.py``
calls :func:`ensure` itself, which builds the file once per (N, seed) and reuses it.

The events, from the test data at ``$PYETWKIT_TEST_DATA`` (default ``../shared`` beside the
repository), deterministic for a given N and seed, in a seeded shuffled order:

- the regression samples: every Sysmon EventID 1 event of the SigmaHQ regression data of a
  process_creation rule (``sigma/regression_data/**/process_creation/**/*.json``), as they
  are: ``Event.EventData`` plus ``EventID``;
- the same samples recombined: each event takes its image fields, its command line and its
  parent from three different samples (shuffled pairings), about 5% of N;
- the rest from real command lines: every process of the ETL corpus (kernel
  ``Process/Start``, ``DCStart`` and ``DCEnd`` events' ``CommandLine`` and ``ImageFileName``,
  and ``event.process_command_line``, read with ``open_etl(path, prescan_processes=True)``),
  with its real parent where the trace recorded its start (else the parent Windows gives
  it: smss, wininit, services, explorer...), and the other Sysmon fields filled in
  as Sysmon writes them (the hashes derived from the image path; Microsoft's version fields
  for images under C:\\Windows, ``-`` for others, the PE name being the file's).

The file is ``benches/.cache/sigma_workload_n{N}_s{seed}.jsonl``, beside a ``.meta.json``
that tells the composition and which lines are the regression samples. The cache folder
gets a ``.gitignore`` of its own (``*``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import ntpath
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
CACHE = BENCH_DIR / ".cache"
# Bump when the way events are built changes, so cached files are rebuilt.
WORKLOAD_VERSION = 4
DEFAULT_EVENTS = 100_000
DEFAULT_SEED = 20260805
RECOMBINED_SHARE = 0.05
KERNEL_PROCESS_EVENTS = ("Process/Start", "Process/DCStart", "Process/DCEnd")

Event = dict[str, Any]

# Sysmon's EventID 1 fields, in its order.
SYSMON_FIELDS = (
    "RuleName",
    "UtcTime",
    "ProcessGuid",
    "ProcessId",
    "Image",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "CommandLine",
    "CurrentDirectory",
    "User",
    "LogonGuid",
    "LogonId",
    "TerminalSessionId",
    "IntegrityLevel",
    "Hashes",
    "ParentProcessGuid",
    "ParentProcessId",
    "ParentImage",
    "ParentCommandLine",
    "ParentUser",
)
IMAGE_FIELDS = (
    "Image",
    "FileVersion",
    "Description",
    "Product",
    "Company",
    "OriginalFileName",
    "Hashes",
)
PARENT_FIELDS = ("ParentProcessGuid", "ParentProcessId", "ParentImage", "ParentCommandLine")
WINDOWS_VERSION_INFO = {
    "FileVersion": "10.0.26100.1 (WinBuild.160101.0800)",
    "Product": "Microsoft® Windows® Operating System",
    "Company": "Microsoft Corporation",
}
WELL_KNOWN_USERS = {
    "S-1-5-18": ("NT AUTHORITY\\SYSTEM", "System", "0x3e7"),
    "S-1-5-19": ("NT AUTHORITY\\LOCAL SERVICE", "System", "0x3e5"),
    "S-1-5-20": ("NT AUTHORITY\\NETWORK SERVICE", "System", "0x3e4"),
}
DESKTOP_USER = ("BENCH-PC\\analyst", "Medium", "0x2f5a1")
KERNEL_PSEUDO_PROCESSES = {"system", "idle", "registry", "memcompression", "secure system"}
# Parents as Windows starts them, for processes a trace names without a reliable parent: a
# rundown's parent ids are often reused by the time of the rundown.
SMSS = ("C:\\Windows\\System32\\smss.exe", "\\SystemRoot\\System32\\smss.exe 000000c8 00000084")
WININIT = ("C:\\Windows\\System32\\wininit.exe", "wininit.exe")
SERVICES = ("C:\\Windows\\System32\\services.exe", "C:\\WINDOWS\\system32\\services.exe")
SVCHOST_DCOM = (
    "C:\\Windows\\System32\\svchost.exe",
    "C:\\WINDOWS\\system32\\svchost.exe -k DcomLaunch -p",
)
USERINIT = ("C:\\Windows\\System32\\userinit.exe", "C:\\WINDOWS\\system32\\userinit.exe")
EXPLORER = ("C:\\Windows\\explorer.exe", "C:\\WINDOWS\\Explorer.EXE")
CMD = ("C:\\Windows\\System32\\cmd.exe", '"C:\\WINDOWS\\system32\\cmd.exe" ')
PARENT_BY_NAME = {
    "smss.exe": SMSS,
    "csrss.exe": SMSS,
    "wininit.exe": SMSS,
    "winlogon.exe": SMSS,
    "services.exe": WININIT,
    "lsass.exe": WININIT,
    "lsaiso.exe": WININIT,
    "fontdrvhost.exe": WININIT,
    "svchost.exe": SERVICES,
    "explorer.exe": USERINIT,
    "conhost.exe": CMD,
    "wmiprvse.exe": SVCHOST_DCOM,
    "dllhost.exe": SVCHOST_DCOM,
    "runtimebroker.exe": SVCHOST_DCOM,
}


def data_root() -> Path:
    return Path(os.environ.get("PYETWKIT_TEST_DATA", REPO_ROOT.parent / "shared"))


def rule_dir(root: Path | None = None) -> Path:
    return (root or data_root()) / "sigma" / "rules" / "windows" / "process_creation"


def rule_paths(root: Path | None = None) -> list[Path]:
    """The process_creation rules, sorted: the rule set every engine loads."""
    paths = sorted(rule_dir(root).glob("*.yml"))
    if not paths:
        sys.exit(f"sigma_workload: no rules in {rule_dir(root)} (set PYETWKIT_TEST_DATA)")
    return paths


# --- the regression samples --------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    event: Event
    rule_id: str  # the rule the sample was recorded for (its file's name)
    source: str  # the sample file, relative to regression_data


def decode_concatenated(text: str) -> list[Any]:
    """The JSON values of a file of concatenated (pretty-printed) JSON objects."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return values
        value, i = decoder.raw_decode(text, i)
        values.append(value)


def regression_samples(root: Path | None = None) -> list[Sample]:
    """Every Sysmon EventID 1 event recorded for a process_creation rule, in path order."""
    base = (root or data_root()) / "sigma" / "regression_data"
    files = sorted(p for p in base.rglob("*.json") if "process_creation" in p.parts)
    if not files:
        sys.exit(f"sigma_workload: no process_creation samples in {base}")
    samples = []
    for path in files:
        for record in decode_concatenated(path.read_text(encoding="utf-8")):
            system = record["Event"]["System"]
            provider = system.get("Provider", {}).get("#attributes", {}).get("Name")
            if provider != "Microsoft-Windows-Sysmon" or system.get("EventID") != 1:
                continue
            event: Event = {"EventID": system["EventID"]}
            event.update(record["Event"].get("EventData") or {})
            rel = path.relative_to(base).as_posix()
            samples.append(Sample(event, path.stem, rel))
    return samples


# --- processes of the ETL corpus ---------------------------------------------------------


@dataclass(frozen=True)
class Process:
    image: str
    command_line: str
    user_sid: str
    session: int
    parent: tuple[str, str]  # the parent's (image, command line)


def image_from_command_line(command_line: str, name: str = "") -> str | None:
    """The executable path a command line starts with, when it is a full path. ``name`` (the
    image's file name) tells where an unquoted path with spaces ends."""
    line = command_line.strip()
    if line.startswith('"'):
        end = line.find('"', 1)
        first = line[1:end] if end > 0 else line[1:]
    else:
        at = line.lower().find("\\" + name.lower()) if name else -1
        first = line[: at + 1 + len(name)] if at >= 0 else line.split(" ", 1)[0]
    if first.startswith("\\??\\"):
        first = first[4:]
    if first.lower().startswith("\\systemroot\\"):
        first = "C:\\Windows\\" + first[len("\\SystemRoot\\") :]
    if first.lower().startswith("%systemroot%\\"):
        first = "C:\\Windows\\" + first[len("%SystemRoot%\\") :]
    if len(first) > 3 and first[1:3] == ":\\":
        return first
    return None


def default_parent(name: str, user_sid: Any) -> tuple[str, str]:
    """The parent Windows gives a process of that name and user: services for service
    accounts, explorer for a desktop user's programs."""
    known = PARENT_BY_NAME.get(name.lower())
    if known:
        return known
    if isinstance(user_sid, str) and user_sid in WELL_KNOWN_USERS:
        return SERVICES
    return EXPLORER


def corpus_processes(root: Path | None = None) -> tuple[list[Process], dict[str, int]]:
    """The distinct processes of the ETL corpus's kernel Process events, and counts."""
    import pyetwkit

    corpus = (root or data_root()) / "etl-corpus"
    etls = sorted(corpus.glob("*.etl"))
    if not etls:
        sys.exit(f"sigma_workload: no .etl files in {corpus} (set PYETWKIT_TEST_DATA)")
    # Each process with its parent as the trace had named it when the process was read.
    raw: list[tuple[dict[str, Any], dict[str, Any] | None, bool]] = []
    command_lines: set[str] = set()
    for path in etls:
        by_pid: dict[int, dict[str, Any]] = {}
        with pyetwkit.open_etl(path, prescan_processes=True) as etl:
            for event in etl:
                if event.process_command_line:
                    command_lines.add(event.process_command_line)
                if event.kind != "kernel" or event.name not in KERNEL_PROCESS_EVENTS:
                    continue
                props = event.properties
                if not props.get("ImageFileName"):
                    continue
                parent_props = by_pid.get(props.get("ParentId", -1))
                raw.append((props, parent_props, event.name == "Process/Start"))
                by_pid[props["ProcessId"]] = props
                if props.get("CommandLine"):
                    command_lines.add(props["CommandLine"])
    # Full paths seen anywhere, by file name, for processes recorded by name alone.
    paths: dict[str, str] = {}
    for line in sorted(command_lines):
        image = image_from_command_line(line)
        if image:
            paths.setdefault(ntpath.basename(image).lower(), image)

    def describe(props: dict[str, Any]) -> tuple[str, str] | None:
        name = str(props["ImageFileName"])
        if name.lower() in KERNEL_PSEUDO_PROCESSES:
            return None
        line = str(props.get("CommandLine") or "")
        image = image_from_command_line(line, name) or paths.get(name.lower())
        image = image or "C:\\Windows\\System32\\" + name
        return image, line or image

    processes: dict[Process, None] = {}
    for props, parent_props, started in raw:
        me = describe(props)
        if me is None:
            continue
        # A parent is taken from the trace only for a process started while it recorded.
        sid = props.get("UserSID")
        traced = describe(parent_props) if started and parent_props else None
        parent = traced or default_parent(ntpath.basename(me[0]), sid)
        session = props.get("SessionId")
        process = Process(
            me[0],
            me[1],
            sid if isinstance(sid, str) else "",
            session if isinstance(session, int) else 0,
            parent,
        )
        processes.setdefault(process)
    counts = {
        "etl_files": len(etls),
        "kernel_process_events": len(raw),
        "distinct_command_lines": len(command_lines),
        "distinct_processes": len(processes),
    }
    return list(processes), counts


# --- building events ---------------------------------------------------------------------


def hashes(image: str) -> str:
    """Sysmon's Hashes field, derived from the image path (the same image, the same hashes)."""
    key = image.lower().encode()
    md5 = hashlib.md5(key).hexdigest().upper()
    sha256 = hashlib.sha256(key).hexdigest().upper()
    imphash = hashlib.md5(b"imphash:" + key).hexdigest().upper()
    return f"MD5={md5},SHA256={sha256},IMPHASH={imphash}"


def guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Builder:
    """Fills in a Sysmon EventID 1 event around an image, a command line and a parent."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.clock = 1_767_225_600.0  # 2026-01-01T00:00:00Z
        self.logon_guids: dict[str, str] = {}

    def version_fields(self, image: str) -> dict[str, Any]:
        name = ntpath.basename(image)
        if image.lower().startswith("c:\\windows\\"):
            stem = name.rsplit(".", 1)[0]
            return {**WINDOWS_VERSION_INFO, "Description": stem, "OriginalFileName": name}
        return {
            "FileVersion": "-",
            "Description": "-",
            "Product": "-",
            "Company": "-",
            "OriginalFileName": "-",
        }

    def event(
        self,
        image: str,
        command_line: str,
        parent: tuple[str, str],
        user_sid: str,
        session: int,
    ) -> Event:
        rng = self.rng
        self.clock += rng.random() * 0.05
        seconds = int(self.clock)
        millis = int((self.clock - seconds) * 1000)
        utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"
        user, integrity, logon_id = WELL_KNOWN_USERS.get(user_sid, DESKTOP_USER)
        if user_sid not in WELL_KNOWN_USERS and rng.random() < 0.1:
            integrity = "High"
        logon_guid = self.logon_guids.setdefault(user, guid(rng))
        home = "C:\\Windows\\system32\\" if integrity == "System" else "C:\\Users\\analyst\\"
        fields: Event = {
            "RuleName": "-",
            "UtcTime": utc,
            "ProcessGuid": guid(rng),
            "ProcessId": rng.randrange(4, 65536, 4),
            "Image": image,
            **self.version_fields(image),
            "CommandLine": command_line,
            "CurrentDirectory": home,
            "User": user,
            "LogonGuid": logon_guid,
            "LogonId": logon_id,
            "TerminalSessionId": session,
            "IntegrityLevel": integrity,
            "Hashes": hashes(image),
            "ParentProcessGuid": guid(rng),
            "ParentProcessId": rng.randrange(4, 65536, 4),
            "ParentImage": parent[0],
            "ParentCommandLine": parent[1],
            "ParentUser": user,
        }
        return {"EventID": 1, **{k: fields[k] for k in SYSMON_FIELDS}}


def recombine(samples: list[Sample], rng: random.Random) -> Event:
    """A sample whose image fields, command line and parent come from three other samples."""
    a, b, c, d = rng.sample(range(len(samples)), 4)
    event = dict(samples[a].event)
    for field in IMAGE_FIELDS:
        event[field] = samples[b].event.get(field, event.get(field))
    event["CommandLine"] = samples[c].event.get("CommandLine", "")
    for field in PARENT_FIELDS:
        event[field] = samples[d].event.get(field, event.get(field))
    return event


@dataclass
class Workload:
    events: list[Event]
    meta: dict[str, Any]


def build(n: int = DEFAULT_EVENTS, seed: int = DEFAULT_SEED, root: Path | None = None) -> Workload:
    """N events: the regression samples, recombined samples and corpus processes, shuffled."""
    rng = random.Random(seed)
    samples = regression_samples(root)
    processes, corpus_counts = corpus_processes(root)
    if n < len(samples):
        sys.exit(f"sigma_workload: --events must be at least {len(samples)} (the samples)")
    recombined_n = min(round(n * RECOMBINED_SHARE), n - len(samples))
    corpus_n = n - len(samples) - recombined_n
    builder = Builder(rng)

    tagged: list[tuple[str, str | None, Event]] = []
    tagged += [("regression", s.rule_id, dict(s.event)) for s in samples]
    tagged += [("recombined", None, recombine(samples, rng)) for _ in range(recombined_n)]
    for _ in range(corpus_n):
        process = rng.choice(processes)
        event = builder.event(
            process.image, process.command_line, process.parent, process.user_sid, process.session
        )
        tagged.append(("corpus", None, event))
    rng.shuffle(tagged)

    regression = [
        {"index": i, "rule_id": rule_id}
        for i, (kind, rule_id, _) in enumerate(tagged)
        if kind == "regression"
    ]
    meta = {
        "version": WORKLOAD_VERSION,
        "events": n,
        "seed": seed,
        "composition": {
            "regression samples": len(samples),
            "recombined samples": recombined_n,
            "corpus processes": corpus_n,
        },
        "sources": {
            "rules": len(rule_paths(root)),
            "regression_sample_files": len({s.source for s in samples}),
            **corpus_counts,
        },
        "regression": regression,
    }
    return Workload([event for _, _, event in tagged], meta)


# --- the files ---------------------------------------------------------------------------


def paths_for(n: int, seed: int) -> tuple[Path, Path]:
    stem = CACHE / f"sigma_workload_n{n}_s{seed}"
    return stem.with_suffix(".jsonl"), stem.with_suffix(".meta.json")


def write(workload: Workload, events_path: Path, meta_path: Path) -> None:
    events_path.parent.mkdir(parents=True, exist_ok=True)
    if events_path.parent == CACHE:
        (CACHE / ".gitignore").write_text("*\n")
    tmp = events_path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for event in workload.events:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
    tmp.replace(events_path)
    meta_path.write_text(json.dumps(workload.meta, indent=2) + "\n")


def read_events(path: Path) -> list[Event]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def ensure(n: int = DEFAULT_EVENTS, seed: int = DEFAULT_SEED) -> tuple[Path, dict[str, Any]]:
    """The workload file for (N, seed), built when missing or out of date, and its meta."""
    events_path, meta_path = paths_for(n, seed)
    if events_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == WORKLOAD_VERSION:
            return events_path, meta
    print(f"building the Sigma workload ({n:,} events, seed {seed}) ...", flush=True)
    workload = build(n, seed)
    write(workload, events_path, meta_path)
    return events_path, workload.meta


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="default %(default)s")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default %(default)s")
    parser.add_argument("--out", type=Path, help="default benches/.cache/sigma_workload_*.jsonl")
    args = parser.parse_args()
    started = time.perf_counter()
    workload = build(args.events, args.seed)
    events_path, meta_path = paths_for(args.events, args.seed)
    if args.out:
        events_path, meta_path = args.out, args.out.with_suffix(".meta.json")
    write(workload, events_path, meta_path)
    print(
        f"wrote {len(workload.events):,} events to {events_path} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    print(json.dumps({k: v for k, v in workload.meta.items() if k != "regression"}, indent=2))


if __name__ == "__main__":
    main()
