//! A provider's identity is defined once (`EtwEvent::provider_name`): for every
//! name in every corpus file, the provider filter passes exactly the events
//! that carry that name, whatever it came from (a kernel class, TraceLogging
//! traits, embedded metadata, an EventSource manifest, KernelTraceControl).

mod common;

use std::collections::BTreeMap;

use pyetwkit_core::stages::filter::Filter;
use pyetwkit_core::stages::StagedEvents;

#[test]
fn a_provider_name_filter_passes_exactly_the_events_that_carry_the_name() {
    let mut checked = 0;
    for path in common::corpus_files() {
        let events: Vec<_> = StagedEvents::open(&path, &[])
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for e in &events {
            if let Some(name) = e.provider_name() {
                *counts.entry(name.into_owned()).or_default() += 1;
            }
        }
        for (name, want) in &counts {
            // Names match case-insensitively, as filters.provider() promises.
            let spec = serde_json::json!({"op": "provider", "names": [name.to_uppercase()]});
            let filter = Filter::from_json(&spec.to_string()).unwrap();
            let got = events.iter().filter(|e| filter.matches(e)).count();
            assert_eq!(got, *want, "{name} in {}", path.display());
            checked += 1;
        }
    }
    if common::corpus_dir().is_some() {
        assert!(checked > 50, "{checked} names checked");
    }
}
