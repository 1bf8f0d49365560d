//! TraceLogging: events that describe themselves. The schema (extended item 11)
//! names each field with its in-type (how it is stored) and out-type (how to
//! show it); the payload holds the values in order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::value::{Decoded, Value};
use crate::bytes::{array_at, u16_at, utf8z_at};
use crate::guid::Guid;

// In-types (low 5 bits of the in-type byte).
const IN_UNICODESTRING: u8 = 1;
const IN_ANSISTRING: u8 = 2;
const IN_INT8: u8 = 3;
const IN_UINT8: u8 = 4;
const IN_INT16: u8 = 5;
const IN_UINT16: u8 = 6;
const IN_INT32: u8 = 7;
const IN_UINT32: u8 = 8;
const IN_INT64: u8 = 9;
const IN_UINT64: u8 = 10;
const IN_FLOAT: u8 = 11;
const IN_DOUBLE: u8 = 12;
const IN_BOOL32: u8 = 13;
const IN_BINARY: u8 = 14;
const IN_GUID: u8 = 15;
const IN_POINTER: u8 = 16;
const IN_FILETIME: u8 = 17;
const IN_SYSTEMTIME: u8 = 18;
const IN_SID: u8 = 19;
const IN_HEXINT32: u8 = 20;
const IN_HEXINT64: u8 = 21;
const IN_COUNTEDSTRING: u8 = 22;
const IN_COUNTEDANSISTRING: u8 = 23;
const IN_STRUCT: u8 = 24;
const IN_COUNTEDBINARY: u8 = 25;

// In-type flags.
const IN_CHAIN: u8 = 0x80;
const IN_COUNT_MASK: u8 = 0x60;
const IN_CCOUNT: u8 = 0x20;
const IN_VCOUNT: u8 = 0x40;
const IN_CUSTOM: u8 = 0x60;

// Out-types that change the value's type.
const OUT_STRING: u8 = 2;
const OUT_BOOLEAN: u8 = 3;
const OUT_PORT: u8 = 7;
const OUT_IPV4: u8 = 8;
const OUT_IPV6: u8 = 9;
const OUT_UTF8: u8 = 35;
const OUT_CHAIN: u8 = 0x80;

/// No real event has more: a larger count in a corrupt payload must not allocate.
const MAX_ITEMS: usize = 1 << 16;
/// Structs nest; corrupt schemas must not recurse without bound.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub in_type: u8,
    pub out_type: u8,
    pub count: Count,
    /// Members, for structs.
    pub members: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    One,
    Fixed(u16),
    /// A u16 count in the payload before the values.
    Variable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub event_name: String,
    pub fields: Vec<Field>,
}

/// Parses the schema item. `None` if it is malformed.
pub fn parse_schema(item: &[u8]) -> Option<Schema> {
    let size = (u16_at(item, 0)? as usize).min(item.len());
    let item = &item[..size];
    let mut at = 2;
    while *item.get(at)? & 0x80 != 0 {
        at += 1; // event tag bytes
    }
    at += 1;
    let (event_name, next) = utf8z_at(item, at)?;
    let mut flat = Vec::new();
    let mut at = next;
    while at < item.len() {
        let (name, next) = utf8z_at(item, at)?;
        at = next;
        let in_byte = *item.get(at)?;
        at += 1;
        let mut out_type = 0;
        if in_byte & IN_CHAIN != 0 {
            let out_byte = *item.get(at)?;
            at += 1;
            out_type = out_byte & 0x7F;
            if out_byte & OUT_CHAIN != 0 {
                // Field tag: up to 4 bytes, 0x80 meaning another follows.
                while *item.get(at)? & 0x80 != 0 {
                    at += 1;
                }
                at += 1;
            }
        }
        let count = match in_byte & IN_COUNT_MASK {
            IN_CCOUNT => {
                let c = u16_at(item, at)?;
                at += 2;
                Count::Fixed(c)
            }
            IN_VCOUNT => Count::Variable,
            IN_CUSTOM => return None, // custom-serialised fields cannot be decoded generically
            _ => Count::One,
        };
        flat.push(Field {
            name,
            in_type: in_byte & 0x1F,
            out_type,
            count,
            members: Vec::new(),
        });
    }
    let mut iter = flat.into_iter();
    let fields = nest(&mut iter, usize::MAX, 0)?;
    Some(Schema { event_name, fields })
}

/// Folds struct members (the next `out_type` fields) under their struct.
fn nest(iter: &mut impl Iterator<Item = Field>, limit: usize, depth: usize) -> Option<Vec<Field>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(mut field) = iter.next() else { break };
        if field.in_type == IN_STRUCT {
            let n = field.out_type as usize;
            field.members = nest(iter, n, depth + 1)?;
            if field.members.len() != n {
                return None;
            }
        }
        out.push(field);
    }
    Some(out)
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    pointer_size: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.data.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        let a = array_at(self.data, self.at)?;
        self.at += N;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        self.arr().map(u16::from_le_bytes)
    }
}

/// Decodes `payload` with `schema`. Fields after the first that does not fit are
/// left out and the result is marked incomplete.
pub fn decode(schema: &Schema, payload: &[u8], pointer_size: usize) -> Decoded {
    let mut r = Reader {
        data: payload,
        at: 0,
        pointer_size,
    };
    let mut properties = Vec::with_capacity(schema.fields.len());
    let mut complete = true;
    for field in &schema.fields {
        match read_field(&mut r, field, 0) {
            Some(v) => properties.push((field.name.clone(), v)),
            None => {
                complete = false;
                break;
            }
        }
    }
    Decoded {
        name: Some(schema.event_name.clone()),
        properties,
        complete: complete && r.at == payload.len(),
    }
}

fn read_field(r: &mut Reader<'_>, f: &Field, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let count = match f.count {
        Count::One => return read_one(r, f, depth),
        Count::Fixed(n) => n as usize,
        Count::Variable => r.u16()? as usize,
    };
    if count > MAX_ITEMS {
        return None;
    }
    // Byte and char arrays are one value: a string when shown as one, else bytes.
    match (f.in_type, f.out_type) {
        (IN_UINT8 | IN_INT8, OUT_STRING | OUT_UTF8) => {
            let bytes = r.take(count)?;
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            return Some(Value::Str(eight_bit(&bytes[..end], f.out_type)));
        }
        (IN_UINT8, 0) => return Some(Value::Bytes(r.take(count)?.to_vec())),
        (IN_UINT16, OUT_STRING) => {
            let bytes = r.take(count.checked_mul(2)?)?;
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            return Some(Value::Str(String::from_utf16_lossy(&units)));
        }
        _ => {}
    }
    let mut items = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        items.push(read_one(r, f, depth)?);
    }
    Some(Value::List(items))
}

fn read_one(r: &mut Reader<'_>, f: &Field, depth: usize) -> Option<Value> {
    Some(match f.in_type {
        IN_UNICODESTRING => {
            let rest = r.data.get(r.at..)?;
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            let consumed = units.len() * 2 + 2;
            r.take(consumed.min(rest.len() - rest.len() % 2))?;
            Value::Str(String::from_utf16_lossy(&units))
        }
        IN_ANSISTRING => {
            let rest = r.data.get(r.at..)?;
            let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let bytes = r.take(len)?.to_vec();
            r.take(usize::from(len < rest.len()))?;
            Value::Str(eight_bit(&bytes, f.out_type))
        }
        IN_INT8 => Value::I64(i8::from_le_bytes(r.arr()?) as i64),
        IN_UINT8 => {
            let [b] = r.arr()?;
            match f.out_type {
                OUT_BOOLEAN => Value::Bool(b != 0),
                OUT_STRING => Value::Str((b as char).to_string()),
                _ => Value::U64(b as u64),
            }
        }
        IN_INT16 => Value::I64(i16::from_le_bytes(r.arr()?) as i64),
        IN_UINT16 => {
            let raw = r.arr::<2>()?;
            match f.out_type {
                OUT_PORT => Value::U64(u16::from_be_bytes(raw) as u64),
                OUT_STRING => Value::Str(String::from_utf16_lossy(&[u16::from_le_bytes(raw)])),
                _ => Value::U64(u16::from_le_bytes(raw) as u64),
            }
        }
        IN_INT32 => Value::I64(i32::from_le_bytes(r.arr()?) as i64),
        IN_UINT32 | IN_HEXINT32 => {
            let raw = r.arr::<4>()?;
            match f.out_type {
                OUT_IPV4 => Value::Ip(IpAddr::V4(Ipv4Addr::from(raw))),
                OUT_BOOLEAN => Value::Bool(u32::from_le_bytes(raw) != 0),
                _ => Value::U64(u32::from_le_bytes(raw) as u64),
            }
        }
        IN_INT64 => Value::I64(i64::from_le_bytes(r.arr()?)),
        IN_UINT64 | IN_HEXINT64 => Value::U64(u64::from_le_bytes(r.arr()?)),
        IN_FLOAT => Value::F64(f32::from_le_bytes(r.arr()?) as f64),
        IN_DOUBLE => Value::F64(f64::from_le_bytes(r.arr()?)),
        IN_BOOL32 => Value::Bool(u32::from_le_bytes(r.arr()?) != 0),
        IN_BINARY | IN_COUNTEDBINARY => {
            let n = r.u16()? as usize;
            let bytes = r.take(n)?;
            match (f.out_type, bytes.len()) {
                (OUT_IPV6, 16) => {
                    let a: [u8; 16] = bytes.try_into().ok()?;
                    Value::Ip(IpAddr::V6(Ipv6Addr::from(a)))
                }
                _ => Value::Bytes(bytes.to_vec()),
            }
        }
        IN_GUID => Value::Guid(Guid(r.arr()?)),
        IN_POINTER => match r.pointer_size {
            4 => Value::U64(u32::from_le_bytes(r.arr()?) as u64),
            _ => Value::U64(u64::from_le_bytes(r.arr()?)),
        },
        IN_FILETIME => Value::FileTime(i64::from_le_bytes(r.arr()?)),
        IN_SYSTEMTIME => {
            let raw: [u8; 16] = r.arr()?;
            let mut t = [0u16; 8];
            for (i, v) in t.iter_mut().enumerate() {
                *v = u16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]);
            }
            Value::SystemTime(t)
        }
        IN_SID => {
            let sub = *r.data.get(r.at + 1)? as usize;
            let bytes = r.take(8 + 4 * sub)?;
            Value::Sid(crate::etl::extended::sid_to_string(bytes)?)
        }
        IN_COUNTEDSTRING => {
            let n = r.u16()? as usize;
            let bytes = r.take(n)?;
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            Value::Str(String::from_utf16_lossy(&units))
        }
        IN_COUNTEDANSISTRING => {
            let n = r.u16()? as usize;
            Value::Str(eight_bit(r.take(n)?, f.out_type))
        }
        IN_STRUCT => {
            let mut members = Vec::with_capacity(f.members.len());
            for m in &f.members {
                members.push((m.name.clone(), read_field(r, m, depth + 1)?));
            }
            Value::Struct(members)
        }
        _ => return None, // unknown in-type: stop rather than guess sizes
    })
}

/// 8-bit strings: UTF-8 when the out-type says so (or it is valid UTF-8), else Latin-1.
fn eight_bit(bytes: &[u8], out_type: u8) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) if out_type == OUT_UTF8 => String::from_utf8_lossy(bytes).into_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A schema item: size, one tag byte, the event name, then (name, type bytes) per field.
    fn schema(event: &str, fields: &[(&str, &[u8])]) -> Vec<u8> {
        let mut v = vec![0, 0, 0];
        v.extend_from_slice(event.as_bytes());
        v.push(0);
        for (name, types) in fields {
            v.extend_from_slice(name.as_bytes());
            v.push(0);
            v.extend_from_slice(types);
        }
        let n = v.len() as u16;
        v[..2].copy_from_slice(&n.to_le_bytes());
        v
    }

    #[test]
    fn arrays_structs_and_out_types() {
        let item = schema(
            "E",
            &[
                ("n", &[IN_UINT32]),
                ("ip", &[IN_UINT32 | IN_CHAIN, OUT_IPV4]),
                ("port", &[IN_UINT16 | IN_CHAIN, OUT_PORT]),
                ("v", &[IN_INT16 | IN_VCOUNT]),
                (
                    "fixed",
                    &[IN_UINT8 | IN_CCOUNT | IN_CHAIN, OUT_BOOLEAN, 2, 0],
                ),
                ("s", &[IN_STRUCT | IN_CHAIN, 2]),
                ("a", &[IN_UNICODESTRING]),
                ("b", &[IN_BOOL32]),
            ],
        );
        let s = parse_schema(&item).unwrap();
        assert_eq!(s.fields.len(), 6);
        assert_eq!(s.fields[5].members.len(), 2);
        let mut p = Vec::new();
        p.extend_from_slice(&7u32.to_le_bytes());
        p.extend_from_slice(&[10, 0, 0, 1]);
        p.extend_from_slice(&443u16.to_be_bytes());
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&(-1i16).to_le_bytes());
        p.extend_from_slice(&5i16.to_le_bytes());
        p.extend_from_slice(&[1, 0]);
        p.extend_from_slice(&[b'h', 0, b'i', 0, 0, 0]);
        p.extend_from_slice(&1u32.to_le_bytes());
        let d = decode(&s, &p, 8);
        assert!(d.complete);
        assert_eq!(d.name.as_deref(), Some("E"));
        let get = |k: &str| {
            d.properties
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("n"), Some(Value::U64(7)));
        assert_eq!(get("ip"), Some(Value::Ip("10.0.0.1".parse().unwrap())));
        assert_eq!(get("port"), Some(Value::U64(443)));
        assert_eq!(
            get("v"),
            Some(Value::List(vec![Value::I64(-1), Value::I64(5)]))
        );
        assert_eq!(
            get("fixed"),
            Some(Value::List(vec![Value::Bool(true), Value::Bool(false)]))
        );
        assert_eq!(
            get("s"),
            Some(Value::Struct(vec![
                ("a".into(), Value::Str("hi".into())),
                ("b".into(), Value::Bool(true))
            ]))
        );
    }

    #[test]
    fn short_payloads_are_incomplete_and_bad_schemas_refused() {
        let s = parse_schema(&schema("E", &[("a", &[IN_UINT32]), ("b", &[IN_UINT64])])).unwrap();
        let d = decode(&s, &[1, 0, 0, 0, 2, 0], 8);
        assert!(!d.complete);
        assert_eq!(d.properties, vec![("a".into(), Value::U64(1))]);
        assert!(
            !decode(&s, &[0; 13], 8).complete,
            "trailing bytes are not accounted for"
        );
        // A struct claiming more members than follow.
        assert!(parse_schema(&schema("E", &[("s", &[IN_STRUCT | IN_CHAIN, 5])])).is_none());
        assert!(parse_schema(&[9, 0, 0x80, 0x80]).is_none());
    }

    #[test]
    fn random_schemas_and_payloads_never_panic() {
        // A small xorshift generator: deterministic, no extra dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut item: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 2 {
                item[0] = len as u8;
                item[1] = 0;
            }
            let payload: Vec<u8> = (0..(next() % 96)).map(|_| next() as u8).collect();
            if let Some(s) = parse_schema(&item) {
                let d = decode(&s, &payload, 8);
                assert!(d.properties.len() <= s.fields.len());
            }
        }
    }
}
