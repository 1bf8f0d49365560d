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
use pyetwkit_core::{EtwEvent, EventKind, EventSchema, FastMap, SchemaKey};

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
