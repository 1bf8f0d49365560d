//! The reader against the corpus's independently established record counts.

mod common;

use std::collections::BTreeMap;

use pyetwkit_core::etl::EtlReader;
use serde_json::Value;

#[test]
fn record_and_header_type_counts_match_expected() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected_counts.json")).unwrap())
            .unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), 16, "the corpus lists 16 files");
    for (name, want) in expected {
        let counts = EtlReader::open(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .count_records()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let by_type: BTreeMap<String, u64> = counts
            .by_header_type()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let want_by_type: BTreeMap<String, u64> = want["by_header"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(
            counts.records,
            want["records"].as_u64().unwrap(),
            "{name}: records"
        );
        assert_eq!(
            counts.buffers,
            want["buffers"].as_u64().unwrap(),
            "{name}: buffers"
        );
        assert_eq!(by_type, want_by_type, "{name}: by header type");
    }
}

#[test]
fn events_iterate_to_the_same_count_as_records() {
    for path in common::corpus_files() {
        let reader = EtlReader::open(&path).unwrap();
        let start = reader.header().start_time;
        let mut n = 0u64;
        for ev in reader {
            let ev = ev.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                ev.filetime >= start,
                "{}: event at {:#x} stamped {} before StartTime {}",
                path.display(),
                ev.file_offset.unwrap_or_default(),
                ev.filetime,
                start
            );
            n += 1;
        }
        let records = EtlReader::open(&path)
            .unwrap()
            .count_records()
            .unwrap()
            .records;
        assert_eq!(n, records, "{}", path.display());
    }
}
