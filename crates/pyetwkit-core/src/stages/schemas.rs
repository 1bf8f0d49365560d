//! The schema stage for recordings: the schemas a file source knows: from manifests the user gives, and from the
//! metadata events of merged traces, learned as the file streams by (they come
//! before the events they describe). Events get their schema attached as they
//! are read, so decoding later (lazily) needs no lookup and no shared state.

use std::collections::HashMap;
use std::sync::Arc;

use crate::decode::event_info::{
    self, fill_maps, METADATA_PROVIDER, OPCODE_EVENT_INFO, OPCODE_MAP_INFO,
};
use crate::decode::event_source::{self, Assembler, Chunk};
use crate::decode::manifest::Manifest;
use crate::event::{EtwEvent, EventKind};
use crate::fast_hash::FastMap;
use crate::guid::Guid;
use crate::schema::{EventSchema, SchemaKey, ValueMap};

/// How many schemas came from where, and how many metadata events could not be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    pub from_manifests: u64,
    pub from_metadata: u64,
    pub maps_from_metadata: u64,
    /// Schemas from the manifests .NET EventSource providers write into the trace.
    pub from_event_sources: u64,
    /// Metadata events whose TRACE_EVENT_INFO or map was malformed or of a kind
    /// (MOF, WPP, custom-serialised) that has no generic layout, and EventSource
    /// manifests that did not parse.
    pub metadata_not_understood: u64,
    /// Live sessions: schemas TDH gave, and schemas it could not find (their
    /// events stay undecoded: `properties_complete` is `None`).
    pub from_tdh: u64,
    pub not_in_tdh: u64,
}

#[derive(Debug, Default, Clone)]
pub struct SchemaRegistry {
    events: FastMap<SchemaKey, Arc<EventSchema>>,
    /// Value maps from metadata events, by provider and name.
    maps: HashMap<(Guid, String), Arc<ValueMap>>,
    /// EventSource manifests arriving in chunks.
    event_sources: Assembler,
    stats: RegistryStats,
}

impl SchemaRegistry {
    /// Adds a manifest's schemas. An explicitly given manifest wins over
    /// metadata a trace embeds, and a later manifest over an earlier one.
    pub fn add_manifest(&mut self, manifest: &Manifest) {
        for (key, schema) in &manifest.schemas {
            self.events.insert(*key, schema.clone());
            self.stats.from_manifests += 1;
        }
    }

    pub fn get(&self, key: &SchemaKey) -> Option<&Arc<EventSchema>> {
        self.events.get(key)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn stats(&self) -> RegistryStats {
        self.stats
    }

    /// Reads the schemas `path` embeds (merged traces' metadata events and
    /// .NET EventSource manifests) ahead of its events, so that an event whose
    /// schema comes later in the file still decodes. One pass over the records;
    /// only the metadata records become events. A fault ends the scan quietly:
    /// the main pass reports it.
    pub fn prescan(&mut self, path: &std::path::Path) {
        let Ok(mut reader) = crate::etl::EtlReader::open(path) else {
            return;
        };
        while let Ok(Some(record)) = reader.next_record() {
            let metadata = record.provider_id == METADATA_PROVIDER
                || (record.kind == EventKind::Event
                    && record.descriptor.id == event_source::MANIFEST_EVENT_ID
                    && record.descriptor.opcode == event_source::MANIFEST_OPCODE);
            if metadata {
                let mut event = reader.event_from(&record);
                self.observe(&mut event);
            }
        }
    }

    /// Learns from a metadata event, or attaches the schema of an event it knows.
    #[inline]
    pub fn observe(&mut self, event: &mut EtwEvent) {
        if event.provider_id == METADATA_PROVIDER {
            self.learn(event);
        } else if event.event_id == event_source::MANIFEST_EVENT_ID
            && event.opcode == event_source::MANIFEST_OPCODE
            && event.kind == EventKind::Event
        {
            self.learn_event_source(event);
        } else if !self.events.is_empty() && event.kind == EventKind::Event {
            let key = SchemaKey {
                provider: event.provider_id,
                id: event.event_id,
                version: event.version as u8,
            };
            event.schema = self.events.get(&key).cloned();
        }
    }

    /// A chunk of an EventSource's manifest; the whole one adds its schemas,
    /// for its own provider only.
    fn learn_event_source(&mut self, event: &EtwEvent) {
        let provider = event.provider_id;
        match self.event_sources.add(provider, event.user_data.as_slice()) {
            Chunk::Pending => {}
            Chunk::Invalid => self.stats.metadata_not_understood += 1,
            Chunk::Complete(manifest) => {
                for (key, schema) in manifest.schemas {
                    if key.provider == provider && !self.events.contains_key(&key) {
                        self.events.insert(key, schema);
                        self.stats.from_event_sources += 1;
                    }
                }
            }
        }
    }

    fn learn(&mut self, event: &EtwEvent) {
        let payload = event.user_data.as_slice();
        let understood = match event.opcode {
            OPCODE_EVENT_INFO => match event_info::parse_event_info(payload) {
                Some((key, mut schema)) => {
                    if !self.events.contains_key(&key) {
                        for p in &mut schema.properties {
                            fill_maps(p, key.provider, &self.maps);
                        }
                        self.events.insert(key, Arc::new(schema));
                        self.stats.from_metadata += 1;
                    }
                    true
                }
                None => false,
            },
            OPCODE_MAP_INFO => match event_info::parse_map_info(payload) {
                // Known already (a prescan read it): nothing new to learn or count.
                Some((provider, map)) if self.maps.contains_key(&(provider, map.name.clone())) => {
                    true
                }
                Some((provider, map)) => {
                    let map = Arc::new(map);
                    self.maps.insert((provider, map.name.clone()), map);
                    self.stats.maps_from_metadata += 1;
                    // The event info naming this map usually came first.
                    for (key, schema) in &mut self.events {
                        if key.provider == provider {
                            let schema = Arc::make_mut(schema);
                            for p in &mut schema.properties {
                                fill_maps(p, provider, &self.maps);
                            }
                        }
                    }
                    true
                }
                None => false,
            },
            _ => false,
        };
        if !understood {
            self.stats.metadata_not_understood += 1;
        }
    }
}
