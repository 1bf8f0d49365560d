//! Sigma v2 correlation rules (event_count, value_count, temporal,
//! temporal_ordered): what a correlation document says, compiled against the
//! rules it refers to. The state over a stream lives in `stream.rs`.

use std::collections::HashMap;

use serde_norway::Value as Yaml;

use crate::error::RuleError;
use crate::rule::{self, Rule, RuleInfo};

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    EventCount,
    /// Distinct values of this field.
    ValueCount(String),
    Temporal,
    TemporalOrdered,
}

/// What a correlation refers to: a detection rule or an earlier correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    Rule(u32),
    Correlation(u32),
}

/// A count condition: every bound given must hold (`gt: 100, lte: 200`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountCondition {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub eq: Option<f64>,
    pub neq: Option<f64>,
}

impl CountCondition {
    pub fn holds(&self, n: f64) -> bool {
        self.gt.is_none_or(|v| n > v)
            && self.gte.is_none_or(|v| n >= v)
            && self.lt.is_none_or(|v| n < v)
            && self.lte.is_none_or(|v| n <= v)
            && self.eq.is_none_or(|v| n == v)
            && self.neq.is_none_or(|v| n != v)
    }
}

#[derive(Debug, Clone)]
pub struct Correlation {
    pub info: RuleInfo,
    pub kind: Kind,
    pub refs: Vec<Ref>,
    pub group_by: Vec<String>,
    /// Per group-by name, per position in `refs`: the field it reads there.
    pub aliases: HashMap<String, Vec<Option<String>>>,
    pub timespan: f64,
    pub condition: CountCondition,
    /// Whether the rules referred to also report their own matches.
    pub generate: bool,
}

/// `30s`, `5m`, `1h`, `2d` in seconds.
pub fn parse_timespan(text: &str) -> Result<f64, RuleError> {
    let bad = || {
        RuleError::Correlation(format!(
            "timespan {text:?} is not a number and s, m, h or d"
        ))
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let n: f64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => return Err(bad()),
    };
    if !(n.is_finite() && n > 0.0) {
        return Err(bad());
    }
    Ok(n * scale)
}

fn condition(
    value: Option<&Yaml>,
    kind: &Kind,
) -> Result<(CountCondition, Option<String>), RuleError> {
    let mut c = CountCondition::default();
    let mut field = None;
    let Some(value) = value else {
        return Ok((c, None));
    };
    let map = value
        .as_mapping()
        .ok_or_else(|| RuleError::Correlation("condition is not a map".into()))?;
    for (k, v) in map {
        let k = k.as_str().unwrap_or_default();
        if k == "field" {
            field = v.as_str().map(str::to_string);
            continue;
        }
        let n = v
            .as_f64()
            .ok_or_else(|| RuleError::Correlation(format!("{k}: not a number")))?;
        let slot = match k {
            "gt" => &mut c.gt,
            "gte" => &mut c.gte,
            "lt" => &mut c.lt,
            "lte" => &mut c.lte,
            "eq" => &mut c.eq,
            "neq" => &mut c.neq,
            other => {
                return Err(RuleError::Correlation(format!(
                    "unknown condition {other:?}"
                )))
            }
        };
        *slot = Some(n);
    }
    if c == CountCondition::default() && matches!(kind, Kind::EventCount) {
        return Err(RuleError::Correlation(
            "event_count needs a count condition".into(),
        ));
    }
    Ok((c, field))
}

impl Correlation {
    /// Compiles `doc` against the detection `rules` and the correlations
    /// compiled before it. A reference to neither is an error of kind
    /// `Unresolved` (the caller retries once more correlations are known).
    pub fn compile(
        doc: &Yaml,
        source: &str,
        rules: &[Rule],
        prior: &[Correlation],
    ) -> Result<Correlation, RuleError> {
        let info = rule::info(doc, source)?;
        let c = doc
            .get("correlation")
            .ok_or_else(|| RuleError::Correlation("missing".into()))?;
        let kind_text = c.get("type").and_then(Yaml::as_str).unwrap_or_default();
        let mut kind = match kind_text {
            "event_count" => Kind::EventCount,
            "value_count" => Kind::ValueCount(String::new()),
            "temporal" => Kind::Temporal,
            "temporal_ordered" => Kind::TemporalOrdered,
            other => {
                return Err(RuleError::Correlation(format!(
                    "type {other:?} is not supported"
                )))
            }
        };
        let names = rule::texts(c, "rules");
        if names.is_empty() {
            return Err(RuleError::Correlation("no rules referred to".into()));
        }
        let mut refs = Vec::new();
        for name in &names {
            let found = rules
                .iter()
                .position(|r| r.info.id == *name || r.info.name.as_deref() == Some(name))
                .map(|i| Ref::Rule(i as u32))
                .or_else(|| {
                    prior
                        .iter()
                        .position(|p| p.info.id == *name || p.info.name.as_deref() == Some(name))
                        .map(|i| Ref::Correlation(i as u32))
                });
            refs.push(found.ok_or_else(|| unresolved(name))?);
        }
        let group_by = rule::texts(c, "group-by");
        let timespan = parse_timespan(&rule::text(c, "timespan").unwrap_or_default())?;
        let (condition, field) = condition(c.get("condition"), &kind)?;
        if let Kind::ValueCount(f) = &mut kind {
            *f = field.ok_or_else(|| {
                RuleError::Correlation("value_count needs condition.field".into())
            })?;
        }
        let mut aliases = HashMap::new();
        if let Some(map) = c.get("aliases").and_then(Yaml::as_mapping) {
            for (alias, per_rule) in map {
                let alias = alias.as_str().unwrap_or_default().to_string();
                let per_rule = per_rule
                    .as_mapping()
                    .ok_or_else(|| RuleError::Correlation(format!("alias {alias}: not a map")))?;
                let fields = names
                    .iter()
                    .map(|n| {
                        per_rule
                            .get(n.as_str())
                            .and_then(Yaml::as_str)
                            .map(str::to_string)
                    })
                    .collect();
                aliases.insert(alias, fields);
            }
        }
        let generate = c
            .get("generate")
            .or_else(|| doc.get("generate"))
            .and_then(Yaml::as_bool);
        Ok(Correlation {
            info,
            kind,
            refs,
            group_by,
            aliases,
            timespan,
            condition,
            generate: generate.unwrap_or(false),
        })
    }

    /// The field group-by name `g` reads in an event of `refs[position]`.
    pub fn field_for<'a>(&'a self, g: &'a str, position: usize) -> &'a str {
        self.aliases
            .get(g)
            .and_then(|per| per.get(position))
            .and_then(|f| f.as_deref())
            .unwrap_or(g)
    }
}

pub const UNRESOLVED: &str = "refers to a rule that is not loaded: ";

fn unresolved(name: &str) -> RuleError {
    RuleError::Correlation(format!("{UNRESOLVED}{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("90m").unwrap(), 5400.0);
        assert_eq!(parse_timespan("10s").unwrap(), 10.0);
        assert_eq!(parse_timespan("1d").unwrap(), 86400.0);
        for bad in ["", "m", "5", "5w", "-5m", "0s"] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
    }
}
