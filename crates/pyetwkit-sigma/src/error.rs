//! Why a rule could not load. A rejected rule never stops the others.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("YAML: {0}")]
    Yaml(String),
    #[error("{0}")]
    Shape(String),
    #[error("condition: {0}")]
    Condition(String),
    #[error("modifier: {0}")]
    Modifier(String),
    #[error("value: {0}")]
    Value(String),
    #[error("placeholder %{0}% has no values (give it in placeholders)")]
    Placeholder(String),
    #[error("correlation: {0}")]
    Correlation(String),
}

pub(crate) fn shape(msg: impl Into<String>) -> RuleError {
    RuleError::Shape(msg.into())
}
