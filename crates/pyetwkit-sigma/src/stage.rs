//! Sigma as a pipeline stage: each event is mapped to Sigma's fields and
//! matched in the source's thread; only events a rule selects go on (or all of
//! them, when asked), carrying their matches.

use std::sync::Arc;

use pyetwkit_core::stages::Gate;
use pyetwkit_core::EtwEvent;

use crate::etw::EtwMapper;
use crate::eval::Scratch;
use crate::rule::LogSource;
use crate::ruleset::RuleSet;

/// The matches attached to an event (`EtwEvent::annotation`).
#[derive(Clone)]
pub struct EventMatches {
    /// The rules the indices refer to.
    pub rules: Arc<RuleSet>,
    /// Per match: the rule's index, and the fields its tests read.
    pub matches: Vec<(u32, Vec<(String, String)>)>,
}

pub struct SigmaGate {
    rules: Arc<RuleSet>,
    mapper: EtwMapper,
    scratch: Scratch,
    keep_unmatched: bool,
}

impl SigmaGate {
    pub fn new(rules: Arc<RuleSet>, keep_unmatched: bool) -> SigmaGate {
        SigmaGate {
            rules,
            mapper: EtwMapper::default(),
            scratch: Scratch::default(),
            keep_unmatched,
        }
    }
}

/// The matches of `mapped`'s categories, each rule once.
pub fn match_mapped(
    rules: &RuleSet,
    mapped: &crate::etw::MappedEvent,
    scratch: &mut Scratch,
) -> Vec<(u32, Vec<(String, String)>)> {
    let mut out: Vec<(u32, Vec<(String, String)>)> = Vec::new();
    for category in mapped.categories {
        let source = LogSource::new(Some("windows"), Some(category), None);
        for m in rules.matches(mapped, &source, scratch) {
            if !out.iter().any(|(r, _)| *r == m.rule) {
                out.push((m.rule, rules.matched_fields(m, mapped)));
            }
        }
    }
    out
}

impl Gate for SigmaGate {
    fn admit(&mut self, event: &mut EtwEvent) -> bool {
        let matches = match self.mapper.map(event) {
            Some(mapped) => match_mapped(&self.rules, &mapped, &mut self.scratch),
            None => Vec::new(),
        };
        let matched = !matches.is_empty();
        if matched {
            event.annotation = Some(Arc::new(EventMatches {
                rules: Arc::clone(&self.rules),
                matches,
            }));
        }
        matched || self.keep_unmatched
    }
}
