//! Which rules the prefilter leaves as candidates over a workload, and how
//! long matching takes: a tool for tuning the prefilter.
//!
//! `cargo run --release -p pyetwkit-sigma --example candidates -- RULES EVENTS.jsonl CATEGORY`
//! (EVENTS: one JSON object of fields per line, as `benches/sigma_workload.py` writes).
//! `ROUNDS=N` times N passes instead of one (for profiling the loop alone).

use std::collections::HashMap;
use std::io::BufRead;

use pyetwkit_sigma::fields::FlatEvent;
use pyetwkit_sigma::timing::time_matching;
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
    let passes = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let timing = time_matching(&rules, &events, &source, passes);
    println!(
        "{} events in {:.3} s ({:.0} events/s)",
        events.len(),
        timing.best_seconds,
        events.len() as f64 / timing.best_seconds
    );
    println!(
        "median candidates per event: {}",
        timing.median_candidates()
    );
    println!(
        "rules in the route, of which unanchored: {:?}",
        rules.route_sizes(&source)
    );
    // Which rules are candidates most often (an untimed pass).
    let mut scratch = Scratch::default();
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for e in &events {
        rules.matches(e, &source, &mut scratch);
        for &c in scratch.candidates() {
            *counts.entry(c).or_default() += 1;
        }
    }
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
