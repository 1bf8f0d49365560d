//! Decoded property values: typed, whatever the decoder (TraceLogging, kernel
//! MOF, manifest) they came from.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use serde_json::{json, Map};

use crate::guid::Guid;
use crate::time::filetime_to_iso8601;

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
    /// JSON form: numbers, strings (GUIDs, IPs, SIDs, ISO 8601 times), hex for bytes.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => json!(b),
            Value::I64(v) => json!(v),
            Value::U64(v) => json!(v),
            Value::F64(v) => json!(v),
            Value::Str(s) | Value::Sid(s) => json!(s),
            Value::Guid(g) => json!(g.to_string()),
            Value::Bytes(b) => json!(crate::bytes::hex(b)),
            Value::Ip(ip) => json!(ip.to_string()),
            Value::FileTime(ft) => json!(filetime_to_iso8601(*ft)),
            Value::SystemTime(t) => json!(systemtime_iso(t)),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Struct(fields) => {
                let mut m = Map::new();
                for (k, v) in fields {
                    m.insert(k.to_string(), v.to_json());
                }
                serde_json::Value::Object(m)
            }
        }
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
