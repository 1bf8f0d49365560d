//! Benchmark peer for `benches/bench_sigma.py`: rsigma-eval over the same Sigma rules and
//! events as pyetwkit, on one thread.
//!
//! ```text
//! sigma-peer --events EVENTS.jsonl [--repeat N] [--bloom] [--ids-out PATH] RULES...
//! ```
//!
//! RULES are rule files or directories (every `*.yml` / `*.yaml` directly inside, sorted).
//! EVENTS.jsonl holds one flat JSON object per line. Loading the rules and parsing the events
//! are not timed; the timed part is `Engine::evaluate` over every event, `--repeat` times
//! (default 3). Prints one JSON object on stdout:
//! `{"engine":"rsigma-eval","events":N,"seconds":S,"matches":M,"rules_loaded":R,
//! "rules_failed":F, ...}` with `seconds` the best pass (the median and every pass are given
//! too). `--ids-out PATH` writes, for each event in order, a JSON array of the matched rules'
//! ids (one line per event), from an untimed pass. `--bloom` turns on rsigma-eval's optional
//! bloom pre-filter (off by default, as in the library).

use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use rsigma_eval::Engine;
use rsigma_eval::event::JsonEvent;
use rsigma_parser::{SigmaRule, parse_sigma_yaml};
use serde_json::{Value, json};

struct Args {
    events: PathBuf,
    repeat: usize,
    bloom: bool,
    ids_out: Option<PathBuf>,
    rules: Vec<PathBuf>,
}

fn usage() -> String {
    "usage: sigma-peer --events EVENTS.jsonl [--repeat N] [--bloom] [--ids-out PATH] RULES..."
        .to_string()
}

fn parse_args() -> Result<Args, String> {
    let mut events = None;
    let mut repeat = 3;
    let mut bloom = false;
    let mut ids_out = None;
    let mut rules = Vec::new();
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--events") => events = it.next().map(PathBuf::from),
            Some("--ids-out") => ids_out = it.next().map(PathBuf::from),
            Some("--bloom") => bloom = true,
            Some("--repeat") => {
                let n = it
                    .next()
                    .and_then(|v| v.to_str().and_then(|s| s.parse().ok()));
                repeat = n
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--repeat needs a positive integer")?;
            }
            Some("-h" | "--help") => return Err(usage()),
            Some(s) if s.starts_with("--") => {
                return Err(format!("unknown option {s}\n{}", usage()));
            }
            _ => rules.push(PathBuf::from(arg)),
        }
    }
    let events = events.ok_or_else(usage)?;
    if rules.is_empty() {
        return Err(usage());
    }
    Ok(Args {
        events,
        repeat,
        bloom,
        ids_out,
        rules,
    })
}

/// Rule files: the paths given, directories expanded to their `*.yml` / `*.yaml` files.
fn rule_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml"))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

struct Loaded {
    engine: Engine,
    files: usize,
    rules_loaded: usize,
    failures: Vec<Value>,
}

/// Parses every file and compiles its rules in one batch (`Engine::add_rules`, which builds
/// the index once). A file fails when it does not parse or when any of its rules does not
/// compile; its other rules stay loaded, as in the library.
fn load(files: &[PathBuf], bloom: bool) -> Loaded {
    let mut failures = Vec::new();
    let mut parsed: Vec<SigmaRule> = Vec::new();
    let mut origin: Vec<&Path> = Vec::new();
    for file in files {
        let text = match fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                failures.push(json!({"path": file, "error": e.to_string()}));
                continue;
            }
        };
        match parse_sigma_yaml(&text) {
            Ok(collection) if collection.errors.is_empty() && !collection.rules.is_empty() => {
                for rule in collection.rules {
                    parsed.push(rule);
                    origin.push(file);
                }
            }
            Ok(collection) => {
                let error = if collection.errors.is_empty() {
                    "no detection rule in the file".to_string()
                } else {
                    collection.errors.join("; ")
                };
                failures.push(json!({"path": file, "error": error}));
            }
            Err(e) => failures.push(json!({"path": file, "error": e.to_string()})),
        }
    }
    let mut engine = Engine::new();
    engine.set_bloom_prefilter(bloom);
    let errors = engine.add_rules(parsed.iter());
    for (idx, e) in &errors {
        failures.push(json!({"path": origin[*idx], "error": e.to_string()}));
    }
    let rules_loaded = engine.rule_count();
    Loaded {
        engine,
        files: files.len(),
        rules_loaded,
        failures,
    }
}

fn read_events(path: &Path) -> Result<Vec<Value>, String> {
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut events = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        events.push(value);
    }
    Ok(events)
}

/// One timed pass: every event through `Engine::evaluate`; returns the matches.
fn pass(engine: &Engine, events: &[Value]) -> usize {
    let mut matches = 0;
    for value in events {
        let event = JsonEvent::borrow(value);
        matches += std::hint::black_box(engine.evaluate(&event)).len();
    }
    matches
}

fn write_ids(engine: &Engine, events: &[Value], path: &Path) -> Result<(), String> {
    let file = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    for value in events {
        let event = JsonEvent::borrow(value);
        let ids: Vec<String> = engine
            .evaluate(&event)
            .into_iter()
            .map(|r| r.header.rule_id.unwrap_or(r.header.rule_title))
            .collect();
        serde_json::to_writer(&mut out, &ids).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let files = rule_files(&args.rules)?;
    let started = Instant::now();
    let loaded = load(&files, args.bloom);
    let load_seconds = started.elapsed().as_secs_f64();
    let events = read_events(&args.events)?;

    let mut seconds = Vec::with_capacity(args.repeat);
    let mut matches = None;
    for _ in 0..args.repeat {
        let started = Instant::now();
        let m = pass(&loaded.engine, &events);
        seconds.push(started.elapsed().as_secs_f64());
        if matches.is_some_and(|previous| previous != m) {
            return Err("passes over the same events gave different match counts".into());
        }
        matches = Some(m);
    }
    if let Some(path) = &args.ids_out {
        write_ids(&loaded.engine, &events, path)?;
    }
    let mut sorted = seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let report = json!({
        "engine": "rsigma-eval",
        "version": "0.23.0",
        "events": events.len(),
        "seconds": sorted[0],
        "seconds_median": median,
        "seconds_all": seconds,
        "repeat": args.repeat,
        "matches": matches.unwrap_or(0),
        "rule_files": loaded.files,
        "rules_loaded": loaded.rules_loaded,
        "rules_failed": loaded.failures.len(),
        "failures": loaded.failures,
        "load_seconds": load_seconds,
        "bloom_prefilter": args.bloom,
    });
    println!("{report}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sigma-peer: {message}");
            ExitCode::FAILURE
        }
    }
}
