//! Picking candidate rules cheaply. Each rule yields a set of anchors, of which
//! any matching event must hit at least one: exact field values (hashed) or
//! substrings of a field (one Aho-Corasick automaton per field, over lowercased
//! text). Rules with no anchor are always candidates.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::condition::Cond;
use crate::detection::{required_text, Detection, FieldId, FieldTest, Test, ValueTest};
use crate::eval::EventView;
use crate::fields::FieldValue;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Anchor {
    /// `None`: any of the event's values (a keyword).
    field: Option<FieldId>,
    exact: bool,
    text: String,
}

/// How selective a set of anchors is (the weakest one decides); higher is better.
fn score(anchors: &[Anchor]) -> usize {
    anchors
        .iter()
        .map(|a| a.text.len() + if a.exact { 64 } else { 0 })
        .min()
        .unwrap_or(0)
}

/// The better of two anchor sets, for an AND: either one is necessary.
fn best(a: Option<Vec<Anchor>>, b: Option<Vec<Anchor>>) -> Option<Vec<Anchor>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if score(&b) > score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The union of two anchor sets, for an OR: unanchored if either side is.
fn union(a: Option<Vec<Anchor>>, b: Option<Vec<Anchor>>) -> Option<Vec<Anchor>> {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    Some(a)
}

fn value_anchor(field: Option<FieldId>, v: &ValueTest, windash: bool) -> Option<Anchor> {
    match v {
        ValueTest::Text(_, pattern) => {
            let fold = crate::detection::Fold {
                cased: false,
                windash,
            };
            let (exact, text) = required_text(pattern, fold)?;
            Some(Anchor { field, exact, text })
        }
        ValueTest::Number(_, text) => Some(Anchor {
            field,
            exact: true,
            text: text.clone(),
        }),
        _ => None,
    }
}

fn test_anchors(t: &FieldTest) -> Option<Vec<Anchor>> {
    let Test::Values {
        values,
        all,
        neq: false,
        fold,
    } = &t.test
    else {
        return None;
    };
    let each = values
        .iter()
        .map(|v| value_anchor(t.field, v, fold.windash).map(|a| vec![a]));
    match all {
        true => each.fold(None, best),
        false => each.fold(Some(Vec::new()), union),
    }
}

fn cond_anchors(c: &Cond, d: &Detection) -> Option<Vec<Anchor>> {
    match c {
        Cond::Id(i) => d.searches[*i]
            .groups
            .iter()
            .try_fold(Vec::new(), |mut acc, group| {
                acc.extend(group.iter().map(test_anchors).fold(None, best)?);
                Some(acc)
            }),
        Cond::And(parts) => parts.iter().map(|p| cond_anchors(p, d)).fold(None, best),
        Cond::Or(parts) => parts
            .iter()
            .map(|p| cond_anchors(p, d))
            .fold(Some(Vec::new()), union),
        Cond::Not(_) => None,
    }
}

struct Automaton {
    field: Option<FieldId>,
    ac: AhoCorasick,
    rules: Vec<Vec<u32>>,
}

/// The candidate index of one group of rules (those of one logsource category).
pub struct Prefilter {
    always: Vec<u32>,
    exact: Vec<(FieldId, HashMap<String, Vec<u32>>)>,
    automata: Vec<Automaton>,
}

impl Prefilter {
    /// Indexes `rules` (indices into the rule set, with their detections).
    pub fn build<'a>(rules: impl Iterator<Item = (u32, &'a Detection)>) -> Prefilter {
        let mut always = Vec::new();
        let mut exact: HashMap<FieldId, HashMap<String, Vec<u32>>> = HashMap::new();
        let mut substrings: HashMap<Option<FieldId>, HashMap<String, Vec<u32>>> = HashMap::new();
        for (rule, d) in rules {
            match cond_anchors(&d.condition, d) {
                Some(anchors) if !anchors.is_empty() => {
                    for a in anchors {
                        let slot = match (a.exact, a.field) {
                            (true, Some(f)) => exact.entry(f).or_default(),
                            _ => substrings.entry(a.field).or_default(),
                        };
                        let list = slot.entry(a.text).or_default();
                        if list.last() != Some(&rule) {
                            list.push(rule);
                        }
                    }
                }
                _ => always.push(rule),
            }
        }
        let mut automata: Vec<Automaton> = substrings
            .into_iter()
            .filter_map(|(field, patterns)| {
                let (texts, rules): (Vec<String>, Vec<Vec<u32>>) = patterns.into_iter().unzip();
                let ac = AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&texts)
                    .ok()?;
                Some(Automaton { field, ac, rules })
            })
            .collect();
        automata.sort_by_key(|a| a.field);
        let mut exact: Vec<_> = exact.into_iter().collect();
        exact.sort_by_key(|(f, _)| *f);
        Prefilter {
            always,
            exact,
            automata,
        }
    }

    /// Marks the candidate rules of the event in `view`'s scratch.
    pub fn candidates(&self, view: &mut EventView<'_, '_>) {
        for &rule in &self.always {
            view.scratch.mark(rule);
        }
        for (field, values) in &self.exact {
            let mut hits: Option<&Vec<u32>> = None;
            if let Some(text) = view.lower(*field) {
                hits = values.get(text);
            }
            if hits.is_none() {
                // A float like 4.0 is indexed by its integer text, as rules write it.
                if let Some(FieldValue::Float(f)) = view.value(*field) {
                    if f.fract() == 0.0 && f.abs() < 1e15 {
                        hits = values.get(&(f as i64).to_string());
                    }
                }
            }
            for &rule in hits.into_iter().flatten() {
                view.scratch.mark(rule);
            }
        }
        // Reused from event to event: no allocation in the steady state.
        let mut found = std::mem::take(&mut view.scratch.found);
        for automaton in &self.automata {
            found.clear();
            match automaton.field {
                Some(field) => {
                    if let Some(text) = view.lower(field) {
                        found.extend(
                            automaton
                                .ac
                                .find_overlapping_iter(text)
                                .map(|m| m.pattern()),
                        );
                    }
                }
                None => {
                    for text in view.all_lower() {
                        found.extend(
                            automaton
                                .ac
                                .find_overlapping_iter(text)
                                .map(|m| m.pattern()),
                        );
                    }
                }
            }
            for pattern in &found {
                for &rule in &automaton.rules[pattern.as_usize()] {
                    view.scratch.mark(rule);
                }
            }
        }
        view.scratch.found = found;
    }

    /// How many rules have no anchor and are tried on every event.
    pub fn unanchored(&self) -> usize {
        self.always.len()
    }
}
