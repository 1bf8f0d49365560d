//! Which rules the prefilter leaves as candidates over a workload, and how
//! long matching takes: a tool for tuning the prefilter.
//!
//! `cargo run --release -p pyetwkit-sigma --example candidates -- RULES EVENTS.jsonl CATEGORY`
//! (EVENTS: one JSON object of fields per line, as `benches/sigma_workload.py` writes).

use std::collections::HashMap;
use std::io::BufRead;

use pyetwkit_sigma::fields::FlatEvent;
use pyetwkit_sigma::{LoadOptions, LogSource, RuleSet, Scratch};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, rules, events, category] = args.as_slice() else {
        eprintln!("usage: candidates RULES EVENTS.jsonl CATEGORY");
        std::process::exit(2);
    };
    let rules = RuleSet::load(&[rules.into()], &LoadOptions::default());
    let source = LogSource::new(Some("windows"), Some(category), None);
    let file = std::io::BufReader::new(std::fs::File::open(events).expect("events file"));
    let events: Vec<FlatEvent> = file
        .lines()
        .map(|l| {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&l.expect("a line")).expect("a JSON object");
            map.into()
        })
        .collect();
    let mut scratch = Scratch::default();
    let mut counts: HashMap<u32, usize> = HashMap::new();
    let mut per_event = Vec::with_capacity(events.len());
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    for e in &events {
        rules.matches_into(e, &source, &mut scratch, &mut out);
        per_event.push(scratch.candidates().len());
        for &c in scratch.candidates() {
            *counts.entry(c).or_default() += 1;
        }
    }
    let elapsed = start.elapsed();
    // More passes, for profiling the matching loop alone (ROUNDS=N).
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    for _ in 0..rounds {
        for e in &events {
            rules.matches_into(e, &source, &mut scratch, &mut out);
        }
    }
    per_event.sort_unstable();
    println!(
        "{} events in {elapsed:?} ({:.0} events/s)",
        events.len(),
        events.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "median candidates per event: {}",
        per_event[per_event.len() / 2]
    );
    println!(
        "rules in the route, of which unanchored: {:?}",
        rules.route_sizes(&source)
    );
    let mut top: Vec<_> = counts.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (rule, n) in top.iter().take(25) {
        let r = &rules.rules()[*rule as usize];
        println!(
            "{n:8} {}",
            r.info.source.rsplit('/').next().unwrap_or_default()
        );
    }
}
