//! Extended data items of EVENT_HEADER records. In a file each item is
//! `{u16 item size (8-aligned), u16 type, u16 linkage, u16 data size}` then its data;
//! bit 0 of linkage says another item follows.

use crate::bytes::{u16_at, u32_at, u64_at, utf8z_at};
use crate::guid::Guid;

pub const RELATED_ACTIVITY_ID: u16 = 1;
pub const SID: u16 = 2;
pub const TERMINAL_SESSION_ID: u16 = 3;
pub const INSTANCE_INFO: u16 = 4;
pub const STACK_TRACE32: u16 = 5;
pub const STACK_TRACE64: u16 = 6;
pub const PEBS_INDEX: u16 = 7;
pub const PMC_COUNTERS: u16 = 8;
pub const EVENT_SCHEMA_TL: u16 = 11;
pub const PROV_TRAITS: u16 = 12;
pub const PROCESS_START_KEY: u16 = 13;

const ITEM_HEADER: usize = 8;

/// One item: its type and its data bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtItem<'a> {
    pub ext_type: u16,
    pub data: &'a [u8],
}

/// Walks the chain starting at `start` within `record` and returns where it ends
/// (the start of user data). Every item must fit inside the record.
pub fn validate_chain(record: &[u8], start: usize) -> Result<usize, String> {
    let mut at = start;
    loop {
        let (item_size, linkage, data_size) = match (
            u16_at(record, at),
            u16_at(record, at + 4),
            u16_at(record, at + 6),
        ) {
            (Some(s), Some(l), Some(d)) => (s as usize, l, d as usize),
            _ => {
                return Err(format!(
                    "extended data item at +{at:#x} runs past the record"
                ))
            }
        };
        if item_size < ITEM_HEADER + data_size || at + item_size > record.len() {
            return Err(format!(
                "extended data item at +{at:#x} has size {item_size} for {data_size} data bytes, \
                 {} bytes left in the record",
                record.len().saturating_sub(at)
            ));
        }
        at += item_size;
        if linkage & 1 == 0 {
            return Ok(at);
        }
    }
}

/// Iterates a region that `validate_chain` accepted.
pub fn items(region: &[u8]) -> impl Iterator<Item = ExtItem<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let item_size = u16_at(region, at)? as usize;
        let ext_type = u16_at(region, at + 2)?;
        let data_size = u16_at(region, at + 6)? as usize;
        let data = region.get(at + ITEM_HEADER..at + ITEM_HEADER + data_size)?;
        if item_size == 0 {
            return None;
        }
        at += item_size;
        Some(ExtItem { ext_type, data })
    })
}

pub fn find(region: &[u8], ext_type: u16) -> Option<&[u8]> {
    items(region)
        .find(|i| i.ext_type == ext_type)
        .map(|i| i.data)
}

pub fn related_activity_id(region: &[u8]) -> Option<Guid> {
    find(region, RELATED_ACTIVITY_ID).and_then(|d| Guid::from_slice(d, 0))
}

pub fn session_id(region: &[u8]) -> Option<u32> {
    find(region, TERMINAL_SESSION_ID).and_then(|d| u32_at(d, 0))
}

pub fn process_start_key(region: &[u8]) -> Option<u64> {
    find(region, PROCESS_START_KEY).and_then(|d| u64_at(d, 0))
}

/// Return addresses of a stack item (after its u64 match id), 32- or 64-bit.
pub fn stack(region: &[u8]) -> Option<Vec<u64>> {
    items(region).find_map(|i| match i.ext_type {
        STACK_TRACE64 => Some(
            i.data
                .get(8..)?
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        ),
        STACK_TRACE32 => Some(
            i.data
                .get(8..)?
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as u64)
                .collect(),
        ),
        _ => None,
    })
}

/// The provider name carried by a provider-traits item (TraceLogging).
pub fn provider_name(region: &[u8]) -> Option<String> {
    let traits = find(region, PROV_TRAITS)?;
    let (name, _) = utf8z_at(traits, 2)?;
    (!name.is_empty()).then_some(name)
}

/// The same, borrowed and without allocating; `None` if it is not valid UTF-8.
pub fn provider_name_str(region: &[u8]) -> Option<&str> {
    let traits = find(region, PROV_TRAITS)?.get(2..)?;
    let len = traits.iter().position(|&b| b == 0).unwrap_or(traits.len());
    std::str::from_utf8(&traits[..len])
        .ok()
        .filter(|n| !n.is_empty())
}

pub fn sid(region: &[u8]) -> Option<String> {
    find(region, SID).and_then(sid_to_string)
}

/// `S-R-A-S1-S2...` form of a binary SID; `None` unless the bytes are a well-formed SID.
pub fn sid_to_string(bytes: &[u8]) -> Option<String> {
    let revision = *bytes.first()?;
    let count = *bytes.get(1)? as usize;
    if revision != 1 || count > 15 || bytes.len() < 8 + 4 * count {
        return None;
    }
    let authority = bytes[2..8]
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64);
    let mut s = format!("S-{revision}-{authority}");
    for i in 0..count {
        s.push_str(&format!("-{}", u32_at(bytes, 8 + 4 * i)?));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(ext_type: u16, more: bool, data: &[u8]) -> Vec<u8> {
        let size = crate::bytes::align8(8 + data.len());
        let mut v = Vec::new();
        v.extend_from_slice(&(size as u16).to_le_bytes());
        v.extend_from_slice(&ext_type.to_le_bytes());
        v.extend_from_slice(&(more as u16).to_le_bytes());
        v.extend_from_slice(&(data.len() as u16).to_le_bytes());
        v.extend_from_slice(data);
        v.resize(size, 0);
        v
    }

    #[test]
    fn walks_items_and_decodes_them() {
        let mut region = item(PROV_TRAITS, true, b"\x08\x00Prov\0\x00");
        region.extend(item(
            STACK_TRACE64,
            true,
            &[1, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0],
        ));
        // S-1-5-18 (LocalSystem)
        region.extend(item(SID, true, &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]));
        region.extend(item(PROCESS_START_KEY, false, &42u64.to_le_bytes()));
        let mut record = region.clone();
        record.extend_from_slice(b"payload");
        assert_eq!(validate_chain(&record, 0), Ok(region.len()));
        assert_eq!(provider_name(&region).as_deref(), Some("Prov"));
        assert_eq!(stack(&region), Some(vec![0x10]));
        assert_eq!(sid(&region).as_deref(), Some("S-1-5-18"));
        assert_eq!(process_start_key(&region), Some(42));
        assert_eq!(session_id(&region), None);
    }

    #[test]
    fn item_running_past_record_is_an_error() {
        let region = item(SID, true, &[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        assert!(
            validate_chain(&region, 0).is_err(),
            "linkage says more follows"
        );
        assert!(validate_chain(&region[..10], 0).is_err());
    }
}
