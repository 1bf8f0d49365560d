//! Loading rules (files, folders, YAML text), routing them by logsource, and
//! matching events: the prefilter picks candidates, which run their detections.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_norway::Value as Yaml;

use crate::correlation::Correlation;
use crate::detection::{Context, FieldNames};
use crate::error::RuleError;
use crate::eval::{EventView, Scratch};
use crate::fields::Fields;
use crate::prefilter::Prefilter;
use crate::rule::{self, LogSource, Rule, RuleInfo};

/// What to keep of the rules read, and the values of `%placeholders%`.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Keep only rules of these levels (lowercase), when given.
    pub levels: Option<Vec<String>>,
    /// Keep only rules of these statuses, when given.
    pub statuses: Option<Vec<String>>,
    /// Keep only rules with at least one of these tags, when given.
    pub tags: Option<Vec<String>>,
    pub placeholders: HashMap<String, Vec<String>>,
}

impl LoadOptions {
    fn keeps(&self, info: &RuleInfo) -> bool {
        let within = |allowed: &Option<Vec<String>>, v: &Option<String>| {
            allowed.as_ref().is_none_or(|a| {
                v.as_ref()
                    .is_some_and(|v| a.iter().any(|x| x.eq_ignore_ascii_case(v)))
            })
        };
        within(&self.levels, &info.level)
            && within(&self.statuses, &info.status)
            && self.tags.as_ref().is_none_or(|want| {
                info.tags
                    .iter()
                    .any(|t| want.iter().any(|w| w.eq_ignore_ascii_case(t)))
            })
    }
}

/// A rule that could not load, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub source: String,
    pub reason: String,
}

/// The rules of one logsource category, with their candidate index.
struct Route {
    rules: Vec<u32>,
    prefilter: Prefilter,
}

/// Compiled rules, ready to match events.
pub struct RuleSet {
    rules: Vec<Rule>,
    fields: FieldNames,
    /// By the rule's category (`None`: rules that name no category).
    routes: HashMap<Option<String>, Route>,
    rejected: Vec<Rejected>,
    /// Rules left out by the level, status or tag choice.
    filtered_out: usize,
    correlations: Vec<Correlation>,
    /// How many distinct tests the rules hold (`FieldTest::id`).
    tests: usize,
}

/// One rule matching one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMatch {
    pub rule: u32,
}

impl RuleSet {
    /// Reads every `.yml`/`.yaml` file at `paths` (folders recursively, in name order).
    pub fn load(paths: &[PathBuf], options: &LoadOptions) -> RuleSet {
        let mut sources = Vec::new();
        let mut rejected = Vec::new();
        for path in paths {
            collect_files(path, &mut sources, &mut rejected);
        }
        let mut texts = Vec::new();
        for file in sources {
            match std::fs::read_to_string(&file) {
                Ok(text) => texts.push((file.display().to_string(), text)),
                Err(e) => rejected.push(Rejected {
                    source: file.display().to_string(),
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
        let mut set = RuleSet::from_texts(&texts, options);
        rejected.append(&mut set.rejected);
        set.rejected = rejected;
        set
    }

    /// Compiles rule documents from `(label, YAML text)` pairs.
    pub fn from_texts(texts: &[(String, String)], options: &LoadOptions) -> RuleSet {
        let mut fields = FieldNames::default();
        let mut tests = HashMap::new();
        let mut rules = Vec::new();
        let mut rejected = Vec::new();
        let mut filtered_out = 0;
        let mut correlation_docs = Vec::new();
        let placeholders = |name: &str| options.placeholders.get(name).cloned();
        for (label, text) in texts {
            let docs = match parse_documents(text) {
                Ok(docs) => docs,
                Err(e) => {
                    rejected.push(Rejected {
                        source: label.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let many = docs.len() > 1;
            for (n, doc) in docs.into_iter().enumerate() {
                let source = if many {
                    format!("{label}#{}", n + 1)
                } else {
                    label.clone()
                };
                if doc.get("correlation").is_some() {
                    correlation_docs.push((source, doc));
                    continue;
                }
                let mut cx = Context {
                    fields: &mut fields,
                    tests: &mut tests,
                    placeholders: &placeholders,
                };
                match rule::compile(&doc, &source, &mut cx) {
                    Ok(r) if options.keeps(&r.info) => rules.push(r),
                    Ok(_) => filtered_out += 1,
                    Err(e) => rejected.push(Rejected {
                        source,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        // Correlations may refer to ones written after them: compile in rounds
        // until none more resolve; what is left refers to nothing loaded (or
        // to itself, in a cycle).
        let mut correlations = Vec::new();
        let mut pending = correlation_docs;
        loop {
            let before = pending.len();
            let mut unresolved = Vec::new();
            for (source, doc) in pending {
                match Correlation::compile(&doc, &source, &rules, &correlations) {
                    Ok(c) if options.keeps(&c.info) => correlations.push(c),
                    Ok(_) => filtered_out += 1,
                    Err(e) if e.to_string().contains(crate::correlation::UNRESOLVED) => {
                        unresolved.push((source, doc, e))
                    }
                    Err(e) => rejected.push(Rejected {
                        source,
                        reason: e.to_string(),
                    }),
                }
            }
            if unresolved.len() == before || unresolved.is_empty() {
                for (source, _, e) in unresolved {
                    rejected.push(Rejected {
                        source,
                        reason: e.to_string(),
                    });
                }
                break;
            }
            pending = unresolved.into_iter().map(|(s, d, _)| (s, d)).collect();
        }
        let mut by_category: HashMap<Option<String>, Vec<u32>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_category
                .entry(r.info.logsource.category.clone())
                .or_default()
                .push(i as u32);
        }
        let routes = by_category
            .into_iter()
            .map(|(category, ids)| {
                let prefilter =
                    Prefilter::build(ids.iter().map(|&i| (i, &rules[i as usize].detection)));
                (
                    category,
                    Route {
                        rules: ids,
                        prefilter,
                    },
                )
            })
            .collect();
        RuleSet {
            rules,
            fields,
            routes,
            rejected,
            filtered_out,
            correlations,
            tests: tests.len(),
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }

    pub fn filtered_out(&self) -> usize {
        self.filtered_out
    }

    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    /// Rules per logsource (`product/category/service`), for load reports.
    pub fn counts_by_logsource(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.rules {
            *counts.entry(r.info.logsource.label()).or_insert(0) += 1;
        }
        counts
    }

    /// The rules matching `event`, an event of logsource `source`, in rule order.
    /// `scratch` is reused between calls; candidates are left in it (for stats).
    pub fn matches(
        &self,
        event: &dyn Fields,
        source: &LogSource,
        scratch: &mut Scratch,
    ) -> Vec<RuleMatch> {
        let mut out = Vec::new();
        self.matches_into(event, source, scratch, &mut out);
        out
    }

    pub fn matches_into(
        &self,
        event: &dyn Fields,
        source: &LogSource,
        scratch: &mut Scratch,
        out: &mut Vec<RuleMatch>,
    ) {
        out.clear();
        scratch.next_event(self.fields.names.len(), self.rules.len(), self.tests);
        let mut view = EventView::new(event, &self.fields, scratch);
        for route in self.routes_for(source) {
            route.prefilter.candidates(&mut view);
        }
        let mut candidates = std::mem::take(&mut view.scratch.candidates);
        candidates.sort_unstable();
        for &rule in &candidates {
            let r = &self.rules[rule as usize];
            if r.info.logsource.admits(source) && view.detection(&r.detection) {
                out.push(RuleMatch { rule });
            }
        }
        view.scratch.candidates = candidates;
    }

    /// The fields the matched rule's tests read that the event has, with their text.
    pub fn matched_fields(&self, m: RuleMatch, event: &dyn Fields) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        for search in &self.rules[m.rule as usize].detection.searches {
            for f in crate::detection::fields_of(search) {
                let name = &self.fields.names[f as usize];
                if seen.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if let Some(text) = event.get(name).and_then(|v| v.text()) {
                    seen.push((name.clone(), text.into_owned()));
                }
            }
        }
        seen
    }

    /// How many rules the routes hold for `source`, and how many of those
    /// lack an anchor (tried on every event).
    pub fn route_sizes(&self, source: &LogSource) -> (usize, usize) {
        self.routes_for(source)
            .fold((0, 0), |(rules, unanchored), r| {
                (rules + r.rules.len(), unanchored + r.prefilter.unanchored())
            })
    }

    /// The routes whose rules may apply to `source`: the rules naming no
    /// category, and those of its category.
    fn routes_for<'a>(&'a self, source: &'a LogSource) -> impl Iterator<Item = &'a Route> {
        let own = source.category.as_ref().map(|_| &source.category);
        [Some(&None), own]
            .into_iter()
            .flatten()
            .filter_map(|key| self.routes.get(key))
    }
}

/// The YAML documents in `text` (several when separated by `---`).
pub fn parse_documents(text: &str) -> Result<Vec<Yaml>, RuleError> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let value = Yaml::deserialize(doc).map_err(|e| RuleError::Yaml(e.to_string()))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    if docs.is_empty() {
        return Err(RuleError::Yaml("no YAML document".into()));
    }
    Ok(docs)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>, rejected: &mut Vec<Rejected>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            rejected.push(Rejected {
                source: path.display().to_string(),
                reason: format!("cannot read: {e}"),
            });
            return;
        }
    };
    if meta.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            rejected.push(Rejected {
                source: path.display().to_string(),
                reason: format!("cannot read: {e}"),
            });
            return;
        }
    };
    entries.sort();
    for entry in entries {
        let is_yaml = entry.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if entry.is_dir() {
            collect_files(&entry, out, rejected);
        } else if is_yaml {
            out.push(entry);
        }
    }
}
