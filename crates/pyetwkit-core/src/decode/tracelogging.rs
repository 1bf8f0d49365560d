//! TraceLogging: events that carry their own schema (extended data item 11).
//! The schema item is parsed into the shared `EventSchema`, which the shared
//! payload decoder then reads; TraceLogging's type codes map onto TDH's.

use crate::bytes::{u16_at, utf8z_at};
use crate::schema::{in_type, out_type, Amount, EventSchema, Kind, Property};

// TraceLogging in-type byte: the type in the low 5 bits, then count flags, then
// a chain bit saying an out-type byte follows.
const IN_BINARY: u8 = 14;
const IN_STRUCT: u8 = 24;
const IN_CHAIN: u8 = 0x80;
const IN_COUNT_MASK: u8 = 0x60;
const IN_CCOUNT: u8 = 0x20;
const IN_VCOUNT: u8 = 0x40;
const IN_CUSTOM: u8 = 0x60;
const OUT_CHAIN: u8 = 0x80;

/// Structs nest; corrupt schemas must not recurse without bound.
const MAX_DEPTH: usize = super::payload::MAX_DEPTH;

/// TraceLogging out-types as TDH out-types (TDH converts them the same way).
fn tdh_out_type(tl: u8) -> u16 {
    match tl {
        2 => out_type::STRING,
        3 => out_type::BOOLEAN,
        4 => out_type::HEXBINARY,
        5 => 20, // PID
        6 => 21, // TID
        7 => out_type::PORT,
        8 => out_type::IPV4,
        9 => out_type::IPV6,
        10 => out_type::SOCKETADDRESS,
        11 => 28, // XML
        12 => 34, // JSON
        13 => 30, // WIN32ERROR
        14 => 31, // NTSTATUS
        15 => 32, // HRESULT
        16 => out_type::DATETIME,
        35..=38 => tl as u16,
        _ => 0,
    }
}

/// One field as the item lists it, before struct members are folded in.
struct FlatField {
    name: String,
    in_type: u8,
    out_type: u8,
    count: Amount,
}

/// Parses the schema item. `None` if it is malformed.
pub fn parse_schema(item: &[u8]) -> Option<EventSchema> {
    let item = declared(item)?;
    let (event_name, next) = name_and_end(item)?;
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
                Amount::Fixed(c)
            }
            IN_VCOUNT => Amount::Prefixed,
            IN_CUSTOM => return None, // custom-serialised fields cannot be decoded generically
            _ => Amount::Natural,
        };
        flat.push(FlatField {
            name,
            in_type: in_byte & 0x1F,
            out_type,
            count,
        });
    }
    let mut iter = flat.into_iter();
    let properties = nest(&mut iter, usize::MAX, 0)?;
    EventSchema {
        provider_name: None,
        event_name: Some(event_name.into()),
        properties,
        trailing_allowed: false,
        flat_len: 0,
    }
    .numbered()
}

/// The event's name, without parsing its fields; `None` when empty.
pub fn event_name(item: &[u8]) -> Option<String> {
    let (name, _) = name_and_end(declared(item)?)?;
    (!name.is_empty()).then_some(name)
}

/// The item cut to the size its first two bytes declare.
fn declared(item: &[u8]) -> Option<&[u8]> {
    let size = (u16_at(item, 0)? as usize).min(item.len());
    Some(&item[..size])
}

/// The event name after the size and the tag bytes, and where the fields start.
fn name_and_end(item: &[u8]) -> Option<(String, usize)> {
    let mut at = 2;
    while *item.get(at)? & 0x80 != 0 {
        at += 1; // event tag bytes
    }
    utf8z_at(item, at + 1)
}

/// Folds struct members (the next `out_type` fields) under their struct.
fn nest(
    iter: &mut impl Iterator<Item = FlatField>,
    limit: usize,
    depth: usize,
) -> Option<Vec<Property>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(field) = iter.next() else { break };
        let kind = if field.in_type == IN_STRUCT {
            let n = field.out_type as usize;
            let members = nest(iter, n, depth + 1)?;
            if members.len() != n {
                return None;
            }
            Kind::Struct(members)
        } else {
            // TraceLogging's binary carries its own u16 length: TDH's counted binary.
            let in_type = match field.in_type {
                IN_BINARY => in_type::COUNTEDBINARY,
                t => t as u16,
            };
            Kind::Scalar {
                in_type,
                out_type: tdh_out_type(field.out_type),
                map: None,
            }
        };
        out.push(Property {
            name: field.name.into(),
            kind,
            count: field.count,
            length: Amount::Natural,
            index: 0,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::payload::decode;
    use crate::value::Value;

    const IN_UNICODESTRING: u8 = 1;
    const IN_UINT8: u8 = 4;
    const IN_INT16: u8 = 5;
    const IN_UINT16: u8 = 6;
    const IN_UINT32: u8 = 8;
    const IN_UINT64: u8 = 10;
    const IN_BOOL32: u8 = 13;
    const OUT_BOOLEAN: u8 = 3;
    const OUT_PORT: u8 = 7;
    const OUT_IPV4: u8 = 8;

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
        assert_eq!(s.properties.len(), 6);
        assert!(matches!(&s.properties[5].kind, Kind::Struct(m) if m.len() == 2));
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
                assert!(d.properties.len() <= s.properties.len());
            }
        }
    }
}
