//! The schema stage of a live session: TDH describes manifest events. The
//! `TRACE_EVENT_INFO` and `EVENT_MAP_INFO` bytes TDH returns go to the parser
//! files use for embedded metadata (`schema_from_tdh`), once per schema key;
//! the answer, found or not, is cached. Kernel events have the shared MOF
//! decoders and TraceLogging events carry their schema, so TDH is not asked
//! for them. A schema TDH cannot find leaves the event undecoded (and counted
//! in `not_in_tdh`); it is not an error.
//!
//! The lookup is a trait: Windows asks TDH (`native::tdh`), tests anything.

use std::sync::Arc;

use pyetwkit_core::decode::event_info::schema_from_tdh;
use pyetwkit_core::stages::schemas::RegistryStats;
use pyetwkit_core::stages::SchemaSource;
use pyetwkit_core::{EtwEvent, EventKind, EventSchema, FastMap, Guid, SchemaKey};

/// What TDH answers, as bytes or a Win32 code.
pub trait TdhLookup: Send + Sync + 'static {
    /// TdhGetEventInformation for `event`.
    fn event_info(&mut self, event: &EtwEvent) -> Result<Vec<u8>, u32>;
    /// TdhGetEventMapInformation for the map `name` of `event`'s provider.
    fn map_info(&mut self, event: &EtwEvent, name: &str) -> Result<Vec<u8>, u32>;
}

/// Schemas from TDH, cached per (provider, id, version).
pub struct TdhSchemas<L: TdhLookup> {
    lookup: L,
    cache: FastMap<SchemaKey, Option<Arc<EventSchema>>>,
    stats: RegistryStats,
}

impl<L: TdhLookup> TdhSchemas<L> {
    pub fn new(lookup: L) -> TdhSchemas<L> {
        TdhSchemas {
            lookup,
            cache: FastMap::default(),
            stats: RegistryStats::default(),
        }
    }

    fn ask(&mut self, event: &EtwEvent) -> Option<Arc<EventSchema>> {
        let info = self.lookup.event_info(event).ok()?;
        let lookup = &mut self.lookup;
        let (key, schema) = schema_from_tdh(&info, |name| lookup.map_info(event, name).ok())?;
        // TDH describes the event it was given; a mismatch would be TDH's bug,
        // and caching it under this event's key would misdecode others.
        (key == key_of(event)).then(|| Arc::new(schema))
    }
}

fn key_of(event: &EtwEvent) -> SchemaKey {
    SchemaKey {
        provider: event.provider_id,
        id: event.event_id,
        version: event.version as u8,
    }
}

impl<L: TdhLookup> SchemaSource for TdhSchemas<L> {
    fn attach(&mut self, event: &mut EtwEvent) {
        if event.kind != EventKind::Event || event.tracelogging_schema().is_some() {
            return;
        }
        let key = key_of(event);
        let schema = match self.cache.get(&key) {
            Some(known) => known.clone(),
            None => {
                let found = self.ask(event);
                match found {
                    Some(_) => self.stats.from_tdh += 1,
                    None => self.stats.not_in_tdh += 1,
                }
                self.cache.insert(key, found.clone());
                found
            }
        };
        event.schema = schema;
    }

    fn stats(&self) -> RegistryStats {
        self.stats
    }
}

/// A registered provider, as TDH lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredProvider {
    pub name: String,
    pub guid: Guid,
    /// Where its schemas come from: 0 a manifest (or TraceLogging), 1 WMI (MOF).
    pub schema_source: u32,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Reads PROVIDER_ENUMERATION_INFO (TdhEnumerateProviders): a count, then
/// TRACE_PROVIDER_INFO entries {GUID, schema source, name offset}, the names
/// NUL-terminated UTF-16 at their offsets. Bounds-checked: entries that run
/// past the bytes end the list; a bad name offset reads as an empty name.
pub fn parse_provider_enumeration(bytes: &[u8]) -> Vec<RegisteredProvider> {
    const ENTRY: usize = 24;
    let count = u32_at(bytes, 0).unwrap_or(0) as usize;
    let mut out = Vec::new();
    for i in 0..count {
        let at = 8 + i * ENTRY;
        let (Some(guid), Some(source), Some(name_at)) = (
            Guid::from_slice(bytes, at),
            u32_at(bytes, at + 16),
            u32_at(bytes, at + 20),
        ) else {
            break;
        };
        let units = bytes
            .get(name_at as usize..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0);
        out.push(RegisteredProvider {
            name: char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
            guid,
            schema_source: source,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_lists_parse_and_bad_offsets_stay_in_bounds() {
        let dns: Guid = "1c95126e-7eea-49a9-a3fe-a378b03ddb4d".parse().unwrap();
        let mut b = vec![0u8; 8 + 2 * 24];
        b[0..4].copy_from_slice(&2u32.to_le_bytes());
        b[8..24].copy_from_slice(&dns.0);
        let name_at = b.len() as u32;
        b[28..32].copy_from_slice(&name_at.to_le_bytes());
        b.extend("DNS".encode_utf16().chain([0]).flat_map(u16::to_le_bytes));
        b[32 + 16..32 + 20].copy_from_slice(&1u32.to_le_bytes());
        b[32 + 20..32 + 24].copy_from_slice(&u32::MAX.to_le_bytes());
        let list = parse_provider_enumeration(&b);
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].name.as_str(), list[0].guid), ("DNS", dns));
        assert_eq!((list[1].name.as_str(), list[1].schema_source), ("", 1));
        // A count larger than the bytes hold ends the list.
        b[0..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(parse_provider_enumeration(&b).len(), 2);
        assert!(parse_provider_enumeration(&[1, 2]).is_empty());
    }
}
