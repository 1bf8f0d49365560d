//! Evaluating compiled detections on one event. Each field is read from the
//! event once, its text kept as it is and lowercased in reusable buffers, and
//! shared by the prefilter and every rule; a test several rules share is
//! evaluated once per event.

use std::net::IpAddr;

use crate::detection::{
    fold_dashes, lowercase_into, Detection, FieldId, FieldNames, FieldTest, Test, ValueTest,
};
use crate::fields::Fields;

/// What one event holds for one field, read once.
#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    /// The key is there (with or without a value).
    present: bool,
    /// It has a text (present and not null).
    has_text: bool,
    raw: String,
    lower: String,
    /// Its number: a native number, or a string written as one.
    number: Option<f64>,
    /// A native number (not a string).
    native: Option<f64>,
    /// `lower` with every dash as `-`, for `windash`, made on first use.
    dashed_generation: u32,
    dashed: String,
}

/// Buffers reused from event to event, so matching allocates nothing in the
/// steady state.
#[derive(Debug, Default)]
pub struct Scratch {
    generation: u32,
    slots: Vec<Slot>,
    /// Every value's lowercased text, for keyword searches.
    all_values: Option<Vec<String>>,
    /// Per shared test (`FieldTest::id`): the generation it was evaluated in,
    /// and its result.
    tests: Vec<(u32, bool)>,
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
    pub(crate) fn next_event(&mut self, fields: usize, rules: usize, tests: usize) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps from 2^32 events ago would read as current: clear them.
            for slot in &mut self.slots {
                slot.generation = 0;
                slot.dashed_generation = 0;
            }
            self.tests.iter_mut().for_each(|t| t.0 = 0);
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.clauses.iter_mut().for_each(|c| c.0 = 0);
            self.generation = 1;
        }
        if self.slots.len() < fields {
            self.slots.resize_with(fields, Default::default);
        }
        if self.tests.len() < tests {
            self.tests.resize(tests, (0, false));
        }
        if self.marks.len() < rules {
            self.marks.resize(rules, 0);
            self.clauses.resize(rules, (0, 0));
        }
        self.all_values = None;
        self.candidates.clear();
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
    pub names: &'e FieldNames,
    pub scratch: &'s mut Scratch,
}

/// What an event without the field holds for it.
static ABSENT: Slot = Slot {
    generation: 0,
    present: false,
    has_text: false,
    raw: String::new(),
    lower: String::new(),
    number: None,
    native: None,
    dashed_generation: 0,
    dashed: String::new(),
};

impl<'e, 's> EventView<'e, 's> {
    /// Starts matching `fields`: each of its fields a rule reads is read now,
    /// once (one pass over the event, one hash lookup per field), its text
    /// kept and lowercased; a field not read here is absent.
    pub fn new(fields: &'e dyn Fields, names: &'e FieldNames, scratch: &'s mut Scratch) -> Self {
        let generation = scratch.generation;
        fields.for_each_field(&mut |name, value| {
            let Some(id) = names.id(name) else { return };
            let slot = &mut scratch.slots[id as usize];
            slot.generation = generation;
            slot.present = true;
            slot.raw.clear();
            slot.lower.clear();
            let text = value.text();
            slot.has_text = text.is_some();
            if let Some(t) = text {
                slot.raw.push_str(&t);
                lowercase_into(&t, &mut slot.lower);
            }
            slot.number = value.number();
            slot.native = value.native_number();
        });
        EventView {
            fields,
            names,
            scratch,
        }
    }

    /// The field's slot (`ABSENT` when the event has no such field).
    fn slot(&self, field: FieldId) -> &Slot {
        let slot = &self.scratch.slots[field as usize];
        match slot.generation == self.scratch.generation {
            true => slot,
            false => &ABSENT,
        }
    }

    /// The field's text, lowercased.
    pub fn lower(&mut self, field: FieldId) -> Option<&str> {
        let slot = self.slot(field);
        slot.has_text.then_some(slot.lower.as_str())
    }

    /// The field's text as it is.
    pub fn raw(&mut self, field: FieldId) -> Option<&str> {
        let slot = self.slot(field);
        slot.has_text.then_some(slot.raw.as_str())
    }

    /// The field's native number (not a string that reads as one).
    pub fn native_number(&mut self, field: FieldId) -> Option<f64> {
        self.slot(field).native
    }

    /// The field's lowercased text with every dash as `-`.
    pub fn dashed(&mut self, field: FieldId) -> Option<&str> {
        let generation = self.scratch.generation;
        if !self.slot(field).has_text {
            return None;
        }
        let slot = &mut self.scratch.slots[field as usize];
        if slot.dashed_generation != generation {
            slot.dashed_generation = generation;
            slot.dashed.clear();
            slot.dashed.push_str(&fold_dashes(&slot.lower));
        }
        Some(slot.dashed.as_str())
    }

    /// Every value's lowercased text, for keyword searches.
    pub fn all_lower(&mut self) -> &[String] {
        if self.scratch.all_values.is_none() {
            let mut texts = Vec::new();
            self.fields.for_each_field(&mut |_, v| {
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

    /// A field test's result, evaluated once per event however many rules
    /// share it.
    pub fn test(&mut self, t: &FieldTest) -> bool {
        let generation = self.scratch.generation;
        if let Some(&(seen, result)) = self.scratch.tests.get(t.id as usize) {
            if seen == generation {
                return result;
            }
        }
        let result = self.evaluate(t);
        if let Some(memo) = self.scratch.tests.get_mut(t.id as usize) {
            *memo = (generation, result);
        }
        result
    }

    fn evaluate(&mut self, t: &FieldTest) -> bool {
        let Some(field) = t.field else {
            return self.keywords(&t.test);
        };
        match &t.test {
            // Absent, or present with no value.
            Test::Null => !self.slot(field).has_text,
            Test::Exists(want) => self.slot(field).present == *want,
            Test::Values {
                values,
                all,
                neq,
                fold,
            } => {
                if !self.slot(field).has_text {
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
            ValueTest::Text(m, _) if windash => self.dashed(field).is_some_and(|t| m.is_match(t)),
            // The hot path: the text lowercased once per event, borrowed.
            ValueTest::Text(m, _) => self.lower(field).is_some_and(|t| m.is_match(t)),
            ValueTest::Number(n, text) => {
                self.native_number(field) == Some(*n) || self.lower(field) == Some(text.as_str())
            }
            ValueTest::Regex(re, _) => self.raw(field).is_some_and(|t| re.is_match(t)),
            ValueTest::Cidr(net) => self
                .raw(field)
                .and_then(|t| t.parse::<IpAddr>().ok())
                .is_some_and(|ip| net.contains(&ip)),
            ValueTest::Compare(op, n) => self.slot(field).number.is_some_and(|e| op.holds(e, *n)),
            ValueTest::FieldRef(other) => {
                let a = self.raw(field).map(str::to_string);
                let b = self.raw(*other).map(str::to_string);
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
        let mut raw = Vec::new();
        if fold.cased {
            self.fields
                .for_each_field(&mut |_, v| raw.extend(v.text().map(|t| t.into_owned())));
        }
        let texts: &[String] = match fold.cased {
            true => &raw,
            false => self.all_lower(),
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
