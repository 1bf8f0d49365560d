//! Schemas from the shared data: embedded TRACE_EVENT_INFO metadata and real
//! manifests, read as they are and damaged on purpose. Parsing and decoding
//! must never panic, read out of bounds or allocate without bound.

mod common;

use pyetwkit_core::decode::event_info::{
    self, METADATA_PROVIDER, OPCODE_EVENT_INFO, OPCODE_MAP_INFO,
};
use pyetwkit_core::decode::{manifest, payload};
use pyetwkit_core::stages::StagedEvents;
use pyetwkit_core::EtwEvent;

/// A small deterministic generator: no extra dependency, same cases every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn events(name: &str) -> Option<Vec<EtwEvent>> {
    let path = common::corpus_dir()?.join(name);
    Some(
        StagedEvents::open(path, &[])
            .unwrap()
            .map(|e| e.unwrap())
            .collect(),
    )
}

#[test]
fn merged_traces_embed_schemas_that_decode_their_events() {
    let Some(events) = events("perfview_net.4.5.2.x64.etl") else {
        return;
    };
    let metadata: Vec<&EtwEvent> = events
        .iter()
        .filter(|e| e.provider_id == METADATA_PROVIDER)
        .collect();
    let infos = metadata
        .iter()
        .filter(|e| e.opcode == OPCODE_EVENT_INFO)
        .count();
    let parsed = metadata
        .iter()
        .filter(|e| e.opcode == OPCODE_EVENT_INFO)
        .filter_map(|e| event_info::parse_event_info(e.user_data.as_slice()))
        .count();
    assert_eq!(
        parsed, infos,
        "every embedded TRACE_EVENT_INFO is understood"
    );
    let maps = metadata
        .iter()
        .filter(|e| e.opcode == OPCODE_MAP_INFO)
        .filter_map(|e| event_info::parse_map_info(e.user_data.as_slice()))
        .collect::<Vec<_>>();
    assert!(maps.iter().all(|(_, m)| !m.entries.is_empty()));
    // The reader learned them as it went and attached them.
    let with_schema: Vec<&EtwEvent> = events.iter().filter(|e| e.schema.is_some()).collect();
    assert!(with_schema.len() > 60_000);
    assert!(with_schema
        .iter()
        .all(|e| e.decode().is_some_and(|d| d.complete)));
}

#[test]
fn damaged_embedded_schemas_never_panic() {
    let Some(events) = events("perfview_net.4.5.2.x86.etl") else {
        return;
    };
    let infos: Vec<&[u8]> = events
        .iter()
        .filter(|e| e.provider_id == METADATA_PROVIDER && e.opcode == OPCODE_EVENT_INFO)
        .map(|e| e.user_data.as_slice())
        .collect();
    let payloads: Vec<&[u8]> = events
        .iter()
        .filter(|e| e.schema.is_some())
        .take(2000)
        .map(|e| e.user_data.as_slice())
        .collect();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..20_000 {
        let mut info = infos[rng.below(infos.len())].to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(info.len());
            info[at] = rng.next() as u8;
        }
        if rng.below(4) == 0 {
            info.truncate(rng.below(info.len()));
        }
        let _ = event_info::parse_map_info(&info);
        if let Some((_, schema)) = event_info::parse_event_info(&info) {
            let payload = payloads[rng.below(payloads.len())];
            let d = payload::decode(&schema, payload, 4);
            assert!(d.properties.len() <= schema.properties.len());
        }
    }
}

#[test]
fn damaged_manifests_are_errors_or_schemas_never_panics() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for name in [
        "microsoft-tx/HTTP_Server.man",
        "nasbench-tdh-dumps/Microsoft-Windows-DNS-Client.manifest.xml",
    ] {
        let original = std::fs::read(shared.join("manifests").join(name)).unwrap();
        let intact = manifest::parse(&original).unwrap();
        assert!(intact.skipped.is_empty(), "{:?}", intact.skipped);
        for round in 0..150 {
            let mut bytes = original.clone();
            // Flip characters where they matter: inside attribute values and names.
            for _ in 0..1 + rng.below(12) {
                let at = rng.below(bytes.len());
                bytes[at] = b"0x9\"<>/ =;$()abcLengthcount"[rng.below(27)];
            }
            if round % 10 == 0 {
                bytes.truncate(rng.below(bytes.len()));
            }
            let Ok(parsed) = manifest::parse(&bytes) else {
                continue;
            };
            for (_, schema) in parsed.schemas.iter().take(40) {
                let payload: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
                let d = payload::decode(schema, &payload, 8);
                assert!(d.trailing <= payload.len());
            }
        }
    }
}

#[test]
fn an_events_name_does_not_depend_on_decoding_it() {
    let clr = common::shared_dir().map(|d| d.join("manifests/clr/ClrEtwAll.man"));
    let Some(clr) = clr.filter(|p| p.is_file()) else {
        return;
    };
    let clr = manifest::load(&clr).unwrap();
    for path in common::corpus_files() {
        for event in StagedEvents::open(&path, &[&clr]).unwrap() {
            let event = event.unwrap();
            let decoded = event.decode().and_then(|d| d.name).map(|n| n.to_string());
            let named = event.name().map(|n| n.into_owned());
            if decoded.is_some() {
                assert_eq!(decoded, named, "{}", path.display());
            }
        }
    }
}
