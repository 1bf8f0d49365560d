//! Timing the matching loop alone, for benchmarks: the bindings' `_benchmark`
//! and the `candidates` example measure with this one loop.

use std::time::Instant;

use crate::fields::FlatEvent;
use crate::rule::LogSource;
use crate::ruleset::RuleSet;
use crate::Scratch;

#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// The fastest pass, in seconds.
    pub best_seconds: f64,
    /// Rule matches in one pass.
    pub matches: usize,
    /// Per event, the candidate rules the prefilter picked (first pass).
    pub candidates: Vec<usize>,
}

impl Timing {
    pub fn median_candidates(&self) -> usize {
        let mut sorted = self.candidates.clone();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or(0)
    }
}

/// Matches every event of `events`, `passes` times (at least once).
pub fn time_matching(
    rules: &RuleSet,
    events: &[FlatEvent],
    source: &LogSource,
    passes: usize,
) -> Timing {
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    let mut timing = Timing {
        best_seconds: f64::INFINITY,
        ..Timing::default()
    };
    for pass in 0..passes.max(1) {
        let mut matches = 0;
        let start = Instant::now();
        for event in events {
            rules.matches_into(event, source, &mut scratch, &mut out);
            matches += out.len();
            if pass == 0 {
                timing.candidates.push(scratch.candidates().len());
            }
        }
        timing.best_seconds = timing.best_seconds.min(start.elapsed().as_secs_f64());
        timing.matches = matches;
    }
    timing
}
