//! Picking candidate rules cheaply.
//!
//! Each rule is reduced to *clauses* that any event it matches must satisfy,
//! all of them (an AND of ORs). A clause is a set of anchors, any of which
//! must hit: the whole value of a field (hashed) or a substring of a field (one
//! Aho-Corasick automaton per field, over lowercased text). A rule becomes a
//! candidate when every one of its clauses has hit; only candidates run their
//! full matchers. Rules with no clause are candidates for every event.
//!
//! Requiring every clause, not the single best one, is what keeps rules like
//! "IntegrityLevel is High and Image ends with \x.exe" off most events: either
//! anchor alone is common, both together are rare.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use pyetwkit_core::FastMap;

use crate::condition::Cond;
use crate::detection::{required_text, Detection, FieldId, FieldTest, Need, Test, ValueTest};
use crate::eval::EventView;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Anchor {
    /// `None`: any of the event's values (a keyword).
    field: Option<FieldId>,
    need: Need,
}

impl Anchor {
    fn score(&self) -> usize {
        match &self.need {
            // A whole value or file name is worth a longer substring.
            Need::Exact(t) | Need::FileName(t) => 2 * t.len(),
            Need::Contains(t) => t.len(),
        }
    }
}

/// Any of these anchors must hit.
type Clause = Vec<Anchor>;

/// Clauses kept per rule at most (the most selective): every clause indexed
/// costs automaton hits, and two or three already make a rule rare.
const MAX_CLAUSES: usize = 3;

/// Clauses less selective than this (short, common texts) are not indexed
/// when the rule has a better one.
const MIN_SCORE: usize = 4;

/// How selective a clause is (its weakest anchor decides); higher is better.
fn score(clause: &Clause) -> usize {
    clause.iter().map(Anchor::score).min().unwrap_or(0)
}

/// The single most selective clause of a conjunction.
fn best_clause(clauses: Vec<Clause>) -> Option<Clause> {
    clauses.into_iter().max_by_key(score)
}

/// The anchors of one value, any of which must hit; `None` when it has none.
fn value_anchors(field: Option<FieldId>, v: &ValueTest, windash: bool) -> Option<Vec<Anchor>> {
    match v {
        ValueTest::Text(_, pattern) => {
            let fold = crate::detection::Fold {
                cased: false,
                windash,
            };
            let need = match (required_text(pattern, fold)?, field) {
                // Keywords search every value: only substrings index them.
                (Need::Exact(t) | Need::FileName(t), None) => Need::Contains(t),
                (need, _) => need,
            };
            Some(vec![Anchor { field, need }])
        }
        // Equal as text, or as numbers: an integral rule number is also the
        // integer's text (an event's 4 for a rule's 4.0; its 4.0 folds to 4).
        ValueTest::Number(n, text) => {
            let mut anchors = vec![Anchor {
                field,
                need: Need::Exact(text.clone()),
            }];
            if n.fract() == 0.0 && n.abs() < 1e15 && *text != (*n as i64).to_string() {
                anchors.push(Anchor {
                    field,
                    need: Need::Exact((*n as i64).to_string()),
                });
            }
            Some(anchors)
        }
        ValueTest::Regex(_, Some(prefixes)) => Some(
            prefixes
                .iter()
                .map(|p| Anchor {
                    field,
                    need: Need::Contains(p.clone()),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// A field test's clauses: one per value under `all`, else one clause of all
/// its values (none when a value has no anchor).
fn test_clauses(t: &FieldTest) -> Vec<Clause> {
    let Test::Values {
        values,
        all,
        neq: false,
        fold,
    } = &t.test
    else {
        return Vec::new();
    };
    let anchors = values
        .iter()
        .map(|v| value_anchors(t.field, v, fold.windash));
    match all {
        true => anchors.flatten().collect(),
        false => anchors
            .collect::<Option<Vec<Vec<Anchor>>>>()
            .map(|each| each.into_iter().flatten().collect::<Clause>())
            .into_iter()
            .collect(),
    }
}

/// An OR of alternatives, each a conjunction of clauses: one clause, the union
/// of each alternative's best clause; none when an alternative has none.
fn any_of(alternatives: impl Iterator<Item = Vec<Clause>>) -> Vec<Clause> {
    let mut union = Clause::new();
    for clauses in alternatives {
        match best_clause(clauses) {
            Some(c) => union.extend(c),
            None => return Vec::new(),
        }
    }
    match union.is_empty() {
        true => Vec::new(),
        false => vec![union],
    }
}

fn cond_clauses(c: &Cond, d: &Detection) -> Vec<Clause> {
    match c {
        Cond::Id(i) => match d.searches[*i].groups.as_slice() {
            [group] => group.iter().flat_map(test_clauses).collect(),
            groups => any_of(
                groups
                    .iter()
                    .map(|g| g.iter().flat_map(test_clauses).collect()),
            ),
        },
        Cond::And(parts) => parts.iter().flat_map(|p| cond_clauses(p, d)).collect(),
        Cond::Or(parts) => any_of(parts.iter().map(|p| cond_clauses(p, d))),
        Cond::Not(_) => Vec::new(),
    }
}

/// A DFA larger than this searches slower than a contiguous NFA: every byte of
/// text is a cache miss (CommandLine's 5,600 patterns make a 32 MB DFA).
const MAX_DFA_BYTES: usize = 2 << 20;

/// The automaton of `texts`: a DFA where it stays small enough to live in
/// cache, else a contiguous NFA, else the library's choice.
fn automaton(texts: &[String]) -> Option<AhoCorasick> {
    // A rare-bytes prefilter over many patterns finds a "rare" byte almost
    // everywhere, and only adds its own cost.
    let prefilter = texts.len() <= 64;
    let builder = |kind| {
        AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(prefilter)
            .kind(kind)
            .build(texts)
    };
    match builder(Some(AhoCorasickKind::DFA)) {
        Ok(dfa) if dfa.memory_usage() <= MAX_DFA_BYTES => Some(dfa),
        _ => builder(Some(AhoCorasickKind::ContiguousNFA))
            .or_else(|_| builder(None))
            .ok(),
    }
}

/// What an anchor hit means: this clause of this rule holds.
#[derive(Debug, Clone, Copy)]
struct Target {
    rule: u32,
    clause: u8,
    /// The mask of all the rule's clauses.
    full: u8,
}

struct Automaton {
    field: Option<FieldId>,
    ac: AhoCorasick,
    targets: Vec<Vec<Target>>,
}

/// The candidate index of one group of rules (those of one logsource category).
pub struct Prefilter {
    always: Vec<u32>,
    exact: Vec<(FieldId, FastMap<String, Vec<Target>>)>,
    /// By the text's file name (after its last backslash).
    file_names: Vec<(FieldId, FastMap<String, Vec<Target>>)>,
    automata: Vec<Automaton>,
}

impl Prefilter {
    /// Indexes `rules` (indices into the rule set, with their detections).
    pub fn build<'a>(rules: impl Iterator<Item = (u32, &'a Detection)>) -> Prefilter {
        let mut always = Vec::new();
        // Built from rules, looked up with event text: a cheap hash is safe.
        let mut exact: HashMap<FieldId, FastMap<String, Vec<Target>>> = HashMap::new();
        let mut file_names: HashMap<FieldId, FastMap<String, Vec<Target>>> = HashMap::new();
        let mut substrings: HashMap<Option<FieldId>, FastMap<String, Vec<Target>>> = HashMap::new();
        for (rule, d) in rules {
            let mut clauses = cond_clauses(&d.condition, d);
            clauses.sort_by_key(|c| std::cmp::Reverse(score(c)));
            // Hash lookups cost next to nothing; every substring indexed grows
            // the automaton each event's text is scanned with. A rule with a
            // whole-value or file-name clause is indexed by those alone.
            let cheap = |c: &Clause| c.iter().all(|a| !matches!(a.need, Need::Contains(_)));
            if clauses.iter().any(cheap) {
                clauses.retain(cheap);
            }
            clauses.truncate(MAX_CLAUSES);
            while clauses.len() > 1 && clauses.last().is_some_and(|c| score(c) < MIN_SCORE) {
                clauses.pop();
            }
            if clauses.is_empty() {
                always.push(rule);
                continue;
            }
            let all = ((1u16 << clauses.len()) - 1) as u8;
            for (k, clause) in clauses.into_iter().enumerate() {
                let target = Target {
                    rule,
                    clause: k as u8,
                    full: all,
                };
                for a in clause {
                    let (slot, text) = match (a.need, a.field) {
                        (Need::Exact(t), Some(f)) => (exact.entry(f).or_default(), t),
                        (Need::FileName(t), Some(f)) => (file_names.entry(f).or_default(), t),
                        (Need::Exact(t) | Need::FileName(t) | Need::Contains(t), field) => {
                            (substrings.entry(field).or_default(), t)
                        }
                    };
                    slot.entry(text).or_default().push(target);
                }
            }
        }
        let mut automata = Vec::new();
        for (field, patterns) in substrings {
            let (texts, targets): (Vec<String>, Vec<Vec<Target>>) = patterns.into_iter().unzip();
            match automaton(&texts) {
                Some(ac) => automata.push(Automaton { field, ac, targets }),
                // Beyond the library's limits: its rules are tried on every event.
                None => always.extend(targets.iter().flatten().map(|t| t.rule)),
            }
        }
        always.sort_unstable();
        always.dedup();
        automata.sort_by_key(|a| a.field);
        let sorted = |m: HashMap<FieldId, FastMap<String, Vec<Target>>>| {
            let mut v: Vec<_> = m.into_iter().collect();
            v.sort_by_key(|(f, _)| *f);
            v
        };
        Prefilter {
            always,
            exact: sorted(exact),
            file_names: sorted(file_names),
            automata,
        }
    }

    /// Marks the candidate rules of the event in `view`'s scratch.
    pub fn candidates(&self, view: &mut EventView<'_, '_>) {
        for &rule in &self.always {
            view.scratch.mark(rule);
        }
        let hit = |view: &mut EventView<'_, '_>, targets: &[Target]| {
            for t in targets {
                if view.scratch.hit(t.rule, t.clause) == t.full {
                    view.scratch.mark(t.rule);
                }
            }
        };
        for (field, values) in &self.exact {
            let mut targets: Option<&Vec<Target>> = None;
            if let Some(text) = view.lower(*field) {
                targets = values.get(text);
            }
            if targets.is_none() {
                // A float like 4.0 (text `4.0`) is indexed by its integer text,
                // as rules write it.
                let float_text = view.lower(*field).is_some_and(|t| t.ends_with(".0"));
                if let (true, Some(f)) = (float_text, view.native_number(*field)) {
                    if f.fract() == 0.0 && f.abs() < 1e15 {
                        targets = values.get(&(f as i64).to_string());
                    }
                }
            }
            if let Some(t) = targets {
                hit(view, t);
            }
        }
        for (field, names) in &self.file_names {
            let name = view
                .lower(*field)
                .and_then(|t| t.rsplit_once('\\'))
                .map(|(_, n)| n);
            if let Some(t) = name.and_then(|n| names.get(n)) {
                hit(view, t);
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
                hit(view, &automaton.targets[pattern.as_usize()]);
            }
        }
        view.scratch.found = found;
    }

    /// How many rules have no anchor and are tried on every event.
    pub fn unanchored(&self) -> usize {
        self.always.len()
    }
}
