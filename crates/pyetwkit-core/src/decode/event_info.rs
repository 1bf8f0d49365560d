//! TDH's binary schema structures, TRACE_EVENT_INFO and EVENT_MAP_INFO, read
//! into the shared `EventSchema`. Merged traces embed them as KernelTraceControl
//! metadata events; a live session on Windows gets the same bytes from
//! TdhGetEventInformation and TdhGetEventMapInformation.
//! Every offset inside them is bounds-checked: the bytes may be corrupt.

use std::sync::Arc;

use super::registry::SchemaKey;
use super::schema::{event_name, Amount, EventSchema, Kind, Property, ValueMap};
use crate::bytes::{u16_at, u32_at, u8_at};
use crate::guid::Guid;

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
            name,
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
    use super::schema::in_type::*;
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
