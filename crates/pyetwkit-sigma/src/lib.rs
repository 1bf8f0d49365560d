//! Sigma rules on ETW events, in Rust: SigmaHQ's YAML compiled to matchers,
//! routed by logsource, prefiltered with exact-value hashes and per-field
//! Aho-Corasick automata; correlations over streams; and the mapping of ETW
//! events to Sigma's field names.

pub mod condition;
pub mod correlation;
pub mod detection;
pub mod error;
pub mod etw;
pub mod eval;
pub mod fields;
pub mod modifiers;
pub mod pattern;
pub mod prefilter;
pub mod rule;
pub mod ruleset;
pub mod select;
pub mod stage;
pub mod stream;
pub mod timing;

pub use error::RuleError;
pub use eval::Scratch;
pub use fields::{FieldValue, Fields};
pub use rule::{LogSource, Rule, RuleInfo};
pub use ruleset::{LoadOptions, Rejected, RuleMatch, RuleSet};
pub use stream::{CorrelationHit, Hit, Stream, StreamOptions, StreamStats};
