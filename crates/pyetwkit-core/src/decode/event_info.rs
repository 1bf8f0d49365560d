//! TDH's binary schema structures, TRACE_EVENT_INFO and EVENT_MAP_INFO, read
//! into the shared `EventSchema`. Merged traces embed them as KernelTraceControl
//! metadata events; a live session on Windows gets the same bytes from
//! TdhGetEventInformation and TdhGetEventMapInformation.
//! Every offset inside them is bounds-checked: the bytes may be corrupt.

use std::collections::HashMap;
use std::sync::Arc;

use crate::bytes::{u16_at, u32_at, u8_at};
use crate::guid::Guid;
use crate::schema::SchemaKey;
use crate::schema::{event_name, Amount, EventSchema, Kind, Property, ValueMap};

/// The provider of the metadata events merged traces carry.
pub const METADATA_PROVIDER: Guid = Guid::from_fields(
    0xbbccf6c1,
    0x6cd1,
    0x48c4,
    [0x80, 0xff, 0x83, 0x94, 0x82, 0xe3, 0x76, 0x71],
);
/// Its opcodes: a TRACE_EVENT_INFO, and a provider GUID then an EVENT_MAP_INFO.
pub const OPCODE_EVENT_INFO: u8 = 32;
pub const OPCODE_MAP_INFO: u8 = 33;

const PROPERTY_INFO_AT: usize = 112;
const PROPERTY_INFO_LEN: usize = 24;

// PROPERTY_FLAGS.
const PROPERTY_STRUCT: u32 = 0x1;
const PROPERTY_PARAM_LENGTH: u32 = 0x2;
const PROPERTY_PARAM_COUNT: u32 = 0x4;
const PROPERTY_PARAM_FIXED_LENGTH: u32 = 0x10;
const PROPERTY_PARAM_FIXED_COUNT: u32 = 0x20;
const PROPERTY_HAS_CUSTOM_SCHEMA: u32 = 0x80;

// DECODING_SOURCE values this reader understands: both lay payloads out alike.
const DECODING_SOURCE_XML_FILE: u32 = 0;
const DECODING_SOURCE_TLG: u32 = 3;

// EVENT_MAP_INFO flags.
const MAP_MANIFEST_VALUEMAP: u32 = 0x1;
const MAP_MANIFEST_BITMAP: u32 = 0x2;

/// A nul-terminated UTF-16 string at `offset`; offset 0 means none. TDH pads
/// some names with a trailing space, which is dropped.
fn string_at(info: &[u8], offset: u32) -> Option<String> {
    if offset == 0 {
        return None;
    }
    let (text, _) = crate::bytes::utf16z_at(info, offset as usize)?;
    let text = text.trim_end().to_string();
    (!text.is_empty()).then_some(text)
}

/// Reads a TRACE_EVENT_INFO. Value maps are named but empty here: they arrive
/// separately (`parse_map_info`) and the registry fills them in.
pub fn parse_event_info(info: &[u8]) -> Option<(SchemaKey, EventSchema)> {
    let provider = Guid::from_slice(info, 0)?;
    let id = u16_at(info, 32)?;
    let version = u8_at(info, 34)?;
    let decoding_source = u32_at(info, 48)?;
    if decoding_source != DECODING_SOURCE_XML_FILE && decoding_source != DECODING_SOURCE_TLG {
        return None;
    }
    let name_at = |at: usize| u32_at(info, at).and_then(|o| string_at(info, o));
    let provider_name = name_at(52);
    let task = name_at(68);
    let opcode = name_at(72);
    let own_name = name_at(92);
    let count = u32_at(info, 100)? as usize;
    let top_level = u32_at(info, 104)? as usize;
    if top_level > count || count > u16::MAX as usize {
        return None;
    }
    let table =
        info.get(PROPERTY_INFO_AT..PROPERTY_INFO_AT.checked_add(count * PROPERTY_INFO_LEN)?)?;
    let mut building = Vec::new();
    let properties = properties_in(info, table, 0, top_level, &mut building, 0)?;
    let schema = EventSchema {
        provider_name,
        event_name: event_name(task.as_deref(), opcode.as_deref(), own_name.as_deref()),
        properties,
        trailing_allowed: true,
        flat_len: 0,
    }
    .finish()?;
    Some((
        SchemaKey {
            provider,
            id,
            version,
        },
        schema,
    ))
}

/// Properties `first..first + n` of the EVENT_PROPERTY_INFO table.
/// `building` holds the structs being read, so a struct cannot contain itself.
fn properties_in(
    info: &[u8],
    table: &[u8],
    first: usize,
    n: usize,
    building: &mut Vec<usize>,
    depth: usize,
) -> Option<Vec<Property>> {
    if depth > super::payload::MAX_DEPTH {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for index in first..first.checked_add(n)? {
        let at = index.checked_mul(PROPERTY_INFO_LEN)?;
        let entry = table.get(at..at + PROPERTY_INFO_LEN)?;
        let flags = u32_at(entry, 0)?;
        let name = string_at(info, u32_at(entry, 4)?).unwrap_or_default();
        let count_field = u16_at(entry, 16)?;
        let length_field = u16_at(entry, 18)?;
        if flags & PROPERTY_HAS_CUSTOM_SCHEMA != 0 {
            return None; // custom-serialised: no generic layout
        }
        let kind = if flags & PROPERTY_STRUCT != 0 {
            if building.contains(&index) {
                return None;
            }
            building.push(index);
            let start = u16_at(entry, 8)? as usize;
            let members = u16_at(entry, 10)? as usize;
            let members = properties_in(info, table, start, members, building, depth + 1)?;
            building.pop();
            Kind::Struct(members)
        } else {
            let map_name = string_at(info, u32_at(entry, 12)?);
            Kind::Scalar {
                in_type: u16_at(entry, 8)?,
                out_type: u16_at(entry, 10)?,
                map: map_name.map(|m| Arc::new(ValueMap::new(m, false, Vec::new()))),
            }
        };
        let count = if flags & PROPERTY_PARAM_COUNT != 0 {
            Amount::Property(count_field)
        } else if flags & PROPERTY_PARAM_FIXED_COUNT != 0 || count_field > 1 {
            Amount::Fixed(count_field)
        } else {
            Amount::Natural
        };
        let length = if flags & PROPERTY_PARAM_LENGTH != 0 {
            Amount::Property(length_field)
        } else if length_field > 0 && (flags & PROPERTY_PARAM_FIXED_LENGTH != 0 || is_sized(&kind))
        {
            Amount::Fixed(length_field)
        } else {
            Amount::Natural
        };
        out.push(Property {
            name: name.into(),
            kind,
            count,
            length,
            index: u16::try_from(index).ok()?,
        });
    }
    Some(out)
}

/// Types whose TDH `length` is a real size (strings and binaries); for the
/// others it restates the type's own size.
fn is_sized(kind: &Kind) -> bool {
    use crate::schema::in_type::*;
    matches!(kind, Kind::Scalar { in_type, .. } if matches!(*in_type, UNICODESTRING | ANSISTRING | BINARY))
}

/// Reads a metadata map event: the provider GUID, then an EVENT_MAP_INFO.
/// Pattern and MOF maps are not value maps and give `None`.
pub fn parse_map_info(payload: &[u8]) -> Option<(Guid, ValueMap)> {
    let provider = Guid::from_slice(payload, 0)?;
    let map = payload.get(16..)?;
    let name = string_at(map, u32_at(map, 0)?)?;
    let flags = u32_at(map, 4)?;
    let entry_count = u32_at(map, 8)? as usize;
    let value_type = u32_at(map, 12)?;
    let bitmap = match flags {
        f if f & MAP_MANIFEST_BITMAP != 0 => true,
        f if f & MAP_MANIFEST_VALUEMAP != 0 => false,
        _ => return None,
    };
    if value_type != 0 {
        return None; // string-keyed entries belong to pattern maps
    }
    let table_end = entry_count.checked_mul(8)?.checked_add(16)?;
    if table_end > map.len() {
        return None;
    }
    let mut entries = Vec::with_capacity(entry_count);
    for i in 0..entry_count {
        let at = 16 + 8 * i;
        let text = string_at(map, u32_at(map, at)?).unwrap_or_default();
        entries.push((u64::from(u32_at(map, at + 4)?), text));
    }
    Some((provider, ValueMap::new(name, bitmap, entries)))
}

/// A schema from TDH, as a live session gets it: `info` is what
/// TdhGetEventInformation returned, and `map` fetches the EVENT_MAP_INFO
/// bytes of a map the schema names (TdhGetEventMapInformation), once per map.
/// Maps TDH cannot give stay empty: their values show as numbers.
pub fn schema_from_tdh(
    info: &[u8],
    mut map: impl FnMut(&str) -> Option<Vec<u8>>,
) -> Option<(SchemaKey, EventSchema)> {
    let (key, mut schema) = parse_event_info(info)?;
    let mut names = Vec::new();
    for p in &schema.properties {
        map_names(p, &mut names);
    }
    let mut maps = HashMap::new();
    for name in names {
        if maps.contains_key(&(key.provider, name.clone())) {
            continue;
        }
        let mut payload = key.provider.0.to_vec();
        let Some(bytes) = map(&name) else { continue };
        payload.extend_from_slice(&bytes);
        if let Some((_, parsed)) = parse_map_info(&payload) {
            maps.insert((key.provider, name), Arc::new(parsed));
        }
    }
    for p in &mut schema.properties {
        fill_maps(p, key.provider, &maps);
    }
    Some((key, schema))
}

/// The names of the maps `p` and its members refer to.
fn map_names(p: &Property, out: &mut Vec<String>) {
    match &p.kind {
        Kind::Scalar { map: Some(m), .. } => out.push(m.name.clone()),
        Kind::Struct(members) => members.iter().for_each(|m| map_names(m, out)),
        _ => {}
    }
}

/// Replaces map placeholders (named, no entries) with the maps now known.
pub(crate) fn fill_maps(
    p: &mut Property,
    provider: Guid,
    maps: &HashMap<(Guid, String), Arc<ValueMap>>,
) {
    match &mut p.kind {
        Kind::Scalar { map: Some(map), .. } if map.entries.is_empty() => {
            if let Some(known) = maps.get(&(provider, map.name.clone())) {
                *map = known.clone();
            }
        }
        Kind::Struct(members) => {
            for m in members {
                fill_maps(m, provider, maps);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::payload::decode;
    use crate::schema::in_type;
    use crate::value::Value;

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    }

    /// A TRACE_EVENT_INFO with the given EVENT_PROPERTY_INFO entries
    /// (flags, name, in-type or struct start, out-type or member count, count, length).
    fn event_info(
        top_level: u32,
        props: &[(u32, &str, u16, u16, u16, u16)],
        map: Option<&str>,
    ) -> Vec<u8> {
        let mut info = vec![0u8; PROPERTY_INFO_AT + PROPERTY_INFO_LEN * props.len()];
        info[..16].copy_from_slice(&[7; 16]);
        info[32..34].copy_from_slice(&5u16.to_le_bytes()); // id 5, version 0
        let mut strings = Vec::new();
        let mut add = |info: &mut Vec<u8>, text: &str| {
            let at = info.len() as u32;
            info.extend(utf16z(text));
            strings.push(at);
            at
        };
        let provider = add(&mut info, "Prov");
        let task = add(&mut info, "Work ");
        let opcode = add(&mut info, "Start");
        info[52..56].copy_from_slice(&provider.to_le_bytes());
        info[68..72].copy_from_slice(&task.to_le_bytes());
        info[72..76].copy_from_slice(&opcode.to_le_bytes());
        info[100..104].copy_from_slice(&(props.len() as u32).to_le_bytes());
        info[104..108].copy_from_slice(&top_level.to_le_bytes());
        for (i, &(flags, name, a, b, count, length)) in props.iter().enumerate() {
            let name_at = add(&mut info, name);
            let map_at = match (map, a) {
                (Some(m), in_type::UINT32) => add(&mut info, m),
                _ => 0,
            };
            let e = PROPERTY_INFO_AT + PROPERTY_INFO_LEN * i;
            info[e..e + 4].copy_from_slice(&flags.to_le_bytes());
            info[e + 4..e + 8].copy_from_slice(&name_at.to_le_bytes());
            info[e + 8..e + 10].copy_from_slice(&a.to_le_bytes());
            info[e + 10..e + 12].copy_from_slice(&b.to_le_bytes());
            info[e + 12..e + 16].copy_from_slice(&map_at.to_le_bytes());
            info[e + 16..e + 18].copy_from_slice(&count.to_le_bytes());
            info[e + 18..e + 20].copy_from_slice(&length.to_le_bytes());
        }
        info
    }

    #[test]
    fn reads_counts_lengths_structs_and_names() {
        let info = event_info(
            3,
            &[
                (0, "N", in_type::UINT16, 0, 1, 2),
                (
                    PROPERTY_PARAM_LENGTH,
                    "Text",
                    in_type::UNICODESTRING,
                    0,
                    1,
                    0,
                ),
                (PROPERTY_STRUCT | PROPERTY_PARAM_COUNT, "Items", 3, 1, 0, 0),
                (0, "Id", in_type::UINT32, 0, 1, 4),
            ],
            None,
        );
        let (key, schema) = parse_event_info(&info).unwrap();
        assert_eq!((key.id, key.version), (5, 0));
        assert_eq!(schema.provider_name.as_deref(), Some("Prov"));
        assert_eq!(
            schema.event_name.as_deref(),
            Some("Work/Start"),
            "TDH's trailing space dropped"
        );
        let mut p = 2u16.to_le_bytes().to_vec();
        p.extend_from_slice(&[b'o', 0, b'k', 0]);
        p.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
        let d = decode(&schema, &p, 8);
        assert!(d.complete, "{d:?}");
        assert_eq!(d.properties[1].1, Value::Str("ok".into()));
        assert_eq!(
            d.properties[2].1,
            Value::List(vec![
                Value::Struct(vec![("Id".into(), Value::U64(1))]),
                Value::Struct(vec![("Id".into(), Value::U64(2))]),
            ])
        );
    }

    #[test]
    fn self_containing_structs_and_bad_offsets_are_refused() {
        let looped = event_info(1, &[(PROPERTY_STRUCT, "S", 0, 1, 1, 0)], None);
        assert!(parse_event_info(&looped).is_none());
        let mut bad = event_info(1, &[(0, "A", in_type::UINT32, 0, 1, 4)], None);
        bad[100..104].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_event_info(&bad).is_none());
        assert!(parse_event_info(&bad[..50]).is_none());
        // A name offset past the end reads as no name, not out of bounds.
        let mut far = event_info(1, &[(0, "A", in_type::UINT32, 0, 1, 4)], None);
        far[PROPERTY_INFO_AT + 4..PROPERTY_INFO_AT + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(&*parse_event_info(&far).unwrap().1.properties[0].name, "");
    }

    #[test]
    fn maps_arrive_separately_and_are_matched_by_name() {
        let mut payload = vec![7u8; 16];
        let mut map = Vec::new();
        map.extend_from_slice(&24u32.to_le_bytes()); // name: after the 16-byte head and one entry
        map.extend_from_slice(&MAP_MANIFEST_VALUEMAP.to_le_bytes());
        map.extend_from_slice(&1u32.to_le_bytes()); // one entry
        map.extend_from_slice(&0u32.to_le_bytes()); // ULONG values
        map.extend_from_slice(&(24 + 12u32).to_le_bytes()); // entry text: after "Color\0"
        map.extend_from_slice(&3u32.to_le_bytes());
        map.extend(utf16z("Color"));
        map.extend(utf16z("Three "));
        payload.extend(map);
        let (provider, parsed) = parse_map_info(&payload).unwrap();
        assert_eq!(provider, Guid([7; 16]));
        assert_eq!(parsed.name, "Color");
        assert_eq!(parsed.lookup(3).as_deref(), Some("Three"));
        let info = event_info(1, &[(0, "C", in_type::UINT32, 0, 1, 4)], Some("Color"));
        let (_, schema) = parse_event_info(&info).unwrap();
        let Kind::Scalar { map: Some(m), .. } = &schema.properties[0].kind else {
            panic!()
        };
        assert_eq!(m.name, "Color");
        assert!(
            m.entries.is_empty(),
            "a placeholder until the map event arrives"
        );
    }

    fn color_map() -> Vec<u8> {
        let mut map = Vec::new();
        map.extend_from_slice(&24u32.to_le_bytes());
        map.extend_from_slice(&MAP_MANIFEST_VALUEMAP.to_le_bytes());
        map.extend_from_slice(&1u32.to_le_bytes());
        map.extend_from_slice(&0u32.to_le_bytes());
        map.extend_from_slice(&(24 + 12u32).to_le_bytes());
        map.extend_from_slice(&3u32.to_le_bytes());
        map.extend(utf16z("Color"));
        map.extend(utf16z("Three"));
        map
    }

    #[test]
    fn tdh_schemas_get_their_maps_fetched_once_by_name() {
        let info = event_info(
            2,
            &[
                (0, "A", in_type::UINT32, 0, 1, 4),
                (0, "B", in_type::UINT32, 0, 1, 4),
            ],
            Some("Color"),
        );
        let mut asked = Vec::new();
        let (key, schema) = schema_from_tdh(&info, |name| {
            asked.push(name.to_string());
            Some(color_map())
        })
        .unwrap();
        assert_eq!(asked, ["Color"], "one fetch per map");
        assert_eq!(key.provider, Guid([7; 16]));
        for p in &schema.properties {
            let Kind::Scalar { map: Some(m), .. } = &p.kind else {
                panic!("{p:?}")
            };
            assert_eq!(m.lookup(3).as_deref(), Some("Three"));
        }
        let d = decode(&schema, &[3, 0, 0, 0, 4, 0, 0, 0], 8);
        assert_eq!(d.properties[0].1, Value::Str("Three".into()));
        // A map TDH cannot give leaves the value a number, and no error.
        let (_, unmapped) = schema_from_tdh(&info, |_| None).unwrap();
        let d = decode(&unmapped, &[3, 0, 0, 0, 4, 0, 0, 0], 8);
        assert_eq!(d.properties[0].1, Value::U64(3));
        assert!(schema_from_tdh(&info[..40], |_| None).is_none());
    }
}
