//! Value modifiers (`Field|contains|all`): read from a field key, checked for
//! combinations that mean nothing, and applied to a rule's values.

use base64::Engine as _;

use crate::error::RuleError;
use crate::pattern::SigmaString;

/// Everything a field key's modifier chain says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Modifiers {
    /// Value transformations, in the order written.
    pub transforms: Vec<Transform>,
    pub placement: Placement,
    pub all: bool,
    pub cased: bool,
    pub windash: bool,
    pub kind: Kind,
    pub neq: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    Expand,
    Utf16Le,
    Utf16Be,
    Utf16Bom,
    Base64,
    Base64Offset,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Placement {
    #[default]
    Whole,
    Contains,
    StartsWith,
    EndsWith,
}

/// How the (transformed) values are compared.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Kind {
    #[default]
    Text,
    Regex {
        i: bool,
        m: bool,
        s: bool,
    },
    Cidr,
    Compare(CmpOp),
    FieldRef,
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    pub fn holds(self, event: f64, rule: f64) -> bool {
        match self {
            CmpOp::Lt => event < rule,
            CmpOp::Lte => event <= rule,
            CmpOp::Gt => event > rule,
            CmpOp::Gte => event >= rule,
        }
    }
}

fn set_kind(m: &mut Modifiers, kind: Kind) -> Result<(), RuleError> {
    // `re` takes its flags after it; any other second kind is a contradiction.
    if m.kind != Kind::Text {
        return Err(RuleError::Modifier(format!("{kind:?} after {:?}", m.kind)));
    }
    m.kind = kind;
    Ok(())
}

impl Modifiers {
    /// Reads `names` (the key's parts after the field name).
    pub fn parse(names: &[&str]) -> Result<Modifiers, RuleError> {
        let mut m = Modifiers::default();
        for &name in names {
            match name {
                "contains" | "startswith" | "endswith" => {
                    if m.placement != Placement::Whole {
                        return Err(RuleError::Modifier(format!(
                            "{name} after another placement"
                        )));
                    }
                    m.placement = match name {
                        "contains" => Placement::Contains,
                        "startswith" => Placement::StartsWith,
                        _ => Placement::EndsWith,
                    };
                }
                "all" => m.all = true,
                "cased" => m.cased = true,
                "windash" => m.windash = true,
                "neq" => m.neq = true,
                "expand" => m.transforms.push(Transform::Expand),
                "utf16le" | "wide" => m.transforms.push(Transform::Utf16Le),
                "utf16be" => m.transforms.push(Transform::Utf16Be),
                "utf16" => m.transforms.push(Transform::Utf16Bom),
                "base64" => m.transforms.push(Transform::Base64),
                "base64offset" => m.transforms.push(Transform::Base64Offset),
                "re" => set_kind(
                    &mut m,
                    Kind::Regex {
                        i: false,
                        m: false,
                        s: false,
                    },
                )?,
                "i" | "m" | "s" => match &mut m.kind {
                    Kind::Regex { i, m: multi, s } => match name {
                        "i" => *i = true,
                        "m" => *multi = true,
                        _ => *s = true,
                    },
                    _ => return Err(RuleError::Modifier(format!("{name} without re"))),
                },
                "cidr" => set_kind(&mut m, Kind::Cidr)?,
                "lt" => set_kind(&mut m, Kind::Compare(CmpOp::Lt))?,
                "lte" => set_kind(&mut m, Kind::Compare(CmpOp::Lte))?,
                "gt" => set_kind(&mut m, Kind::Compare(CmpOp::Gt))?,
                "gte" => set_kind(&mut m, Kind::Compare(CmpOp::Gte))?,
                "fieldref" => set_kind(&mut m, Kind::FieldRef)?,
                "exists" => set_kind(&mut m, Kind::Exists)?,
                other => return Err(RuleError::Modifier(format!("unknown modifier {other:?}"))),
            }
        }
        m.check()?;
        Ok(m)
    }

    /// Combinations with no meaning are refused rather than guessed at.
    fn check(&self) -> Result<(), RuleError> {
        let stringy = self.placement != Placement::Whole
            || self.windash
            || self.transforms.iter().any(|t| *t != Transform::Expand);
        match self.kind {
            Kind::Text => {}
            Kind::FieldRef if !self.transforms.is_empty() || self.windash => {
                return Err(RuleError::Modifier(
                    "fieldref takes no transformation".into(),
                ))
            }
            Kind::FieldRef => {}
            _ if stringy || self.cased => {
                return Err(RuleError::Modifier(format!(
                    "{:?} does not combine with string modifiers",
                    self.kind
                )))
            }
            Kind::Exists if self.all || self.neq => {
                return Err(RuleError::Modifier("exists takes one boolean".into()))
            }
            _ => {}
        }
        let encodes = |t: &Transform| matches!(t, Transform::Base64 | Transform::Base64Offset);
        if self.windash && self.transforms.iter().any(encodes) {
            return Err(RuleError::Modifier("windash before an encoding".into()));
        }
        let utf16 = self.transforms.iter().position(|t| {
            matches!(
                t,
                Transform::Utf16Le | Transform::Utf16Be | Transform::Utf16Bom
            )
        });
        if let Some(at) = utf16 {
            if !self.transforms[at..].iter().any(encodes) {
                return Err(RuleError::Modifier(
                    "utf16 needs base64 or base64offset after it".into(),
                ));
            }
        }
        Ok(())
    }

    /// Applies the transformations to one raw string value, giving the
    /// Sigma strings it stands for (several: expand, base64offset).
    pub fn apply(
        &self,
        raw: &str,
        placeholders: &dyn Fn(&str) -> Option<Vec<String>>,
    ) -> Result<Vec<SigmaString>, RuleError> {
        let expand = self.transforms.contains(&Transform::Expand);
        let texts = match expand {
            true => expand_placeholders(raw, placeholders)?,
            false => vec![raw.to_string()],
        };
        let mut out = Vec::new();
        for text in texts {
            let mut bytes: Option<Vec<u8>> = None;
            let mut values = vec![SigmaString::parse(&text)];
            for t in &self.transforms {
                match t {
                    Transform::Expand => {}
                    Transform::Utf16Le | Transform::Utf16Be | Transform::Utf16Bom => {
                        let plain = literal_of(&values, "utf16")?;
                        bytes = Some(utf16(&plain, *t));
                    }
                    Transform::Base64 | Transform::Base64Offset => {
                        let data = match bytes.take() {
                            Some(b) => b,
                            None => literal_of(&values, "base64")?.into_bytes(),
                        };
                        values = match t {
                            Transform::Base64 => vec![SigmaString::literal(b64(&data))],
                            _ => base64_offsets(&data)
                                .into_iter()
                                .map(SigmaString::literal)
                                .collect(),
                        };
                    }
                }
            }
            out.extend(values.into_iter().map(|v| match self.placement {
                Placement::Whole => v,
                Placement::Contains => v.wrap(true, true),
                Placement::StartsWith => v.wrap(false, true),
                Placement::EndsWith => v.wrap(true, false),
            }));
        }
        Ok(out)
    }
}

fn literal_of(values: &[SigmaString], what: &str) -> Result<String, RuleError> {
    match values {
        [v] => v
            .as_literal()
            .ok_or_else(|| RuleError::Modifier(format!("{what} of a value with wildcards"))),
        _ => Err(RuleError::Modifier(format!("{what} after an encoding"))),
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn utf16(text: &str, t: Transform) -> Vec<u8> {
    let mut out = Vec::new();
    if t == Transform::Utf16Bom {
        out.extend([0xff, 0xfe]);
    }
    for unit in text.encode_utf16() {
        out.extend(match t {
            Transform::Utf16Be => unit.to_be_bytes(),
            _ => unit.to_le_bytes(),
        });
    }
    out
}

/// The three forms `data` takes inside a longer base64 text, by its offset
/// modulo 3, with the characters that depend on the neighbours cut off.
pub fn base64_offsets(data: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(data);
            let encoded = b64(&shifted);
            let end = encoded
                .len()
                .saturating_sub(END_CUT[(data.len() + shift) % 3]);
            encoded
                .get(START[shift]..end.max(START[shift]))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// `%name%` replaced by each of its values, in every combination; `\%` is a
/// plain percent sign. An unknown placeholder rejects the rule.
fn expand_placeholders(
    raw: &str,
    values_of: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Result<Vec<String>, RuleError> {
    let mut results = vec![String::new()];
    let mut rest = raw;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\\%") {
            results.iter_mut().for_each(|r| r.push('%'));
            rest = after;
        } else if let Some(after) = rest.strip_prefix('%') {
            let Some(end) = after.find('%') else {
                results.iter_mut().for_each(|r| r.push('%'));
                rest = after;
                continue;
            };
            let name = &after[..end];
            let values = values_of(name).ok_or_else(|| RuleError::Placeholder(name.to_string()))?;
            if results.len().saturating_mul(values.len()) > 4096 {
                return Err(RuleError::Modifier(
                    "placeholders expand to over 4096 values".into(),
                ));
            }
            results = results
                .iter()
                .flat_map(|r| values.iter().map(move |v| format!("{r}{v}")))
                .collect();
            rest = &after[end + 1..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            results.iter_mut().for_each(|r| r.push(c));
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_matches_pysigma() {
        // pySigma's documented example: "/bin/bash" at the three offsets.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn refused_combinations() {
        assert!(Modifiers::parse(&["re", "contains"]).is_err());
        assert!(Modifiers::parse(&["contains", "startswith"]).is_err());
        assert!(Modifiers::parse(&["i"]).is_err());
        assert!(Modifiers::parse(&["wide", "contains"]).is_err());
        assert!(Modifiers::parse(&["nonsense"]).is_err());
        assert!(Modifiers::parse(&["wide", "base64offset", "contains"]).is_ok());
        assert!(Modifiers::parse(&["re", "i", "m", "s"]).is_ok());
    }

    #[test]
    fn placeholders_expand_in_every_combination() {
        let values = |name: &str| match name {
            "a" => Some(vec!["1".to_string(), "2".to_string()]),
            "b" => Some(vec!["x".to_string()]),
            _ => None,
        };
        assert_eq!(
            expand_placeholders("%a%-%b%", &values).unwrap(),
            ["1-x", "2-x"]
        );
        assert_eq!(expand_placeholders(r"\%a%", &values).unwrap(), ["%a%"]);
        assert!(expand_placeholders("%zzz%", &values).is_err());
    }
}
