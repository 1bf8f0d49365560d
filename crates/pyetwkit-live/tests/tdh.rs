//! The TDH schema stage on real schemas: merged traces embed the very
//! TRACE_EVENT_INFO and EVENT_MAP_INFO bytes TDH returns (KernelTraceControl's
//! metadata events). A fake TDH answers from them; events must decode exactly
//! as the file reader decodes them with the same schemas.

#[path = "../../pyetwkit-core/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;

use pyetwkit_core::decode::event_info::{METADATA_PROVIDER, OPCODE_EVENT_INFO, OPCODE_MAP_INFO};
use pyetwkit_core::stages::SchemaSource;
use pyetwkit_core::stages::StagedEvents;
use pyetwkit_core::{EtwEvent, Guid};
use pyetwkit_live::{TdhLookup, TdhSchemas};

/// TDH as a recording's metadata describes it.
#[derive(Default)]
struct RecordedTdh {
    infos: HashMap<(Guid, u16, u8), Vec<u8>>,
    maps: HashMap<(Guid, String), Vec<u8>>,
    asked: usize,
}

impl RecordedTdh {
    fn learn(&mut self, event: &EtwEvent) {
        let payload = event.user_data.as_slice();
        match event.opcode {
            OPCODE_EVENT_INFO if payload.len() > 36 => {
                let provider = Guid::from_slice(payload, 0).unwrap();
                let id = u16::from_le_bytes([payload[32], payload[33]]);
                self.infos
                    .entry((provider, id, payload[34]))
                    .or_insert_with(|| payload.to_vec());
            }
            OPCODE_MAP_INFO if payload.len() > 20 => {
                let provider = Guid::from_slice(payload, 0).unwrap();
                let map = &payload[16..];
                let name_at = u32::from_le_bytes(map[..4].try_into().unwrap()) as usize;
                let name: String = char::decode_utf16(
                    map[name_at..]
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .take_while(|&u| u != 0),
                )
                .map(|c| c.unwrap_or('?'))
                .collect();
                self.maps
                    .insert((provider, name.trim_end().to_string()), map.to_vec());
            }
            _ => {}
        }
    }
}

impl TdhLookup for RecordedTdh {
    fn event_info(&mut self, event: &EtwEvent) -> Result<Vec<u8>, u32> {
        self.asked += 1;
        let key = (event.provider_id, event.event_id, event.version as u8);
        self.infos.get(&key).cloned().ok_or(1168) // ERROR_NOT_FOUND
    }

    fn map_info(&mut self, event: &EtwEvent, name: &str) -> Result<Vec<u8>, u32> {
        let key = (event.provider_id, name.to_string());
        self.maps.get(&key).cloned().ok_or(1168)
    }
}

#[test]
fn tdh_schemas_decode_like_the_recordings_own_metadata() {
    let mut files_checked = 0;
    for path in common::corpus_files() {
        let events: Vec<EtwEvent> = StagedEvents::open(&path, &[])
            .unwrap()
            .map_while(Result::ok)
            .collect();
        let mut tdh = RecordedTdh::default();
        for e in events.iter().filter(|e| e.provider_id == METADATA_PROVIDER) {
            tdh.learn(e);
        }
        if tdh.infos.is_empty() {
            continue;
        }
        let known: std::collections::HashSet<_> = tdh.infos.keys().copied().collect();
        let mut schemas = TdhSchemas::new(tdh);
        let (mut decoded, mut keys) = (0, std::collections::HashSet::new());
        for file_event in &events {
            if file_event.provider_id == METADATA_PROVIDER {
                continue;
            }
            let mut live = file_event.clone();
            live.schema = None;
            schemas.attach(&mut live);
            // Same schema → same decode, value for value. (TDH knows schemas
            // the file describes only after their first events: more decode.)
            let key = (
                file_event.provider_id,
                file_event.event_id,
                file_event.version as u8,
            );
            if file_event.schema.is_some() && known.contains(&key) {
                assert_eq!(
                    live.decode().map(|d| format!("{d:?}")),
                    file_event.decode().map(|d| format!("{d:?}")),
                    "{} event {} of {}",
                    path.display(),
                    file_event.event_id,
                    file_event.provider_id
                );
                if live.schema.is_some() {
                    decoded += 1;
                    keys.insert((live.provider_id, live.event_id, live.version));
                }
            }
        }
        let stats = schemas.stats();
        if decoded == 0 {
            continue; // metadata for other events only (MOF classes)
        }
        assert_eq!(
            stats.from_tdh as usize,
            keys.len(),
            "one TDH query per schema"
        );
        files_checked += 1;
    }
    if common::corpus_dir().is_some() {
        assert!(
            files_checked >= 2,
            "corpus files with metadata: {files_checked}"
        );
    }
}
