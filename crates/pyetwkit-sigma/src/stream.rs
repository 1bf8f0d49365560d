//! Matching over a stream of events, with correlation rules.
//!
//! Memory is bounded on two axes, both counted when they bite:
//! - each correlation keeps at most `max_groups` groups; groups whose window
//!   has passed are swept first, then the least recently active is dropped;
//! - each group keeps at most `max_entries` timestamps or distinct values; the
//!   oldest goes first.
//!
//! A correlation that fires resets its group, so one burst reports once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::correlation::{Correlation, Kind, Ref};
use crate::eval::Scratch;
use crate::fields::Fields;
use crate::rule::LogSource;
use crate::ruleset::{RuleMatch, RuleSet};

#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    pub max_groups: usize,
    pub max_entries: usize,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            max_groups: 100_000,
            max_entries: 10_000,
        }
    }
}

/// What bounding the state cost, so nothing is dropped unseen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub events: u64,
    pub groups_evicted: u64,
    pub entries_evicted: u64,
}

/// A correlation firing for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationHit {
    pub correlation: u32,
    /// The group-by fields and the group's values.
    pub group: Vec<(String, String)>,
    /// The count that met the condition (events, values or rule kinds).
    pub count: f64,
    pub timestamp: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Hit {
    Rule(RuleMatch),
    Correlation(CorrelationHit),
}

#[derive(Debug)]
enum GroupState {
    Count(VecDeque<f64>),
    Values(HashMap<String, f64>),
    /// Per rule referred to: when it was last seen.
    Temporal(Vec<Option<f64>>),
    /// Per step: the latest start time of a run of the steps so far.
    Ordered(Vec<Option<f64>>),
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    last: f64,
}

#[derive(Debug, Default)]
struct CorrelationState {
    groups: HashMap<Vec<String>, Group>,
}

/// One occurrence fed to a correlation: which of its references, the group.
struct Occurrence {
    position: usize,
    group: Vec<String>,
    value: Option<String>,
    timestamp: f64,
}

impl Occurrence {
    /// What the correlation `c` takes of an occurrence of its `position`-th
    /// reference, whose fields `read` gives: the group, and the value counted.
    fn of(
        c: &Correlation,
        position: usize,
        timestamp: f64,
        read: impl Fn(&str) -> Option<String>,
    ) -> Occurrence {
        Occurrence {
            position,
            group: c
                .group_by
                .iter()
                .map(|g| read(c.field_for(g, position)).unwrap_or_default())
                .collect(),
            value: match &c.kind {
                Kind::ValueCount(f) => read(c.field_for(f, position)),
                _ => None,
            },
            timestamp,
        }
    }
}

/// A rule set's matching over a stream, with the correlations' state.
pub struct Stream {
    rules: Arc<RuleSet>,
    options: StreamOptions,
    states: Vec<CorrelationState>,
    /// Rules and correlations whose own matches are not reported (`generate: false`).
    silent_rules: Vec<bool>,
    silent_correlations: Vec<bool>,
    scratch: Scratch,
    matches: Vec<RuleMatch>,
    stats: StreamStats,
}

impl Stream {
    pub fn new(rules: Arc<RuleSet>, options: StreamOptions) -> Stream {
        let mut silent_rules = vec![false; rules.rules().len()];
        let mut silent_correlations = vec![false; rules.correlations().len()];
        for c in rules.correlations() {
            if c.generate {
                continue;
            }
            for r in &c.refs {
                match *r {
                    Ref::Rule(i) => silent_rules[i as usize] = true,
                    Ref::Correlation(i) => silent_correlations[i as usize] = true,
                }
            }
        }
        let states = rules
            .correlations()
            .iter()
            .map(|_| CorrelationState::default())
            .collect();
        Stream {
            rules,
            options: options.clamped(),
            states,
            silent_rules,
            silent_correlations,
            scratch: Scratch::default(),
            matches: Vec::new(),
            stats: StreamStats::default(),
        }
    }

    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Matches `event` (at `timestamp`, in seconds) and advances the correlations.
    pub fn push(&mut self, event: &dyn Fields, source: &LogSource, timestamp: f64) -> Vec<Hit> {
        self.stats.events += 1;
        let mut matches = std::mem::take(&mut self.matches);
        self.rules
            .matches_into(event, source, &mut self.scratch, &mut matches);
        let mut hits = Vec::new();
        let rules = Arc::clone(&self.rules);
        let mut fired: Vec<CorrelationHit> = Vec::new();
        for (ci, c) in rules.correlations().iter().enumerate() {
            let mut occurrences = Vec::new();
            for (position, r) in c.refs.iter().enumerate() {
                match *r {
                    Ref::Rule(rule) if matches.iter().any(|m| m.rule == rule) => {
                        let read = |name: &str| {
                            event
                                .get(name)
                                .and_then(|v| v.text())
                                .map(|t| t.into_owned())
                        };
                        occurrences.push(Occurrence::of(c, position, timestamp, read));
                    }
                    Ref::Correlation(prior) => {
                        for hit in fired.iter().filter(|h| h.correlation == prior) {
                            let read = |name: &str| {
                                let found = hit.group.iter().find(|(k, _)| k == name);
                                found.map(|(_, v)| v.clone())
                            };
                            occurrences.push(Occurrence::of(c, position, hit.timestamp, read));
                        }
                    }
                    Ref::Rule(_) => {}
                }
            }
            // Later steps first: one event never counts as two steps of a sequence.
            occurrences.sort_by_key(|o| std::cmp::Reverse(o.position));
            for occ in occurrences {
                if let Some(hit) = self.advance(ci, c, occ) {
                    fired.push(hit);
                }
            }
        }
        for m in matches
            .iter()
            .filter(|m| !self.silent_rules[m.rule as usize])
        {
            hits.push(Hit::Rule(*m));
        }
        for hit in fired {
            if !self.silent_correlations[hit.correlation as usize] {
                hits.push(Hit::Correlation(hit));
            }
        }
        self.matches = matches;
        hits
    }

    fn advance(&mut self, ci: usize, c: &Correlation, occ: Occurrence) -> Option<CorrelationHit> {
        let now = occ.timestamp;
        let span = c.timespan;
        let max_entries = self.options.max_entries;
        let state = &mut self.states[ci];
        if !state.groups.contains_key(&occ.group) && state.groups.len() >= self.options.max_groups {
            let before = state.groups.len();
            state.groups.retain(|_, g| g.last >= now - span);
            if state.groups.len() >= self.options.max_groups {
                let oldest = state
                    .groups
                    .iter()
                    .min_by(|a, b| a.1.last.total_cmp(&b.1.last))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    state.groups.remove(&k);
                }
            }
            self.stats.groups_evicted += (before - state.groups.len()) as u64;
        }
        let refs = c.refs.len();
        let group = state
            .groups
            .entry(occ.group.clone())
            .or_insert_with(|| Group {
                state: match c.kind {
                    Kind::EventCount => GroupState::Count(VecDeque::new()),
                    Kind::ValueCount(_) => GroupState::Values(HashMap::new()),
                    Kind::Temporal => GroupState::Temporal(vec![None; refs]),
                    Kind::TemporalOrdered => GroupState::Ordered(vec![None; refs]),
                },
                last: now,
            });
        group.last = group.last.max(now);
        let window_start = now - span;
        let mut evicted = 0u64;
        let count = match &mut group.state {
            GroupState::Count(times) => {
                times.push_back(now);
                while times.front().is_some_and(|&t| t < window_start) {
                    times.pop_front();
                }
                while times.len() > max_entries {
                    times.pop_front();
                    evicted += 1;
                }
                Some(times.len() as f64)
            }
            GroupState::Values(values) => {
                if let Some(v) = occ.value {
                    values.insert(v, now);
                }
                values.retain(|_, t| *t >= window_start);
                while values.len() > max_entries {
                    let oldest = values
                        .iter()
                        .min_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        values.remove(&k);
                        evicted += 1;
                    }
                }
                Some(values.len() as f64)
            }
            GroupState::Temporal(seen) => {
                seen[occ.position] = Some(now);
                let kinds = seen
                    .iter()
                    .filter(|t| t.is_some_and(|t| t >= window_start))
                    .count() as f64;
                let default_all = c.condition == Default::default();
                match default_all {
                    true => (kinds == refs as f64).then_some(kinds),
                    false => Some(kinds),
                }
            }
            GroupState::Ordered(starts) => {
                let k = occ.position;
                starts[k] = match k {
                    0 => Some(now),
                    _ => starts[k - 1].filter(|&s| s >= window_start).or(starts[k]),
                };
                match (k + 1 == refs, starts[k]) {
                    (true, Some(s)) if s >= window_start => Some(refs as f64),
                    _ => None,
                }
            }
        };
        self.stats.entries_evicted += evicted;
        let count = count?;
        let default_temporal = matches!(c.kind, Kind::Temporal | Kind::TemporalOrdered)
            && c.condition == Default::default();
        if !(default_temporal || c.condition.holds(count)) {
            return None;
        }
        state.groups.remove(&occ.group);
        Some(CorrelationHit {
            correlation: ci as u32,
            group: c.group_by.iter().cloned().zip(occ.group).collect(),
            count,
            timestamp: now,
        })
    }
}

impl StreamOptions {
    fn clamped(self) -> StreamOptions {
        StreamOptions {
            max_groups: self.max_groups.max(1),
            max_entries: self.max_entries.max(1),
        }
    }
}
