//! Decodes a payload with an `EventSchema`: TDH's rules for sizes, counts and
//! lengths, bounds-checked everywhere. Reading stops at the first property that
//! does not fit; the result is then marked incomplete, as it is when bytes are
//! left over.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::{array_at, utf16_known, utf16_scan, utf16_text};
use crate::guid::Guid;
use crate::schema::{in_type as it, out_type as ot, Amount, EventSchema, Kind, Property};
use crate::value::{Decoded, Name, Value};

/// Most values one array may hold: counts come from the payload, which may be corrupt.
pub const MAX_ITEMS: usize = 1 << 16;
/// Structs nest; a schema must not make decoding recurse without bound.
pub const MAX_DEPTH: usize = 16;
/// The values one event may produce: `VALUES_PER_BYTE` per payload byte plus
/// `VALUES_FREE`. Counts multiply across nesting and an item may consume no
/// bytes (an empty struct or string), so without a bound on the whole event a
/// crafted schema over an empty payload asks for billions of values. Past the
/// bound, the event is partly decoded (`complete` false).
pub const VALUES_PER_BYTE: usize = 4;
pub const VALUES_FREE: usize = 4096;

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    pointer_size: usize,
    /// Integer values by flat property index, for counts and lengths.
    slots: Vec<Option<u64>>,
    /// Values this event may still produce (see `VALUES_PER_BYTE`).
    budget: usize,
}

impl Reader<'_> {
    /// Counts one value against the event's budget; `None` once it is spent.
    fn spend(&mut self) -> Option<()> {
        self.budget = self.budget.checked_sub(1)?;
        Some(())
    }
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
    fn rest(&self) -> &[u8] {
        self.data.get(self.at..).unwrap_or(&[])
    }
    fn amount(&mut self, amount: Amount) -> Option<Option<usize>> {
        let n = match amount {
            Amount::Natural => return Some(None),
            Amount::Fixed(n) => n as usize,
            Amount::Property(i) => usize::try_from((*self.slots.get(i as usize)?)?).ok()?,
            Amount::Prefixed => self.u16()? as usize,
        };
        Some(Some(n))
    }
}

/// Decodes `payload` with `schema`; `pointer_size` is the logging process's (4 or 8).
pub fn decode(schema: &EventSchema, payload: &[u8], pointer_size: usize) -> Decoded {
    let mut r = Reader {
        data: payload,
        at: 0,
        pointer_size,
        slots: vec![None; schema.flat_len],
        budget: payload
            .len()
            .saturating_mul(VALUES_PER_BYTE)
            .saturating_add(VALUES_FREE),
    };
    let mut properties = Vec::with_capacity(schema.properties.len());
    let mut complete = true;
    for p in &schema.properties {
        match read_property(&mut r, p, 0) {
            Some(v) => properties.push((Name::Shared(p.name.clone()), v)),
            None => {
                complete = false;
                break;
            }
        }
    }
    let trailing = payload.len() - r.at.min(payload.len());
    Decoded {
        name: schema.event_name.clone().map(Name::Shared),
        properties,
        complete: complete && (trailing == 0 || schema.trailing_allowed),
        trailing,
    }
}

fn read_property(r: &mut Reader<'_>, p: &Property, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    let Some(count) = r.amount(p.count)? else {
        let value = read_one(r, p, depth)?;
        if let (Some(slot), Some(n)) = (r.slots.get_mut(p.index as usize), integer_of(&value)) {
            *slot = Some(n);
        }
        return Some(value);
    };
    if count > MAX_ITEMS {
        return None;
    }
    // Byte and char arrays are one value: a string when shown as one, else bytes.
    if let Kind::Scalar {
        in_type, out_type, ..
    } = p.kind
    {
        match (in_type, out_type) {
            (it::UINT8 | it::INT8 | it::ANSICHAR, ot::STRING | ot::UTF8) | (it::ANSICHAR, _) => {
                r.spend()?;
                let bytes = r.take(count)?;
                return Some(Value::Str(eight_bit(until_nul(bytes), out_type)));
            }
            (it::UINT8, 0 | ot::HEXBINARY) => {
                r.spend()?;
                return Some(Value::Bytes(r.take(count)?.to_vec()));
            }
            (it::UINT16, ot::STRING) | (it::UNICODECHAR, _) => {
                r.spend()?;
                let bytes = r.take(count.checked_mul(2)?)?;
                return Some(Value::Str(utf16(bytes, true)));
            }
            _ => {}
        }
    }
    let mut items = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        items.push(read_one(r, p, depth)?);
    }
    Some(Value::List(items))
}

fn integer_of(v: &Value) -> Option<u64> {
    match v {
        Value::U64(n) => Some(*n),
        Value::I64(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn read_one(r: &mut Reader<'_>, p: &Property, depth: usize) -> Option<Value> {
    r.spend()?;
    let (in_type, out_type, map) = match &p.kind {
        Kind::Struct(members) => {
            let mut fields = Vec::with_capacity(members.len());
            for m in members {
                fields.push((
                    Name::Shared(m.name.clone()),
                    read_property(r, m, depth + 1)?,
                ));
            }
            return Some(Value::Struct(fields));
        }
        Kind::Scalar {
            in_type,
            out_type,
            map,
        } => (*in_type, *out_type, map),
    };
    let length = r.amount(p.length)?;
    let value = read_scalar(r, in_type, out_type, length)?;
    // A mapped integer shows as its name; a value the map does not name stays a number.
    if let (Some(map), Some(n)) = (map, integer_of(&value)) {
        if let Some(name) = map.lookup(n) {
            return Some(Value::Str(name));
        }
    }
    Some(value)
}

fn read_scalar(
    r: &mut Reader<'_>,
    in_type: u16,
    out_type: u16,
    length: Option<usize>,
) -> Option<Value> {
    Some(match in_type {
        it::UNICODESTRING | it::NONNULLTERMINATEDSTRING => match length {
            Some(chars) => Value::Str(utf16(r.take(chars.checked_mul(2)?)?, true)),
            None if in_type == it::NONNULLTERMINATEDSTRING => {
                let n = r.rest().len() & !1;
                Value::Str(utf16(r.take(n)?, false))
            }
            None => {
                // Nul-terminated; an unterminated string runs to the end, as in TDH.
                let rest = r.rest();
                if rest.len() == 1 {
                    return None; // one stray byte cannot be a UTF-16 string
                }
                let (text, consumed) = utf16z(rest);
                r.take(consumed)?;
                Value::Str(text)
            }
        },
        it::ANSISTRING | it::NONNULLTERMINATEDANSISTRING => match length {
            Some(n) => Value::Str(eight_bit(until_nul(r.take(n)?), out_type)),
            None if in_type == it::NONNULLTERMINATEDANSISTRING => {
                let n = r.rest().len();
                Value::Str(eight_bit(r.take(n)?, out_type))
            }
            None => {
                let rest = r.rest();
                let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                let text = eight_bit(&rest[..len], out_type);
                r.take((len + 1).min(rest.len()))?;
                Value::Str(text)
            }
        },
        it::INT8 => Value::I64(i8::from_le_bytes(r.arr()?) as i64),
        it::UINT8 => {
            let [b] = r.arr()?;
            match out_type {
                ot::BOOLEAN => Value::Bool(b != 0),
                ot::STRING => Value::Str((b as char).to_string()),
                _ => Value::U64(b as u64),
            }
        }
        it::ANSICHAR => Value::Str((r.arr::<1>()?[0] as char).to_string()),
        it::INT16 => Value::I64(i16::from_le_bytes(r.arr()?) as i64),
        it::UINT16 => {
            let raw = r.arr::<2>()?;
            match out_type {
                ot::PORT => Value::U64(u16::from_be_bytes(raw) as u64),
                ot::STRING => Value::Str(String::from_utf16_lossy(&[u16::from_le_bytes(raw)])),
                _ => Value::U64(u16::from_le_bytes(raw) as u64),
            }
        }
        it::UNICODECHAR => Value::Str(String::from_utf16_lossy(&[r.u16()?])),
        it::INT32 => Value::I64(i32::from_le_bytes(r.arr()?) as i64),
        it::UINT32 | it::HEXINT32 => {
            let raw = r.arr::<4>()?;
            match out_type {
                ot::IPV4 => Value::Ip(IpAddr::V4(Ipv4Addr::from(raw))),
                ot::BOOLEAN => Value::Bool(u32::from_le_bytes(raw) != 0),
                _ => Value::U64(u32::from_le_bytes(raw) as u64),
            }
        }
        it::INT64 => Value::I64(i64::from_le_bytes(r.arr()?)),
        it::UINT64 | it::HEXINT64 => Value::U64(u64::from_le_bytes(r.arr()?)),
        it::FLOAT => Value::F64(f32::from_le_bytes(r.arr()?) as f64),
        it::DOUBLE => Value::F64(f64::from_le_bytes(r.arr()?)),
        it::BOOLEAN => Value::Bool(u32::from_le_bytes(r.arr()?) != 0),
        it::BINARY => bytes_value(r.take(length?)?, out_type),
        it::COUNTEDBINARY => {
            let n = r.u16()? as usize;
            bytes_value(r.take(n)?, out_type)
        }
        it::HEXDUMP => {
            let n = u32::from_le_bytes(r.arr()?) as usize;
            Value::Bytes(r.take(n)?.to_vec())
        }
        it::GUID => Value::Guid(Guid(r.arr()?)),
        it::POINTER | it::SIZET => match r.pointer_size {
            4 => Value::U64(u32::from_le_bytes(r.arr()?) as u64),
            _ => Value::U64(u64::from_le_bytes(r.arr()?)),
        },
        it::FILETIME => Value::FileTime(i64::from_le_bytes(r.arr()?)),
        it::SYSTEMTIME => {
            let raw: [u8; 16] = r.arr()?;
            let mut t = [0u16; 8];
            for (i, v) in t.iter_mut().enumerate() {
                *v = u16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]);
            }
            Value::SystemTime(t)
        }
        it::SID => read_sid(r)?,
        it::WBEMSID => {
            // TOKEN_USER first, or a 4-byte zero when there is no token.
            if r.rest().get(..4)? == [0, 0, 0, 0] {
                r.take(4)?;
                Value::Null
            } else {
                r.take(2 * r.pointer_size)?;
                read_sid(r)?
            }
        }
        it::COUNTEDSTRING | it::TDH_COUNTEDSTRING => {
            let n = r.u16()? as usize;
            Value::Str(utf16(r.take(n)?, false))
        }
        it::REVERSEDCOUNTEDSTRING => {
            let n = u16::from_be_bytes(r.arr()?) as usize;
            Value::Str(utf16(r.take(n)?, false))
        }
        it::COUNTEDANSISTRING => {
            let n = r.u16()? as usize;
            Value::Str(eight_bit(r.take(n)?, out_type))
        }
        _ => return None, // an unknown in-type: stop rather than guess its size
    })
}

fn read_sid(r: &mut Reader<'_>) -> Option<Value> {
    let sub = *r.rest().get(1)? as usize;
    let bytes = r.take(8 + 4 * sub)?;
    Some(Value::Sid(crate::extended::sid_to_string(bytes)?))
}

fn bytes_value(bytes: &[u8], out_type: u16) -> Value {
    match (out_type, bytes.len()) {
        (ot::IPV6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            Value::Ip(IpAddr::V6(Ipv6Addr::from(a)))
        }
        (ot::SOCKETADDRESS, _) => match socket_address(bytes) {
            Some(text) => Value::Str(text),
            None => Value::Bytes(bytes.to_vec()),
        },
        _ => Value::Bytes(bytes.to_vec()),
    }
}

/// A SOCKADDR_IN or SOCKADDR_IN6 as `address:port` (`[v6]:port`), as Windows shows it.
fn socket_address(b: &[u8]) -> Option<String> {
    const AF_INET: u16 = 2;
    const AF_INET6: u16 = 23;
    let family = u16::from_le_bytes(array_at(b, 0)?);
    let port = u16::from_be_bytes(array_at(b, 2)?);
    match family {
        AF_INET => Some(format!("{}:{port}", Ipv4Addr::from(array_at::<4>(b, 4)?))),
        AF_INET6 => Some(format!(
            "[{}]:{port}",
            Ipv6Addr::from(array_at::<16>(b, 8)?)
        )),
        _ => None,
    }
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// UTF-16LE text; `stop_at_nul` ends it at the first nul (fixed-size fields pad with nuls).
fn utf16(bytes: &[u8], stop_at_nul: bool) -> String {
    match stop_at_nul {
        true => utf16z(bytes).0,
        false => utf16_text(bytes),
    }
}

/// UTF-16LE text up to a nul or the end, and the bytes it used (the nul included).
fn utf16z(bytes: &[u8]) -> (String, usize) {
    let (end, ascii) = utf16_scan(bytes);
    let used = (end + 2).min(bytes.len() & !1);
    (utf16_known(&bytes[..end], ascii), used)
}

/// 8-bit strings: UTF-8 when the out-type says so (or it is valid UTF-8), else Latin-1.
fn eight_bit(bytes: &[u8], out_type: u16) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) if out_type == ot::UTF8 => String::from_utf8_lossy(bytes).into_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ValueMap;
    use std::sync::Arc;

    fn schema(properties: Vec<Property>) -> EventSchema {
        EventSchema {
            event_name: Some("T/Start".into()),
            properties,
            ..Default::default()
        }
        .numbered()
        .unwrap()
    }

    #[test]
    fn counts_and_lengths_come_from_earlier_properties() {
        let mut name = Property::scalar("Name", it::UNICODESTRING, 0);
        name.length = Amount::Property(0);
        let mut ids = Property::scalar("Ids", it::UINT16, 0);
        ids.count = Amount::Property(2);
        let mut blob = Property::scalar("Blob", it::BINARY, 0);
        blob.length = Amount::Fixed(2);
        let s = schema(vec![
            Property::scalar("Len", it::UINT32, 0),
            name,
            Property::scalar("N", it::UINT8, 0),
            ids,
            blob,
        ]);
        let mut p = 2u32.to_le_bytes().to_vec();
        p.extend_from_slice(&[b'h', 0, b'i', 0]);
        p.push(2);
        p.extend_from_slice(&[7, 0, 9, 0, 0xAB, 0xCD]);
        let d = decode(&s, &p, 8);
        assert!(d.complete, "{d:?}");
        assert_eq!(d.properties[1].1, Value::Str("hi".into()));
        assert_eq!(
            d.properties[3].1,
            Value::List(vec![Value::U64(7), Value::U64(9)])
        );
        assert_eq!(d.properties[4].1, Value::Bytes(vec![0xAB, 0xCD]));
        assert!(!decode(&s, &p[..p.len() - 1], 8).complete);
    }

    #[test]
    fn maps_structs_and_sids() {
        let map = Arc::new(ValueMap::new("M".into(), false, vec![(3, "Three".into())]));
        let mut mapped = Property::scalar("State", it::UINT32, 0);
        mapped.kind = Kind::Scalar {
            in_type: it::UINT32,
            out_type: 0,
            map: Some(map),
        };
        let pair = Property {
            name: "Pair".into(),
            kind: Kind::Struct(vec![
                Property::scalar("A", it::UINT8, 0),
                Property::scalar("Ok", it::BOOLEAN, 0),
            ]),
            count: Amount::Fixed(2),
            length: Amount::Natural,
            index: 0,
        };
        let s = schema(vec![mapped, pair, Property::scalar("User", it::SID, 0)]);
        let mut p = 3u32.to_le_bytes().to_vec();
        p.extend_from_slice(&[1, 1, 0, 0, 0, 2, 0, 0, 0, 0]);
        p.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        let d = decode(&s, &p, 8);
        assert!(d.complete);
        assert_eq!(d.properties[0].1, Value::Str("Three".into()));
        let Value::List(pairs) = &d.properties[1].1 else {
            panic!()
        };
        assert_eq!(
            pairs[0],
            Value::Struct(vec![
                ("A".into(), Value::U64(1)),
                ("Ok".into(), Value::Bool(true))
            ])
        );
        assert_eq!(d.properties[2].1, Value::Sid("S-1-5-18".into()));
        // An unmapped value stays a number.
        p[0] = 4;
        assert_eq!(decode(&s, &p, 8).properties[0].1, Value::U64(4));
    }

    #[test]
    fn utf16_text_fast_and_slow() {
        let enc = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>()
        };
        assert_eq!(utf16(&enc("C:\\Windows\0junk"), true), "C:\\Windows");
        assert_eq!(utf16(&enc("naïve ✓ 😀\0x"), true), "naïve ✓ 😀");
        assert_eq!(utf16(&enc("a\0b"), false), "a\0b");
        assert_eq!(
            utf16(&[0x41, 0x00, 0x42], true),
            "A",
            "an odd byte is left over"
        );
        assert_eq!(
            utf16(&[0x00, 0xD8, 0x41, 0x00], true),
            "\u{FFFD}A",
            "a lone surrogate"
        );
        assert_eq!(
            utf16z(&enc("ab\0cd")),
            ("ab".into(), 6),
            "the nul is used up"
        );
        assert_eq!(utf16z(&enc("é\0")), ("é".into(), 4));
        assert_eq!(
            utf16z(&enc("ab")),
            ("ab".into(), 4),
            "unterminated: to the end"
        );
        assert_eq!(utf16z(&[0x41, 0x00, 0x42]), ("A".into(), 2));
    }

    #[test]
    fn socket_addresses_show_as_address_and_port() {
        let mut v4 = vec![2, 0, 0x01, 0xBB, 10, 50, 10, 50];
        v4.extend_from_slice(&[0; 8]);
        assert_eq!(
            bytes_value(&v4, ot::SOCKETADDRESS),
            Value::Str("10.50.10.50:443".into())
        );
        let mut v6 = vec![23, 0, 0, 53, 0, 0, 0, 0];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[0; 4]);
        assert_eq!(
            bytes_value(&v6, ot::SOCKETADDRESS),
            Value::Str("[::1]:53".into())
        );
        assert_eq!(
            bytes_value(&[9, 9], ot::SOCKETADDRESS),
            Value::Bytes(vec![9, 9])
        );
    }

    #[test]
    fn huge_counts_and_unknown_types_stop_decoding() {
        let mut many = Property::scalar("Many", it::UINT64, 0);
        many.count = Amount::Property(0);
        let s = schema(vec![Property::scalar("N", it::UINT32, 0), many]);
        let d = decode(&s, &u32::MAX.to_le_bytes(), 8);
        assert!(!d.complete);
        assert_eq!(d.properties.len(), 1);
        let odd = schema(vec![Property::scalar("X", 999, 0)]);
        assert!(!decode(&odd, &[0; 8], 8).complete);
    }
    #[test]
    fn nested_counts_over_nothing_are_bounded_by_the_payload() {
        // A struct array of 65,535 whose member is a struct array of 65,535
        // with no members, over an empty payload: 4.3 billion values asked for.
        let empty = Property {
            name: "Inner".into(),
            kind: Kind::Struct(vec![]),
            count: Amount::Fixed(u16::MAX),
            length: Amount::Natural,
            index: 1,
        };
        let outer = Property {
            name: "Outer".into(),
            kind: Kind::Struct(vec![empty]),
            count: Amount::Fixed(u16::MAX),
            length: Amount::Natural,
            index: 0,
        };
        let s = schema(vec![outer.clone()]);
        let started = std::time::Instant::now();
        let d = decode(&s, &[], 8);
        assert!(!d.complete, "partly decoded, and says so");
        assert!(d.properties.is_empty());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Empty strings nested that way, and 300 flat arrays of empty structs.
        let mut text = Property::scalar("S", it::UNICODESTRING, 0);
        text.length = Amount::Fixed(0);
        text.count = Amount::Fixed(u16::MAX);
        let strings = Property {
            kind: Kind::Struct(vec![text]),
            ..outer.clone()
        };
        assert!(!decode(&schema(vec![strings]), &[], 8).complete);
        let flat = Property {
            kind: Kind::Struct(vec![]),
            ..outer
        };
        let d = decode(&schema(vec![flat; 300]), &[0; 16], 8);
        assert!(!d.complete);
        // Within the budget, the values all arrive.
        let mut ok = Property::scalar("V", it::UINT16, 0);
        ok.count = Amount::Fixed(1000);
        let d = decode(&schema(vec![ok]), &[1; 2000], 8);
        assert!(d.complete);
        assert!(matches!(&d.properties[0].1, Value::List(v) if v.len() == 1000));
    }
}
