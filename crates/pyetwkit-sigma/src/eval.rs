//! Evaluating compiled detections on one event. Field texts are folded once per
//! event into reusable buffers, shared by the prefilter and every rule.

use std::net::IpAddr;

use crate::detection::{
    fold_dashes, lowercase_into, Detection, FieldId, FieldTest, Test, ValueTest,
};
use crate::fields::{FieldValue, Fields};

/// Buffers reused from event to event, so matching allocates nothing in the
/// steady state.
#[derive(Debug, Default)]
pub struct Scratch {
    generation: u32,
    /// Per field id: the generation its text was folded in, whether the event
    /// has a text for it, and the lowercased text.
    lower: Vec<(u32, bool, String)>,
    /// The same, the text as it is (regexes, `cased`, CIDR), copied once.
    raw: Vec<(u32, bool, String)>,
    /// The lowercased text with its dashes folded, for `windash`.
    dashed: Vec<(u32, bool, String)>,
    /// Every value's lowercased text, for keyword searches.
    all_values: Option<Vec<String>>,
    /// Per rule: the generation it was marked a candidate in.
    pub(crate) marks: Vec<u32>,
    /// Per rule: the generation of its clause mask, and the clauses hit so far.
    clauses: Vec<(u32, u8)>,
    pub(crate) candidates: Vec<u32>,
    /// The prefilter's automaton hits.
    pub(crate) found: Vec<aho_corasick::PatternID>,
}

impl Scratch {
    /// Starts a new event.
    pub(crate) fn next_event(&mut self, fields: usize, rules: usize) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps from 2^32 events ago would read as current: clear them.
            self.lower.iter_mut().for_each(|slot| slot.0 = 0);
            self.raw.iter_mut().for_each(|slot| slot.0 = 0);
            self.dashed.iter_mut().for_each(|slot| slot.0 = 0);
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.clauses.iter_mut().for_each(|c| c.0 = 0);
            self.generation = 1;
        }
        if self.lower.len() < fields {
            self.lower.resize_with(fields, Default::default);
            self.raw.resize_with(fields, Default::default);
            self.dashed.resize_with(fields, Default::default);
        }
        if self.marks.len() < rules {
            self.marks.resize(rules, 0);
            self.clauses.resize(rules, (0, 0));
        }
        self.all_values = None;
        self.candidates.clear();
    }

    /// How many candidate rules the prefilter picked for the last event.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// The candidate rules the prefilter picked for the last event.
    pub fn candidates(&self) -> &[u32] {
        &self.candidates
    }

    /// Records that `clause` of `rule` holds; returns the rule's mask so far.
    pub(crate) fn hit(&mut self, rule: u32, clause: u8) -> u8 {
        let slot = &mut self.clauses[rule as usize];
        if slot.0 != self.generation {
            *slot = (self.generation, 0);
        }
        slot.1 |= 1 << clause;
        slot.1
    }

    pub(crate) fn mark(&mut self, rule: u32) {
        let slot = &mut self.marks[rule as usize];
        if *slot != self.generation {
            *slot = self.generation;
            self.candidates.push(rule);
        }
    }
}

/// One event being matched: its fields, the rule set's field names, scratch.
pub struct EventView<'e, 's> {
    pub fields: &'e dyn Fields,
    pub names: &'e [String],
    pub scratch: &'s mut Scratch,
}

impl EventView<'_, '_> {
    pub fn value(&self, field: FieldId) -> Option<FieldValue<'_>> {
        self.fields.get(&self.names[field as usize])
    }

    /// The field's text, lowercased, folded once per event.
    pub fn lower(&mut self, field: FieldId) -> Option<&str> {
        let generation = self.scratch.generation;
        let idx = field as usize;
        if self.scratch.lower[idx].0 != generation {
            let text = self.fields.get(&self.names[idx]).and_then(|v| v.text());
            let slot = &mut self.scratch.lower[idx];
            slot.0 = generation;
            slot.2.clear();
            slot.1 = match text {
                Some(t) => {
                    lowercase_into(&t, &mut slot.2);
                    true
                }
                None => false,
            };
        }
        let slot = &self.scratch.lower[idx];
        slot.1.then_some(slot.2.as_str())
    }

    /// The field's text as it is, read once per event.
    pub fn raw(&mut self, field: FieldId) -> Option<&str> {
        let generation = self.scratch.generation;
        let idx = field as usize;
        if self.scratch.raw[idx].0 != generation {
            let text = self.fields.get(&self.names[idx]).and_then(|v| v.text());
            let slot = &mut self.scratch.raw[idx];
            slot.0 = generation;
            slot.2.clear();
            slot.1 = match text {
                Some(t) => {
                    slot.2.push_str(&t);
                    true
                }
                None => false,
            };
        }
        let slot = &self.scratch.raw[idx];
        slot.1.then_some(slot.2.as_str())
    }

    /// The field's lowercased text with every dash as `-`, once per event.
    pub fn dashed(&mut self, field: FieldId) -> Option<&str> {
        let generation = self.scratch.generation;
        let idx = field as usize;
        if self.scratch.dashed[idx].0 != generation {
            let folded = self.lower(field).map(fold_dashes);
            let slot = &mut self.scratch.dashed[idx];
            slot.0 = generation;
            slot.2.clear();
            slot.1 = match folded {
                Some(t) => {
                    slot.2.push_str(&t);
                    true
                }
                None => false,
            };
        }
        let slot = &self.scratch.dashed[idx];
        slot.1.then_some(slot.2.as_str())
    }

    /// Every value's lowercased text, for keyword searches.
    pub fn all_lower(&mut self) -> &[String] {
        if self.scratch.all_values.is_none() {
            let mut texts = Vec::new();
            self.fields.for_each_value(&mut |v| {
                if let Some(t) = v.text() {
                    let mut s = String::new();
                    lowercase_into(&t, &mut s);
                    texts.push(s);
                }
            });
            self.scratch.all_values = Some(texts);
        }
        self.scratch.all_values.as_deref().unwrap_or_default()
    }

    pub fn detection(&mut self, d: &Detection) -> bool {
        let mut cache: [Option<bool>; 32] = [None; 32];
        d.condition.eval(&mut |i| {
            if let Some(Some(known)) = cache.get(i) {
                return *known;
            }
            let hit = d.searches[i]
                .groups
                .iter()
                .any(|g| g.iter().all(|t| self.test(t)));
            if let Some(slot) = cache.get_mut(i) {
                *slot = Some(hit);
            }
            hit
        })
    }

    pub fn test(&mut self, t: &FieldTest) -> bool {
        let Some(field) = t.field else {
            return self.keywords(&t.test);
        };
        match &t.test {
            Test::Null => matches!(self.value(field), None | Some(FieldValue::Null)),
            Test::Exists(want) => self.value(field).is_some() == *want,
            Test::Values {
                values,
                all,
                neq,
                fold,
            } => {
                // Absent or null: no text (read once per event, cached).
                if self.lower(field).is_none() {
                    return false;
                }
                let mut one = |v: &ValueTest| self.value_test(field, v, fold.cased, fold.windash);
                let hit = match *all && !*neq {
                    true => values.iter().all(&mut one),
                    false => values.iter().any(&mut one),
                };
                hit != *neq
            }
        }
    }

    fn value_test(&mut self, field: FieldId, v: &ValueTest, cased: bool, windash: bool) -> bool {
        match v {
            ValueTest::Text(m, _) if cased => self.raw(field).is_some_and(|t| match windash {
                true => m.is_match(&fold_dashes(t)),
                false => m.is_match(t),
            }),
            // The hot path: the text lowercased once per event, borrowed.
            ValueTest::Text(m, _) if windash => self.dashed(field).is_some_and(|t| m.is_match(t)),
            ValueTest::Text(m, _) => self.lower(field).is_some_and(|t| m.is_match(t)),
            ValueTest::Number(n, text) => {
                let value = self.value(field);
                value.and_then(|v| v.native_number()) == Some(*n)
                    || self.lower(field).is_some_and(|t| t == text)
            }
            ValueTest::Regex(re, _) => self.raw(field).is_some_and(|t| re.is_match(t)),
            ValueTest::Cidr(net) => self
                .raw(field)
                .and_then(|t| t.parse::<IpAddr>().ok())
                .is_some_and(|ip| net.contains(&ip)),
            ValueTest::Compare(op, n) => self
                .value(field)
                .and_then(|v| v.number())
                .is_some_and(|e| op.holds(e, *n)),
            ValueTest::FieldRef(other) => {
                let a = self
                    .value(field)
                    .and_then(|v| v.text())
                    .map(|t| t.into_owned());
                let b = self
                    .value(*other)
                    .and_then(|v| v.text())
                    .map(|t| t.into_owned());
                match (a, b) {
                    (Some(a), Some(b)) if cased => a == b,
                    (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
                    _ => false,
                }
            }
        }
    }

    fn keywords(&mut self, test: &Test) -> bool {
        let Test::Values {
            values, all, fold, ..
        } = test
        else {
            return false;
        };
        let fold = *fold;
        let texts: Vec<String> = match fold.cased {
            true => {
                let mut raw = Vec::new();
                self.fields
                    .for_each_value(&mut |v| raw.extend(v.text().map(|t| t.into_owned())));
                raw
            }
            false => self.all_lower().to_vec(),
        };
        let hit = |v: &ValueTest| match v {
            ValueTest::Text(m, _) => texts.iter().any(|t| match fold.windash {
                true => m.is_match(&fold_dashes(t)),
                false => m.is_match(t),
            }),
            _ => false,
        };
        match all {
            true => values.iter().all(hit),
            false => values.iter().any(hit),
        }
    }
}
