//! How the engine reads an event: through a trait over borrowed fields, so a
//! caller's event (a Python dict, an ETW event, a JSON object) is never copied
//! into a map of its own.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One field's value, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Str(&'a str),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    /// Present, with no value (JSON `null`, Python `None`).
    Null,
}

impl<'a> FieldValue<'a> {
    /// The text a string test compares with: integers in decimal, booleans as
    /// `true`/`false`, floats as Python writes them. `None` for null.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        Some(match *self {
            FieldValue::Str(s) => Cow::Borrowed(s),
            FieldValue::Int(i) => Cow::Owned(i.to_string()),
            FieldValue::UInt(u) => Cow::Owned(u.to_string()),
            FieldValue::Float(f) => Cow::Owned(float_text(f)),
            FieldValue::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            FieldValue::Null => return None,
        })
    }

    /// The value as a number, for numeric equality and `lt`/`gt`: numbers as
    /// they are, and strings that are written as a decimal number.
    pub fn number(&self) -> Option<f64> {
        match *self {
            FieldValue::Int(i) => Some(i as f64),
            FieldValue::UInt(u) => Some(u as f64),
            FieldValue::Float(f) => Some(f),
            FieldValue::Str(s) => parse_decimal(s),
            FieldValue::Bool(_) | FieldValue::Null => None,
        }
    }

    /// The value as JSON (a non-finite float as null).
    pub fn to_json(self) -> serde_json::Value {
        match self {
            FieldValue::Str(s) => serde_json::Value::String(s.to_string()),
            FieldValue::Int(i) => i.into(),
            FieldValue::UInt(u) => u.into(),
            FieldValue::Float(f) => {
                serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
            }
            FieldValue::Bool(b) => b.into(),
            FieldValue::Null => serde_json::Value::Null,
        }
    }

    /// A number that is a number in the event (not a string that reads as one).
    pub fn native_number(&self) -> Option<f64> {
        match self {
            FieldValue::Str(_) => None,
            _ => self.number(),
        }
    }
}

/// A float as Python's `repr` writes it for ordinary magnitudes (`2.0`, `0.25`),
/// so that an event's text does not depend on the language that built it.
pub fn float_text(f: f64) -> String {
    let mut s = String::new();
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
        let _ = write!(s, "{f:.1}");
    } else if f.is_nan() {
        s.push_str("nan");
    } else if f.is_infinite() {
        s.push_str(if f > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(s, "{f}");
    }
    s
}

/// A string written as a decimal number: `[+-]?\d+`, or a decimal fraction
/// with an optional exponent. Hex, `inf` and padding are not numbers here.
pub fn parse_decimal(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    s.parse().ok()
}

/// An event as the engine sees it: a flat set of named fields.
pub trait Fields {
    /// The field `name`, exactly as spelled (Sigma field names are case-sensitive).
    fn get(&self, name: &str) -> Option<FieldValue<'_>>;
    /// Every field, with its name: how an event is read (once, up front),
    /// and what keyword searches look through.
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>));
}

impl<F: Fields + ?Sized> Fields for &F {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        (**self).get(name)
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>)) {
        (**self).for_each_field(f)
    }
}

impl Fields for serde_json::Map<String, serde_json::Value> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        self.get(name).map(json_value)
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>)) {
        for (k, v) in self {
            f(k, json_value(v));
        }
    }
}

impl<S: AsRef<str>> Fields for [(S, FieldValue<'_>)] {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| *v)
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>)) {
        for (k, v) in self {
            f(k.as_ref(), *v);
        }
    }
}

impl<S: AsRef<str>> Fields for Vec<(S, FieldValue<'_>)> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        Fields::get(self.as_slice(), name)
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>)) {
        self.as_slice().for_each_field(f)
    }
}

/// An event owned as a flat list sorted by field name (looked up by binary
/// search): a compact form for events built ahead, as benchmarks and tests do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlatEvent {
    fields: Vec<(String, serde_json::Value)>,
}

impl FlatEvent {
    pub fn new(mut fields: Vec<(String, serde_json::Value)>) -> FlatEvent {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|a, b| a.0 == b.0);
        FlatEvent { fields }
    }
}

impl FlatEvent {
    /// A copy of `fields`, owned.
    pub fn of(fields: &dyn Fields) -> FlatEvent {
        let mut owned = Vec::new();
        fields.for_each_field(&mut |name, value| owned.push((name.to_string(), value.to_json())));
        FlatEvent::new(owned)
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for FlatEvent {
    fn from(map: serde_json::Map<String, serde_json::Value>) -> FlatEvent {
        FlatEvent::new(map.into_iter().collect())
    }
}

impl Fields for FlatEvent {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        let i = self
            .fields
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()?;
        Some(json_value(&self.fields[i].1))
    }
    fn for_each_field(&self, f: &mut dyn FnMut(&str, FieldValue<'_>)) {
        for (k, v) in &self.fields {
            f(k, json_value(v));
        }
    }
}

/// A JSON value as a field: nested objects and arrays, which Sigma has no
/// fields for, read as null.
pub fn json_value(v: &serde_json::Value) -> FieldValue<'_> {
    use serde_json::Value;
    match v {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => FieldValue::Int(i),
            (None, Some(u)) => FieldValue::UInt(u),
            _ => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => FieldValue::Str(s),
        // Sigma has no nested fields; such values are rare and never matched.
        Value::Array(_) | Value::Object(_) => FieldValue::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_numbers_and_not() {
        for (s, want) in [
            ("5985", Some(5985.0)),
            ("-2", Some(-2.0)),
            ("1.5", Some(1.5)),
            (".5", Some(0.5)),
            ("2.", Some(2.0)),
            ("1e3", Some(1000.0)),
        ] {
            assert_eq!(parse_decimal(s), want, "{s}");
        }
        for s in [
            "", "0x10", "inf", "nan", " 1", "1 ", "1_0", ".", "e5", "1e", "+",
        ] {
            assert_eq!(parse_decimal(s), None, "{s}");
        }
    }

    #[test]
    fn floats_are_written_as_python_does() {
        assert_eq!(float_text(2.0), "2.0");
        assert_eq!(float_text(0.25), "0.25");
        assert_eq!(float_text(-3.0), "-3.0");
    }
}
