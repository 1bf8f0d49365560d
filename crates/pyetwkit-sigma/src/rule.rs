//! A rule's identity and logsource, read from its YAML, and the compiled rule.

use serde_norway::Value as Yaml;

use crate::detection::{self, Context, Detection};
use crate::error::{shape, RuleError};

/// Where a rule applies: each key it names must equal the event's; a key it
/// leaves out matches anything. Stored lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl LogSource {
    pub fn new(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> LogSource {
        let low = |s: Option<&str>| s.map(str::to_ascii_lowercase);
        LogSource {
            product: low(product),
            category: low(category),
            service: low(service),
        }
    }

    /// Whether a rule with this logsource applies to an event of `event`'s.
    pub fn admits(&self, event: &LogSource) -> bool {
        let key = |rule: &Option<String>, event: &Option<String>| {
            rule.as_ref().is_none_or(|r| event.as_ref() == Some(r))
        };
        key(&self.product, &event.product)
            && key(&self.category, &event.category)
            && key(&self.service, &event.service)
    }

    /// `product/category/service`, with `-` for a key left out.
    pub fn label(&self) -> String {
        let part = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        format!(
            "{}/{}/{}",
            part(&self.product),
            part(&self.category),
            part(&self.service)
        )
    }
}

/// What a match reports of its rule (DRL 1.1 asks that the author be kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleInfo {
    pub id: String,
    /// The v2 `name`, by which correlations may refer to the rule.
    pub name: Option<String>,
    pub title: String,
    pub status: Option<String>,
    pub level: Option<String>,
    pub author: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    pub logsource: LogSource,
    /// The file it came from (and `#N` for the N-th document of several).
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub info: RuleInfo,
    pub detection: Detection,
}

pub fn text(doc: &Yaml, key: &str) -> Option<String> {
    match doc.get(key)? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn texts(doc: &Yaml, key: &str) -> Vec<String> {
    match doc.get(key) {
        Some(Yaml::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The identity and metadata every rule document has.
pub fn info(doc: &Yaml, source: &str) -> Result<RuleInfo, RuleError> {
    let title = text(doc, "title").ok_or_else(|| shape("no title"))?;
    let id = text(doc, "id").unwrap_or_default();
    let logsource = match doc.get("logsource") {
        Some(ls) => LogSource::new(
            ls.get("product").and_then(Yaml::as_str),
            ls.get("category").and_then(Yaml::as_str),
            ls.get("service").and_then(Yaml::as_str),
        ),
        None => LogSource::default(),
    };
    Ok(RuleInfo {
        id,
        name: text(doc, "name"),
        title,
        status: text(doc, "status").map(|s| s.to_ascii_lowercase()),
        level: text(doc, "level").map(|s| s.to_ascii_lowercase()),
        author: text(doc, "author"),
        description: text(doc, "description"),
        tags: texts(doc, "tags"),
        references: texts(doc, "references"),
        falsepositives: texts(doc, "falsepositives"),
        logsource,
        source: source.to_string(),
    })
}

/// A detection rule document compiled.
pub fn compile(doc: &Yaml, source: &str, cx: &mut Context<'_>) -> Result<Rule, RuleError> {
    let info = info(doc, source)?;
    if doc.get("logsource").is_none() {
        return Err(shape("no logsource"));
    }
    let detection = doc.get("detection").ok_or_else(|| shape("no detection"))?;
    let detection = detection::compile(detection, cx)?;
    Ok(Rule { info, detection })
}
