//! Test support: payloads built field by field, with the properties a decoder
//! must read from them.

use super::value::{Name, Value};
use crate::guid::Guid;

/// A payload laid out field by field, with the properties it must decode to.
pub(crate) struct Payload {
    /// The pointer size it is laid out for.
    pub p: usize,
    pub bytes: Vec<u8>,
    pub want: Vec<(Name, Value)>,
}

impl Payload {
    pub fn new(p: usize) -> Payload {
        Payload {
            p,
            bytes: Vec::new(),
            want: Vec::new(),
        }
    }

    pub fn field(mut self, name: &str, bytes: &[u8], value: Value) -> Payload {
        self.bytes.extend_from_slice(bytes);
        self.want.push((Name::from(name.to_string()), value));
        self
    }

    pub fn u16(self, name: &str, v: u16) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::U64(v.into()))
    }

    pub fn u32(self, name: &str, v: u32) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::U64(v.into()))
    }

    pub fn u64(self, name: &str, v: u64) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::U64(v))
    }

    pub fn i64(self, name: &str, v: i64) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::I64(v))
    }

    /// A pointer: on 64-bit its high half is set, so a misplaced field shows.
    pub fn ptr(self, name: &str, low: u32) -> Payload {
        let v = if self.p == 8 {
            0xFFFF_F800_0000_0000 | u64::from(low)
        } else {
            u64::from(low)
        };
        let p = self.p;
        self.field(name, &v.to_le_bytes()[..p], Value::U64(v))
    }

    pub fn guid(self, name: &str, g: Guid) -> Payload {
        self.field(name, &g.0, Value::Guid(g))
    }

    pub fn utf8z(self, name: &str, text: &str) -> Payload {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.field(name, &bytes, Value::Str(text.to_string()))
    }

    pub fn utf16z(self, name: &str, text: &str) -> Payload {
        let bytes: Vec<u8> = text
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        self.field(name, &bytes, Value::Str(text.to_string()))
    }
}
