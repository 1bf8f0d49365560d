//! The pipeline end to end on real and sample files.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyetwkit_core::etl::EtlReader;
use pyetwkit_core::pipeline::{ChannelConfig, EtlReplay, Overflow, Pipeline, Received};
use pyetwkit_core::stages::{self, filter::Filter, Stages};
use pyetwkit_core::{Error as SourceError, EtwEvent};

fn file_stages(path: &std::path::Path, filter: Option<Filter>) -> Stages {
    stages::for_recording(path, &[], filter, Default::default())
}

/// The sample recording, written once per test process (tests run in parallel).
fn sample_path() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pyetwkit-pipeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sample.etl");
        std::fs::write(&path, pyetwkit_core::build_sample().unwrap()).unwrap();
        path
    })
    .clone()
}

fn start(
    path: &PathBuf,
    speed: Option<f64>,
    filter: Option<Filter>,
    config: ChannelConfig,
) -> (Pipeline, pyetwkit_core::pipeline::Consumer) {
    let source = EtlReplay::new(EtlReader::open(path).unwrap(), speed);
    Pipeline::start(Box::new(source), file_stages(path, filter), &config).unwrap()
}

fn drain(consumer: &mut pyetwkit_core::pipeline::Consumer) -> (Vec<EtwEvent>, Option<SourceError>) {
    let mut events = Vec::new();
    loop {
        match consumer.next_events(usize::MAX, None) {
            Received::Events(batch) => events.extend(batch),
            Received::End => return (events, None),
            Received::Failed(e) => return (events, Some(e)),
            Received::Timeout => unreachable!("no timeout was asked for"),
        }
    }
}

#[test]
fn block_mode_replays_exactly_the_reader_events() {
    let mut files = vec![sample_path()];
    files.extend(common::corpus_files());
    for path in files {
        let direct: Vec<EtwEvent> = EtlReader::open(&path)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        let config = ChannelConfig {
            capacity: 2,
            batch_size: 100,
            ..ChannelConfig::default()
        };
        let (mut pipeline, mut consumer) = start(&path, None, None, config);
        assert_eq!(pipeline.overflow(), Overflow::Block);
        let (events, error) = drain(&mut consumer);
        assert!(error.is_none(), "{}", path.display());
        assert_eq!(events.len(), direct.len(), "{}", path.display());
        assert!(
            events == direct,
            "{}: same events, same order",
            path.display()
        );
        pipeline.join();
        let s = pipeline.stats().snapshot();
        assert_eq!(
            (s.received, s.delivered, s.dropped, s.filtered_out),
            (direct.len() as u64, direct.len() as u64, 0, 0)
        );
        assert_eq!(s.etw_events_lost, None);
    }
}

#[test]
fn drop_mode_accounts_for_every_event() {
    let path = sample_path();
    let config = ChannelConfig {
        capacity: 1,
        batch_size: 3,
        overflow: Some(Overflow::Drop),
        ..ChannelConfig::default()
    };
    let filter = Filter::from_json(r#"{"op":"not","of":{"op":"opcode","opcodes":[46]}}"#).unwrap();
    let (mut pipeline, mut consumer) = start(&path, None, Some(filter), config);
    let mut delivered = 0;
    loop {
        std::thread::sleep(Duration::from_millis(2)); // a slow consumer
        match consumer.next_events(2, None) {
            Received::Events(b) => delivered += b.len() as u64,
            Received::End => break,
            other => panic!("{other:?}"),
        }
    }
    pipeline.join();
    let s = pipeline.stats().snapshot();
    assert_eq!(s.received, 128);
    assert_eq!(s.filtered_out, 40, "the 40 sampled-profile events");
    assert!(
        s.dropped > 0,
        "a 1-batch channel and a slow consumer must drop"
    );
    assert_eq!(s.delivered, delivered);
    assert_eq!(s.received, s.delivered + s.dropped + s.filtered_out);
}

#[test]
fn stop_ends_the_source_and_counts_what_was_not_delivered() {
    let path = sample_path();
    // Paced at 1/100 of real speed: 128 events over about 12 s, so stopping comes first.
    let (mut pipeline, mut consumer) = start(&path, Some(0.01), None, ChannelConfig::default());
    let first = consumer.next_events(1, Some(Duration::from_secs(5)));
    assert!(matches!(first, Received::Events(ref b) if b.len() == 1));
    let stopper = pipeline.stop_handle();
    let t = Instant::now();
    stopper.stop();
    pipeline.join();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "the sleeping source woke on stop"
    );
    assert!(matches!(consumer.next_events(10, None), Received::End));
    let s = pipeline.stats().snapshot();
    assert_eq!(s.received, s.delivered + s.dropped + s.filtered_out);
    assert!(s.received < 128);
}

#[test]
fn truncated_file_delivers_events_then_the_error() {
    let path = sample_path();
    let data = std::fs::read(&path).unwrap();
    let cut = path.with_file_name("cut.etl");
    // Only this test writes it.
    std::fs::write(&cut, &data[..data.len() - 500]).unwrap();
    let direct: Vec<EtwEvent> = EtlReader::open(&cut)
        .unwrap()
        .map_while(|e| e.ok())
        .collect();
    let (_pipeline, mut consumer) = start(&cut, None, None, ChannelConfig::default());
    let (events, error) = drain(&mut consumer);
    assert_eq!(events, direct);
    assert!(matches!(
        error,
        Some(SourceError::Etl(pyetwkit_core::EtlError::Format { .. }))
    ));
}

#[test]
fn paced_replay_flushes_a_lone_event_within_the_interval() {
    let path = sample_path();
    // The sample's events are 0.5 ms or more apart; at 1/20 speed, 10 ms or more.
    let config = ChannelConfig {
        batch_size: 1000,
        flush_interval: Duration::from_millis(5),
        ..ChannelConfig::default()
    };
    let (_pipeline, mut consumer) = start(&path, Some(0.05), None, config);
    let t = Instant::now();
    let mut batches = 0;
    let mut events = 0;
    while t.elapsed() < Duration::from_millis(500) {
        if let Received::Events(b) =
            consumer.next_events(usize::MAX, Some(Duration::from_millis(100)))
        {
            batches += 1;
            events += b.len();
        }
    }
    assert!(events > 0);
    assert!(batches >= events / 4, "partial batches were flushed, not held for 1000 events ({batches} batches, {events} events)");
}

#[test]
fn filters_select_in_rust() {
    let path = sample_path();
    let spec = r#"{"op":"all","of":[{"op":"provider","names":["pyetwkit-sample-app"]},{"op":"max_level","level":2}]}"#;
    let (_pipeline, mut consumer) = start(
        &path,
        None,
        Some(Filter::from_json(spec).unwrap()),
        ChannelConfig::default(),
    );
    let (events, _) = drain(&mut consumer);
    assert_eq!(events.len(), 4, "the four failed requests");
    assert!(events
        .iter()
        .all(|e| e.process_name() == Some("sampleapp.exe")));
    let by_process =
        Filter::from_json(r#"{"op":"process_name","names":["SampleApp.exe"]}"#).unwrap();
    let (_p, mut c) = start(&path, None, Some(by_process), ChannelConfig::default());
    let (events, _) = drain(&mut c);
    // Everything the app logged after its Process/Start, by pid: not the start itself (pid 1000).
    assert_eq!(events.len(), 1 + 1 + 1 + 2 * 40 + 2 + 1);
}

#[test]
fn preloaded_replay_gives_the_same_events_and_the_error_last() {
    let path = sample_path();
    let direct: Vec<EtwEvent> = EtlReader::open(&path)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    let source = EtlReplay::preloaded(EtlReader::open(&path).unwrap(), None);
    let (_p, mut c) = Pipeline::start(
        Box::new(source),
        file_stages(&path, None),
        &ChannelConfig::default(),
    )
    .unwrap();
    let (events, error) = drain(&mut c);
    assert!(error.is_none());
    assert_eq!(events, direct);
    let data = std::fs::read(&path).unwrap();
    let cut = path.with_file_name("cut-preload.etl");
    std::fs::write(&cut, &data[..data.len() - 700]).unwrap();
    let before: Vec<EtwEvent> = EtlReader::open(&cut)
        .unwrap()
        .map_while(|e| e.ok())
        .collect();
    let source = EtlReplay::preloaded(EtlReader::open(&cut).unwrap(), None);
    let (_p, mut c) = Pipeline::start(
        Box::new(source),
        file_stages(&cut, None),
        &ChannelConfig::default(),
    )
    .unwrap();
    let (events, error) = drain(&mut c);
    assert_eq!(events, before);
    assert!(matches!(
        error,
        Some(SourceError::Etl(pyetwkit_core::EtlError::Format { .. }))
    ));
}
