//! The conversion from `EVENT_RECORD` (the windows crate's own type) to the
//! core's event, on real records: every event of several corpus recordings is
//! turned into the record ETW would deliver for it, then converted back. It
//! must give the reader's event again (less what only files have), name and
//! decode alike, with its extended data items. Runs under Wine (make test-windows).
#![cfg(windows)]
#![allow(unsafe_code)] // records point into the events they were built from

#[path = "../../pyetwkit-core/tests/common/mod.rs"]
mod common;

use pyetwkit_core::stages::StagedEvents;
use pyetwkit_core::{EtwEvent, EventKind};
use pyetwkit_live::native::{event_from_record, RecordImage};

/// What a live record cannot carry: the file's header type, hook id and
/// offset; pids and tids of u32::MAX (ETW's "none").
fn as_live(mut e: EtwEvent) -> EtwEvent {
    e.header_type = None;
    e.hook_id = None;
    e.file_offset = None;
    e.pid = e.pid.filter(|&p| p != u32::MAX);
    e.tid = e.tid.filter(|&t| t != u32::MAX);
    e.processor = Some(e.processor.unwrap_or(0));
    e.version &= 0xFF; // EVENT_DESCRIPTOR.Version is a byte
                       // A kernel class ETW does not report by GUID arrives as a classic event.
    if e.kind == EventKind::Kernel && e.kernel_class.is_none() {
        e.kind = EventKind::Classic;
    }
    e
}

#[test]
fn records_built_from_corpus_events_convert_back_to_the_same_events() {
    let mut checked = 0usize;
    let mut kinds = std::collections::BTreeSet::new();
    let mut with_extended = 0usize;
    for path in common::corpus_files().iter().take(8) {
        let events = StagedEvents::open(path, &[]).unwrap().map_while(Result::ok);
        for file_event in events.take(20_000) {
            let image = RecordImage::of(&file_event);
            // SAFETY: the image's pointers are into `file_event`, alive here.
            let mut live = unsafe { event_from_record(image.record()) };
            live.schema = file_event.schema.clone();
            live.process = file_event.process.clone();
            let expected = as_live(file_event.clone());
            let at = format!("{} at {:?}", path.display(), file_event.file_offset);
            assert_eq!(
                live.extended_items(),
                expected.extended_items(),
                "extended data, {at}"
            );
            // The packed bytes may differ only in padding: compare items above.
            live.extended = expected.extended.clone();
            assert_eq!(live, expected, "{at}");
            assert_eq!(live.name(), file_event.name(), "name, {at}");
            assert_eq!(
                live.decode().map(|d| format!("{d:?}")),
                file_event.decode().map(|d| format!("{d:?}")),
                "decode, {at}"
            );
            kinds.insert(live.kind.as_str());
            with_extended += usize::from(!live.extended.is_empty());
            checked += 1;
        }
    }
    if common::corpus_dir().is_some() {
        assert!(checked > 10_000, "{checked} events");
        assert!(kinds.len() >= 3, "header kinds covered: {kinds:?}");
        assert!(with_extended > 0, "extended data covered");
    }
}

#[test]
fn ferrisetw_event_record_has_the_layout_of_event_record() {
    use windows::Win32::System::Diagnostics::Etw::EVENT_RECORD;
    assert_eq!(
        std::mem::size_of::<ferrisetw::EventRecord>(),
        std::mem::size_of::<EVENT_RECORD>()
    );
    // EVENT_RECORD is 112 bytes on x64 (evntcons.h).
    assert_eq!(std::mem::size_of::<EVENT_RECORD>(), 112);
}
