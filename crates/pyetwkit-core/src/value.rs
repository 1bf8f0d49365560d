//! Decoded property values: typed, whatever the decoder (TraceLogging, kernel
//! MOF, manifest) they came from.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use crate::guid::Guid;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Guid(Guid),
    Bytes(Vec<u8>),
    Ip(IpAddr),
    /// FILETIME ticks (100 ns since 1601, UTC).
    FileTime(i64),
    /// SYSTEMTIME: year, month, day of week, day, hour, minute, second, milliseconds.
    SystemTime([u16; 8]),
    Sid(String),
    List(Vec<Value>),
    Struct(Vec<(Name, Value)>),
}

/// A property or event name: static for kernel layouts, shared with its schema
/// otherwise, so that decoding an event allocates no names.
#[derive(Debug, Clone, Eq)]
pub enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        **self == **other
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Name {
        Name::Static(s)
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Name {
        Name::Shared(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name::Shared(s.into())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl Value {
    /// JSON form: numbers, strings (GUIDs, IPs, SIDs, ISO 8601 times), hex for
    /// bytes; the `Serialize` impl below, as a `serde_json::Value`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// The JSON form, written straight to a serializer (no intermediate
/// `serde_json::Value`): the one definition behind `to_json` and the Arrow
/// `properties` column.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I64(v) => s.serialize_i64(*v),
            Value::U64(v) => s.serialize_u64(*v),
            Value::F64(v) => s.serialize_f64(*v),
            Value::Str(text) | Value::Sid(text) => s.serialize_str(text),
            Value::Guid(g) => s.collect_str(g),
            Value::Bytes(b) => s.serialize_str(&crate::bytes::hex(b)),
            Value::Ip(ip) => s.collect_str(ip),
            Value::FileTime(ft) => {
                let mut buf = crate::time::IsoBuf::default();
                s.serialize_str(crate::time::write_iso8601(*ft, &mut buf))
            }
            Value::SystemTime(t) => s.serialize_str(&systemtime_iso(t)),
            Value::List(items) => s.collect_seq(items),
            Value::Struct(fields) => serde::Serialize::serialize(&Properties(fields), s),
        }
    }
}

/// Named values (an event's properties, a struct's fields) as a JSON object,
/// in order.
pub struct Properties<'a>(pub &'a [(Name, Value)]);

impl serde::Serialize for Properties<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (&**k, v)))
    }
}

/// ISO 8601 of a SYSTEMTIME (no time zone: SYSTEMTIME values may be local).
pub fn systemtime_iso(t: &[u16; 8]) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        t[0], t[1], t[3], t[4], t[5], t[6], t[7]
    )
}

/// What a decoder made of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub name: Option<Name>,
    pub properties: Vec<(Name, Value)>,
    /// False when the payload ended early or did not fit the layout, or when
    /// bytes were left over that the layout does not allow for: the
    /// properties are then what could be read safely.
    pub complete: bool,
    /// Payload bytes after the last property decoded.
    pub trailing: usize,
}
