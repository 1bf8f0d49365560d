//! A rule's `detection` compiled: search identifiers made of field tests, and
//! the condition over them.

use std::collections::HashMap;

use serde_norway::Value as Yaml;

use crate::condition::{self, Cond};
use crate::error::{shape, RuleError};
use crate::modifiers::{CmpOp, Kind, Modifiers};
use crate::pattern::{SigmaString, StrMatch, Tok};

/// A field name's index in the rule set's table of names.
pub type FieldId = u32;

/// Field names, each stored once for the whole rule set.
#[derive(Debug, Default, Clone)]
pub struct FieldNames {
    pub names: Vec<String>,
    /// Looked up once per field of every event: a cheap hash (the keys come
    /// from the rules, not from events).
    index: pyetwkit_core::FastMap<String, FieldId>,
}

impl FieldNames {
    pub fn id(&self, name: &str) -> Option<FieldId> {
        self.index.get(name).copied()
    }

    pub fn intern(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as FieldId;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), id);
        id
    }
}

/// How text is folded before a string test: lowercased unless `cased`, with
/// the five dash characters made one when `windash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fold {
    pub cased: bool,
    pub windash: bool,
}

pub const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

impl Fold {
    pub fn apply(self, text: &str) -> String {
        let text = match self.cased {
            true => text.to_string(),
            false => lowercase(text),
        };
        match self.windash {
            true => fold_dashes(&text),
            false => text,
        }
    }
}

/// Lowercases as Python's `str.lower` does for the characters rules use.
pub fn lowercase(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    lowercase_into(text, &mut out);
    out
}

pub fn lowercase_into(text: &str, out: &mut String) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| b.to_ascii_lowercase() as char));
    } else {
        out.push_str(&text.to_lowercase());
    }
}

pub fn fold_dashes(text: &str) -> String {
    text.chars()
        .map(|c| if DASHES.contains(&c) { '-' } else { c })
        .collect()
}

/// One value of a field test.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// The folded event text against a folded pattern.
    Text(StrMatch, SigmaString),
    /// A number: equal as numbers, or equal as text (`5985` and `"5985"`).
    Number(f64, String),
    /// A regex, and texts one of which starts every match (lowercased), when
    /// they can be known: the prefilter's anchors for it.
    Regex(regex::Regex, Option<Vec<String>>),
    Cidr(ipnet::IpNet),
    Compare(CmpOp, f64),
    FieldRef(FieldId),
}

#[derive(Debug, Clone)]
pub enum Test {
    /// `Field: null`: absent, or present with no value.
    Null,
    Exists(bool),
    Values {
        values: Vec<ValueTest>,
        all: bool,
        neq: bool,
        fold: Fold,
    },
}

/// `Field|modifiers: values`, or a keyword search when `field` is `None`.
#[derive(Debug, Clone)]
pub struct FieldTest {
    pub field: Option<FieldId>,
    pub test: Test,
    /// The same for every test written alike in any rule of the set, so that
    /// an event evaluates it once (`eval::Scratch`).
    pub id: u32,
}

/// A search identifier: any of its groups, each group all of its tests.
#[derive(Debug, Clone)]
pub struct Search {
    pub groups: Vec<Vec<FieldTest>>,
}

#[derive(Debug, Clone)]
pub struct Detection {
    pub names: Vec<String>,
    pub searches: Vec<Search>,
    pub condition: Cond,
}

/// What compiling needs from the rule set: its field table, its table of
/// tests (by how they are written) and the placeholders.
pub struct Context<'a> {
    pub fields: &'a mut FieldNames,
    pub tests: &'a mut HashMap<String, u32>,
    pub placeholders: &'a dyn Fn(&str) -> Option<Vec<String>>,
}

impl Context<'_> {
    /// The id of the test written as `key: value` (same text, same test).
    fn test_id(&mut self, key: &str, value: &Yaml) -> u32 {
        let written = format!("{key}\u{1}{value:?}");
        let next = self.tests.len() as u32;
        *self.tests.entry(written).or_insert(next)
    }
}

pub fn compile(detection: &Yaml, cx: &mut Context<'_>) -> Result<Detection, RuleError> {
    let map = detection
        .as_mapping()
        .ok_or_else(|| shape("detection is not a mapping"))?;
    let mut names = Vec::new();
    let mut searches = Vec::new();
    let mut condition_value = None;
    for (key, value) in map {
        let key = key
            .as_str()
            .ok_or_else(|| shape("a detection key is not a string"))?;
        match key {
            "condition" => condition_value = Some(value),
            "timeframe" => return Err(shape("timeframe (Sigma 1 aggregation) is not supported")),
            name => {
                names.push(name.to_string());
                searches.push(search(name, value, cx)?);
            }
        }
    }
    let condition_value = condition_value.ok_or_else(|| shape("detection has no condition"))?;
    let texts: Vec<&str> = match condition_value {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| shape("a condition is not a string"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(shape("condition is not a string")),
    };
    let mut parts = Vec::new();
    for text in texts {
        if text.contains('|') {
            return Err(RuleError::Condition(
                "aggregations (`|`) are Sigma 1; use correlations".into(),
            ));
        }
        parts.push(condition::parse(text, &names)?);
    }
    let condition = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Cond::Or(parts)
    };
    Ok(Detection {
        names,
        searches,
        condition,
    })
}

fn search(name: &str, value: &Yaml, cx: &mut Context<'_>) -> Result<Search, RuleError> {
    let groups = match value {
        Yaml::Mapping(map) => vec![group(map, cx)?],
        Yaml::Sequence(items) if items.iter().all(|i| i.is_mapping()) && !items.is_empty() => items
            .iter()
            .map(|i| group(i.as_mapping().expect("checked"), cx))
            .collect::<Result<_, _>>()?,
        Yaml::Sequence(items) if items.iter().all(|i| !i.is_mapping() && !i.is_sequence()) => {
            vec![vec![keywords(value, cx)?]]
        }
        Yaml::Sequence(_) => return Err(shape(format!("{name}: a list mixes maps and values"))),
        Yaml::String(_) | Yaml::Number(_) => vec![vec![keywords(value, cx)?]],
        _ => return Err(shape(format!("{name}: not a map or list"))),
    };
    if groups.iter().any(|g: &Vec<FieldTest>| g.is_empty()) {
        return Err(shape(format!("{name}: an empty selection")));
    }
    Ok(Search { groups })
}

/// A keyword search: the identifier's values, in any of the event's values.
fn keywords(value: &Yaml, cx: &mut Context<'_>) -> Result<FieldTest, RuleError> {
    let mut test = field_test(None, &[], value, cx)?;
    test.id = cx.test_id("", value);
    Ok(test)
}

fn group(map: &serde_norway::Mapping, cx: &mut Context<'_>) -> Result<Vec<FieldTest>, RuleError> {
    let mut tests = Vec::new();
    for (key, value) in map {
        let key = key
            .as_str()
            .ok_or_else(|| shape("a field name is not a string"))?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default();
        let modifiers: Vec<&str> = parts.collect();
        let field = match field.is_empty() {
            true => None,
            false => Some(cx.fields.intern(field)),
        };
        let mut test = field_test(field, &modifiers, value, cx)?;
        test.id = cx.test_id(key, value);
        tests.push(test);
    }
    Ok(tests)
}

fn field_test(
    field: Option<FieldId>,
    modifier_names: &[&str],
    value: &Yaml,
    cx: &mut Context<'_>,
) -> Result<FieldTest, RuleError> {
    let m = Modifiers::parse(modifier_names)?;
    let items: Vec<&Yaml> = match value {
        Yaml::Sequence(items) => items.iter().collect(),
        single => vec![single],
    };
    if items.is_empty() {
        return Err(RuleError::Value("an empty list of values".into()));
    }
    if m.all && items.len() < 2 {
        return Err(RuleError::Modifier("all with a single value".into()));
    }
    if items.iter().any(|v| v.is_null()) {
        if items.len() > 1 || modifier_names.iter().any(|n| *n != "cased") || field.is_none() {
            return Err(RuleError::Value(
                "null is a value of its own, not in a list or with modifiers".into(),
            ));
        }
        return Ok(FieldTest {
            field,
            test: Test::Null,
            id: 0,
        });
    }
    if m.kind == Kind::Exists {
        return match (items.as_slice(), field) {
            ([Yaml::Bool(b)], Some(_)) => Ok(FieldTest {
                field,
                test: Test::Exists(*b),
                id: 0,
            }),
            _ => Err(RuleError::Value(
                "exists takes true or false, on a field".into(),
            )),
        };
    }
    if field.is_none() && m.kind != Kind::Text {
        return Err(RuleError::Modifier(
            "keywords take string modifiers only".into(),
        ));
    }
    let fold = Fold {
        cased: m.cased,
        windash: m.windash,
    };
    let mut values = Vec::new();
    for item in items {
        values.extend(value_tests(item, &m, fold, field.is_none(), cx)?);
    }
    Ok(FieldTest {
        field,
        test: Test::Values {
            values,
            all: m.all,
            neq: m.neq,
            fold,
        },
        id: 0,
    })
}

fn scalar_text(v: &Yaml) -> Result<String, RuleError> {
    match v {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Bool(b) => Ok(b.to_string()),
        _ => Err(RuleError::Value(
            "a value is not a string, number or boolean".into(),
        )),
    }
}

fn value_tests(
    item: &Yaml,
    m: &Modifiers,
    fold: Fold,
    keyword: bool,
    cx: &mut Context<'_>,
) -> Result<Vec<ValueTest>, RuleError> {
    let text = scalar_text(item)?;
    Ok(match &m.kind {
        Kind::Regex { i, m: multi, s } => {
            let re = regex::RegexBuilder::new(&text)
                .case_insensitive(*i)
                .multi_line(*multi)
                .dot_matches_new_line(*s)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| RuleError::Value(format!("regex {text:?}: {e}")))?;
            let prefixes = regex_prefixes(&text, *i, *multi, *s);
            vec![ValueTest::Regex(re, prefixes)]
        }
        Kind::Cidr => {
            let net: ipnet::IpNet = text
                .parse()
                .map_err(|_| RuleError::Value(format!("{text:?} is not a CIDR network")))?;
            vec![ValueTest::Cidr(net.trunc())]
        }
        Kind::Compare(op) => {
            let n = match item {
                Yaml::Number(n) => n.as_f64(),
                _ => None,
            };
            let n = n.ok_or_else(|| RuleError::Value(format!("{text:?} is not a number")))?;
            vec![ValueTest::Compare(*op, n)]
        }
        Kind::FieldRef => vec![ValueTest::FieldRef(cx.fields.intern(&text))],
        Kind::Exists => unreachable!("handled by the caller"),
        Kind::Text => {
            // A plain number compares as a number too; modifiers make it text.
            let plain = m.transforms.is_empty()
                && m.placement == crate::modifiers::Placement::Whole
                && !m.windash
                && !keyword;
            if let (Yaml::Number(n), true) = (item, plain) {
                if let Some(f) = n.as_f64() {
                    return Ok(vec![ValueTest::Number(f, number_text(n))]);
                }
            }
            let strings = m.apply(&text, cx.placeholders)?;
            strings
                .into_iter()
                .map(|s| {
                    let s = if keyword { s.wrap(true, true) } else { s };
                    let folded = fold_pattern(&s, fold);
                    ValueTest::Text(StrMatch::compile(&folded), folded)
                })
                .collect()
        }
    })
}

/// The texts one of which starts every match of `pattern`, lowercased; `None`
/// when a match may start with anything (or with a single character).
fn regex_prefixes(pattern: &str, i: bool, m: bool, s: bool) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .build()
        .parse(pattern)
        .ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let mut out: Vec<String> = Vec::new();
    for lit in seq.literals()? {
        let text = lowercase(std::str::from_utf8(lit.as_bytes()).ok()?);
        if text.chars().count() < 2 {
            return None;
        }
        if !out.contains(&text) {
            out.push(text);
        }
    }
    (!out.is_empty() && out.len() <= 64).then_some(out)
}

/// A YAML number as text the way the event side writes numbers.
fn number_text(n: &serde_norway::Number) -> String {
    match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (None, Some(u), _) => u.to_string(),
        (_, _, Some(f)) => crate::fields::float_text(f),
        _ => n.to_string(),
    }
}

pub fn fold_pattern(s: &SigmaString, fold: Fold) -> SigmaString {
    s.map_literals(|lit| fold.apply(lit))
}

/// What a prefilter can demand of a text that a string pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// The whole text (a value with no wildcard).
    Exact(String),
    /// The part after the text's last backslash (`*\cmd.exe`: a path's file name).
    FileName(String),
    /// A substring: the pattern's longest plain run (dash characters split
    /// runs under windash, where any dash may stand in).
    Contains(String),
}

/// What any text `s` matches must have, lowercased; `None` when nothing useful.
pub fn required_text(s: &SigmaString, fold: Fold) -> Option<Need> {
    if fold.windash {
        return longest_run(s, true).map(Need::Contains);
    }
    if let Some(lit) = s.as_literal() {
        return Some(Need::Exact(lowercase(&lit)));
    }
    if let [Tok::AnyRun, Tok::Lit(tail)] = s.0.as_slice() {
        if let Some(name) = tail.strip_prefix('\\') {
            if !name.contains('\\') && name.len() >= 2 {
                return Some(Need::FileName(lowercase(name)));
            }
        }
    }
    longest_run(s, false).map(Need::Contains)
}

fn longest_run(s: &SigmaString, split_dashes: bool) -> Option<String> {
    let mut best = String::new();
    for tok in &s.0 {
        if let Tok::Lit(lit) = tok {
            let lit = lowercase(lit);
            let pieces: Vec<&str> = match split_dashes {
                true => lit.split(|c| DASHES.contains(&c)).collect(),
                false => vec![lit.as_str()],
            };
            for piece in pieces {
                if piece.len() > best.len() {
                    best = piece.to_string();
                }
            }
        }
    }
    (best.len() >= 2).then_some(best)
}

/// Whether the detection's tests read `field`, for reporting matched fields.
pub fn fields_of(search: &Search) -> impl Iterator<Item = FieldId> + '_ {
    search.groups.iter().flatten().filter_map(|t| t.field)
}
