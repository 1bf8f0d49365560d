//! Event filters: a spec (built in Python, sent as JSON) compiled once and
//! evaluated in Rust on the source thread, before anything reaches Python.

use std::cell::OnceCell;

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::error::FilterError;
use crate::event::EtwEvent;
use crate::guid::Guid;
use crate::value::Decoded;

/// The serialised form of a filter: a tree with an `op` tag on every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum FilterSpec {
    All {
        of: Vec<FilterSpec>,
    },
    Any {
        of: Vec<FilterSpec>,
    },
    Not {
        of: Box<FilterSpec>,
    },
    /// Provider GUIDs, and/or provider names (case-insensitive).
    Provider {
        #[serde(default)]
        ids: Vec<String>,
        #[serde(default)]
        names: Vec<String>,
    },
    EventId {
        ids: Vec<u16>,
    },
    Opcode {
        opcodes: Vec<u8>,
    },
    /// Level at most this (ETW's convention: 1 critical … 5 verbose; 0 always passes).
    MaxLevel {
        level: u8,
    },
    /// Any of these keyword bits set.
    KeywordsAny {
        mask: u64,
    },
    /// All of these keyword bits set.
    KeywordsAll {
        mask: u64,
    },
    Pid {
        pids: Vec<u32>,
    },
    /// The image name of the event's process (case-insensitive), from its process context.
    ProcessName {
        names: Vec<String>,
    },
    /// Glob patterns (see `glob`) on the image name of the event's process.
    ProcessGlob {
        patterns: Vec<String>,
    },
    /// The event's name (`EtwEvent::name`, case-insensitive): `Process/Start`,
    /// a manifest or TraceLogging event's name.
    EventName {
        names: Vec<String>,
    },
    /// A decoded payload property.
    Property {
        name: String,
        test: PropertyTest,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PropertyTest {
    Equals {
        value: Value,
    },
    /// Substring of a string value (case-sensitive).
    Contains {
        text: String,
    },
    Regex {
        pattern: String,
    },
    /// The whole string value matches a glob pattern (see `glob`).
    Glob {
        pattern: String,
    },
    /// Numeric value within [min, max]; either bound may be absent.
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
}

/// A compiled filter, ready to evaluate.
#[derive(Debug, Clone)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    /// Names match `EtwEvent::provider_name`, case-insensitively. `kernel_ids`:
    /// the class GUIDs of names that are kernel class names, so kernel events
    /// match by GUID without looking at names.
    Provider {
        ids: Vec<Guid>,
        names: Vec<String>,
        kernel_ids: Vec<Guid>,
    },
    EventId(Vec<u16>),
    Opcode(Vec<u8>),
    MaxLevel(u8),
    KeywordsAny(u64),
    KeywordsAll(u64),
    Pid(Vec<u32>),
    ProcessName(Vec<String>),
    ProcessGlob(GlobSet),
    EventName(Vec<String>),
    Property {
        name: String,
        test: CompiledTest,
    },
}

#[derive(Debug, Clone)]
pub enum CompiledTest {
    Equals(Value),
    Contains(String),
    Regex(Regex),
    Glob(GlobMatcher),
    Range(Option<f64>, Option<f64>),
}

impl Filter {
    pub fn from_json(json: &str) -> Result<Filter, FilterError> {
        let spec: FilterSpec =
            serde_json::from_str(json).map_err(|e| FilterError::Spec(e.to_string()))?;
        Filter::compile(&spec)
    }

    pub fn compile(spec: &FilterSpec) -> Result<Filter, FilterError> {
        let all = |v: &[FilterSpec]| v.iter().map(Filter::compile).collect::<Result<Vec<_>, _>>();
        Ok(match spec {
            FilterSpec::All { of } => Filter::All(all(of)?),
            FilterSpec::Any { of } => Filter::Any(all(of)?),
            FilterSpec::Not { of } => Filter::Not(Box::new(Filter::compile(of)?)),
            FilterSpec::Provider { ids, names } => Filter::Provider {
                ids: ids
                    .iter()
                    .map(|s| s.parse::<Guid>().map_err(|_| FilterError::Guid(s.clone())))
                    .collect::<Result<_, _>>()?,
                names: names.iter().map(|n| n.to_lowercase()).collect(),
                kernel_ids: crate::kernel::ALL_CLASSES
                    .iter()
                    .filter(|c| names.iter().any(|n| n.eq_ignore_ascii_case(c.name)))
                    .map(|c| c.guid)
                    .collect(),
            },
            FilterSpec::EventId { ids } => Filter::EventId(ids.clone()),
            FilterSpec::Opcode { opcodes } => Filter::Opcode(opcodes.clone()),
            FilterSpec::MaxLevel { level } => Filter::MaxLevel(*level),
            FilterSpec::KeywordsAny { mask } => Filter::KeywordsAny(*mask),
            FilterSpec::KeywordsAll { mask } => Filter::KeywordsAll(*mask),
            FilterSpec::Pid { pids } => Filter::Pid(pids.clone()),
            FilterSpec::ProcessName { names } => {
                Filter::ProcessName(names.iter().map(|n| n.to_lowercase()).collect())
            }
            FilterSpec::ProcessGlob { patterns } => {
                let mut set = GlobSetBuilder::new();
                for p in patterns {
                    set.add(glob(p)?);
                }
                Filter::ProcessGlob(set.build().map_err(|e| FilterError::Glob {
                    pattern: patterns.join(", "),
                    reason: e.to_string(),
                })?)
            }
            FilterSpec::EventName { names } => Filter::EventName(names.clone()),
            FilterSpec::Property { name, test } => Filter::Property {
                name: name.clone(),
                test: match test {
                    PropertyTest::Equals { value } => CompiledTest::Equals(value.clone()),
                    PropertyTest::Contains { text } => CompiledTest::Contains(text.clone()),
                    PropertyTest::Regex { pattern } => {
                        CompiledTest::Regex(Regex::new(pattern).map_err(|e| {
                            FilterError::Regex {
                                pattern: pattern.clone(),
                                reason: e.to_string(),
                            }
                        })?)
                    }
                    PropertyTest::Glob { pattern } => {
                        CompiledTest::Glob(glob(pattern)?.compile_matcher())
                    }
                    PropertyTest::Range { min, max } => CompiledTest::Range(*min, *max),
                },
            },
        })
    }

    /// Whether `event` passes. `ProcessName` reads the event's process context
    /// and `Provider` names may come from its schema: the stages set both first.
    pub fn matches(&self, event: &EtwEvent) -> bool {
        // The payload is decoded at most once, and only if a property test needs it.
        self.eval(event, &OnceCell::new())
    }

    fn eval(&self, event: &EtwEvent, decoded: &OnceCell<Option<Decoded>>) -> bool {
        match self {
            Filter::All(items) => items.iter().all(|f| f.eval(event, decoded)),
            Filter::Any(items) => items.iter().any(|f| f.eval(event, decoded)),
            Filter::Not(inner) => !inner.eval(event, decoded),
            Filter::Provider {
                ids,
                names,
                kernel_ids,
            } => {
                if ids.contains(&event.provider_id) {
                    return true;
                }
                if names.is_empty() {
                    return false;
                }
                // A kernel event's name is its class's: compare class GUIDs, no text.
                if let Some(class) = event.kernel_class {
                    return kernel_ids.contains(&class.guid);
                }
                // Otherwise by the one definition of a provider's name.
                event
                    .provider_name()
                    .is_some_and(|n| names.iter().any(|w| w.eq_ignore_ascii_case(&n)))
            }
            Filter::EventId(ids) => ids.contains(&event.event_id),
            Filter::Opcode(ops) => ops.contains(&event.opcode),
            Filter::MaxLevel(level) => event.level <= *level,
            Filter::KeywordsAny(mask) => event.keywords & mask != 0,
            Filter::KeywordsAll(mask) => event.keywords & mask == *mask,
            Filter::Pid(pids) => event.pid.is_some_and(|p| pids.contains(&p)),
            Filter::ProcessName(names) => event
                .process_name()
                .is_some_and(|image| names.iter().any(|n| n.eq_ignore_ascii_case(image))),
            Filter::ProcessGlob(set) => event.process_name().is_some_and(|i| set.is_match(i)),
            Filter::EventName(names) => event
                .name()
                .is_some_and(|n| names.iter().any(|w| w.eq_ignore_ascii_case(&n))),
            Filter::Property { name, test } => decoded
                .get_or_init(|| event.decode())
                .as_ref()
                .and_then(|d| d.properties.iter().find(|(k, _)| **k == **name))
                .is_some_and(|(_, v)| test.matches(&v.to_json())),
        }
    }
}

impl CompiledTest {
    fn matches(&self, value: &Value) -> bool {
        match self {
            CompiledTest::Equals(want) => values_equal(value, want),
            CompiledTest::Contains(text) => {
                value.as_str().is_some_and(|s| s.contains(text.as_str()))
            }
            CompiledTest::Regex(re) => value.as_str().is_some_and(|s| re.is_match(s)),
            CompiledTest::Glob(glob) => value.as_str().is_some_and(|s| glob.is_match(s)),
            CompiledTest::Range(min, max) => value
                .as_f64()
                .is_some_and(|x| min.is_none_or(|m| x >= m) && max.is_none_or(|m| x <= m)),
        }
    }
}

/// A glob as the filters read it: case-insensitive, over the whole text; `*`
/// any run of characters (path separators included), `?` one character,
/// `[abc]` a class, `{a,b}` alternatives; a backslash is a literal character
/// (Windows paths), not an escape.
fn glob(pattern: &str) -> Result<Glob, FilterError> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .map_err(|e| FilterError::Glob {
            pattern: pattern.to_string(),
            reason: e.kind().to_string(),
        })
}

/// JSON equality where 1 and 1.0 are the same number.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_compile_and_reject_bad_input() {
        let f = Filter::from_json(
            r#"{"op":"all","of":[{"op":"event_id","ids":[1,2]},{"op":"not","of":{"op":"max_level","level":3}}]}"#,
        );
        assert!(f.is_ok());
        assert!(matches!(
            Filter::from_json(r#"{"op":"nope"}"#),
            Err(FilterError::Spec(_))
        ));
        assert!(matches!(
            Filter::from_json(r#"{"op":"provider","ids":["zz"]}"#),
            Err(FilterError::Guid(_))
        ));
        assert!(matches!(
            Filter::from_json(
                r#"{"op":"property","name":"x","test":{"kind":"regex","pattern":"("}}"#
            ),
            Err(FilterError::Regex { .. })
        ));
    }

    #[test]
    fn property_tests() {
        use serde_json::json;
        assert!(CompiledTest::Equals(json!(1)).matches(&json!(1.0)));
        assert!(!CompiledTest::Equals(json!("1")).matches(&json!(1)));
        assert!(CompiledTest::Contains("ell".into()).matches(&json!("hello")));
        assert!(CompiledTest::Range(Some(1.0), None).matches(&json!(5)));
        assert!(!CompiledTest::Range(Some(1.0), Some(4.0)).matches(&json!(5)));
        assert!(CompiledTest::Regex(Regex::new("^h").unwrap()).matches(&json!("hi")));
    }

    #[test]
    fn globs_read_windows_paths_as_written() {
        use serde_json::json;
        let test = |pattern: &str, text: &str| {
            CompiledTest::Glob(glob(pattern).unwrap().compile_matcher()).matches(&json!(text))
        };
        // A backslash is a character, not an escape; case does not matter.
        assert!(test(r"*\System32\*.dll", r"C:\Windows\system32\NTDLL.DLL"));
        assert!(!test(r"*\System32\*.dll", r"C:\Windows\SysWOW64\ntdll.dll"));
        // `*` crosses separators; the whole text must match.
        assert!(test("c:*.exe", r"C:\a\b\c.exe"));
        assert!(!test("*.exe", "c.exe.bak"));
        assert!(test("{cmd,powershell}.exe", "PowerShell.exe"));
        assert!(test("[!s]*", "git.exe") && !test("[!s]*", "svchost.exe"));
        assert!(test("?it.exe", "git.exe"));
        assert!(!CompiledTest::Glob(glob("*").unwrap().compile_matcher()).matches(&json!(1)));
        assert!(matches!(glob("[z"), Err(FilterError::Glob { .. })));
    }
}
