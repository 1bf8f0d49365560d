//! The seam for callback-driven sources, proven with a fake one shaped like
//! ETW: a thread we do not own calls a `'static` closure per event, blocks
//! between events, and returns only when its stop hook is called.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use pyetwkit_core::pipeline::{
    ChannelConfig, Consumer, EventSink, Overflow, Pipeline, Received, Source, StopOutcome,
};
use pyetwkit_core::stages::schemas::SchemaRegistry;
use pyetwkit_core::stages::Stages;
use pyetwkit_core::{Error, EtwEvent, EventKind, Guid, SharedBytes};

/// What the fake "ETW" thread is told: deliver an event, or end the session.
enum Feed {
    Event(u32),
    /// The callback panics on this event.
    Panic,
}

/// A source whose events arrive by callback from a thread it does not own,
/// fed by the test through `feed`. Its session ends only through the stop hook.
struct FakeEtw {
    feed: Receiver<Feed>,
    /// Set when the stop hook ran.
    hook_ran: Arc<AtomicBool>,
    /// A source that ignores its stop (for the bounded wait).
    ignores_stop: bool,
}

fn event(n: u32) -> EtwEvent {
    EtwEvent {
        kind: EventKind::Event,
        header_type: None,
        provider_id: Guid::from_fields(0x1234_5678, 1, 2, [3; 8]),
        hook_id: None,
        kernel_class: None,
        pointer_size: 8,
        event_id: (n % 7) as u16,
        version: 0,
        opcode: 0,
        level: 4,
        task: 0,
        keywords: 0,
        channel: 0,
        pid: Some(n),
        tid: Some(1),
        processor: Some(0),
        filetime: 132_000_000_000_000_000 + i64::from(n),
        user_data: SharedBytes::from_vec(n.to_le_bytes().to_vec()),
        activity_id: None,
        extended: SharedBytes::default(),
        file_offset: None,
        process: None,
        schema: None,
        annotation: None,
    }
}

impl Source for FakeEtw {
    fn default_overflow(&self) -> Overflow {
        Overflow::Drop
    }

    fn run(self: Box<Self>, sink: EventSink) -> Result<(), Error> {
        let control = sink.control().clone();
        // The session's "ProcessTrace": blocks for events, ends on the hook.
        let (end_tx, end_rx) = crossbeam_channel::bounded::<()>(0);
        let end_tx = std::sync::Mutex::new(Some(end_tx));
        let hook_ran = self.hook_ran.clone();
        let ignores_stop = self.ignores_stop;
        control.on_stop(move || {
            hook_ran.store(true, Ordering::SeqCst);
            let end = end_tx.lock().unwrap().take();
            if ignores_stop {
                std::mem::forget(end); // the session never ends
            } else {
                drop(end); // ControlTrace(STOP): ProcessTrace returns
            }
        });
        let mut sink = sink;
        // The 'static callback owns the sink, as a ferrisetw callback would.
        let mut callback = move |feed: Feed| {
            sink.guard(|sink| match feed {
                Feed::Event(n) => {
                    sink.push(event(n));
                }
                Feed::Panic => panic!("a bug in the callback"),
            });
        };
        let feed = self.feed;
        let etw_thread = std::thread::spawn(move || loop {
            crossbeam_channel::select! {
                recv(feed) -> f => match f {
                    Ok(f) => callback(f),
                    Err(_) => std::thread::park(), // the feed is gone: idle until stopped
                },
                recv(end_rx) -> _ => return,
            }
        });
        etw_thread
            .join()
            .map_err(|_| Error::Source("the fake ETW thread died".into()))
    }
}

struct Harness {
    pipeline: Pipeline,
    consumer: Consumer,
    feed: Sender<Feed>,
    hook_ran: Arc<AtomicBool>,
}

fn start(config: ChannelConfig, ignores_stop: bool) -> Harness {
    let (feed, rx) = crossbeam_channel::unbounded();
    let hook_ran = Arc::new(AtomicBool::new(false));
    let source = FakeEtw {
        feed: rx,
        hook_ran: hook_ran.clone(),
        ignores_stop,
    };
    let stages = Stages::new(Box::new(SchemaRegistry::default()), None);
    let (pipeline, consumer) = Pipeline::start(Box::new(source), stages, &config).unwrap();
    Harness {
        pipeline,
        consumer,
        feed,
        hook_ran,
    }
}

fn pids(events: &[EtwEvent]) -> Vec<u32> {
    events.iter().map(|e| e.pid.unwrap()).collect()
}

#[test]
fn events_arrive_in_order() {
    let mut h = start(
        ChannelConfig {
            batch_size: 7,
            capacity: 1000, // room for all: this test is about order, not overflow
            ..ChannelConfig::default()
        },
        false,
    );
    for n in 0..1000 {
        h.feed.send(Feed::Event(n)).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 1000 {
        match h
            .consumer
            .next_events(usize::MAX, Some(Duration::from_secs(10)))
        {
            Received::Events(b) => got.extend(pids(&b)),
            other => panic!("{other:?} after {} events", got.len()),
        }
    }
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    assert_eq!(h.pipeline.stop(), StopOutcome::Stopped);
    let s = h.pipeline.stats().snapshot();
    assert_eq!((s.received, s.delivered, s.dropped), (1000, 1000, 0));
}

#[test]
fn a_lone_event_arrives_within_the_flush_deadline() {
    let flush = Duration::from_millis(20);
    let mut h = start(
        ChannelConfig {
            batch_size: 1000,
            flush_interval: flush,
            ..ChannelConfig::default()
        },
        false,
    );
    for n in 0..3 {
        let sent = Instant::now();
        h.feed.send(Feed::Event(n)).unwrap();
        // Nothing follows it: only the pipeline's flusher can send the batch.
        match h
            .consumer
            .next_events(usize::MAX, Some(Duration::from_secs(10)))
        {
            Received::Events(b) => assert_eq!(pids(&b), vec![n]),
            other => panic!("{other:?}"),
        }
        let waited = sent.elapsed();
        assert!(waited >= flush, "held until its deadline: {waited:?}");
        // A generous bound: shared machines are noisy, but a lost wakeup waits forever.
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }
}

#[test]
fn stop_unblocks_a_source_waiting_for_its_next_event() {
    let mut h = start(ChannelConfig::default(), false);
    h.feed.send(Feed::Event(1)).unwrap();
    assert!(matches!(
        h.consumer.next_events(1, Some(Duration::from_secs(10))),
        Received::Events(_)
    ));
    // The fake ETW thread now blocks, waiting for an event that never comes.
    assert!(h.pipeline.is_running());
    assert_eq!(h.pipeline.stop(), StopOutcome::Stopped);
    assert!(h.hook_ran.load(Ordering::SeqCst), "stop called the hook");
    assert!(!h.pipeline.is_running());
    assert!(matches!(h.consumer.next_events(1, None), Received::End));
}

#[test]
fn a_source_that_ignores_its_stop_is_reported_not_waited_on() {
    let mut h = start(
        ChannelConfig {
            stop_timeout: Duration::from_millis(100),
            ..ChannelConfig::default()
        },
        true,
    );
    let t = Instant::now();
    assert_eq!(
        h.pipeline.stop(),
        StopOutcome::Unresponsive(Duration::from_millis(100))
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(h.hook_ran.load(Ordering::SeqCst));
    drop(h.feed); // the thread idles parked; the process exits regardless
}

#[test]
fn a_panic_in_the_callback_ends_the_stream_with_an_error() {
    let mut h = start(ChannelConfig::default(), false);
    for n in 0..5 {
        h.feed.send(Feed::Event(n)).unwrap();
    }
    h.feed.send(Feed::Panic).unwrap();
    h.feed.send(Feed::Event(99)).unwrap(); // after the fault: never delivered
    let mut got = Vec::new();
    let error = loop {
        match h
            .consumer
            .next_events(usize::MAX, Some(Duration::from_secs(10)))
        {
            Received::Events(b) => got.extend(pids(&b)),
            Received::Failed(e) => break e,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        got,
        vec![0, 1, 2, 3, 4],
        "every event before the fault, in order"
    );
    assert!(
        matches!(&error, Error::Panicked(m) if m.contains("a bug in the callback")),
        "{error}"
    );
    assert!(
        h.hook_ran.load(Ordering::SeqCst),
        "the failure stopped the session"
    );
    h.pipeline.join();
    let s = h.pipeline.stats().snapshot();
    assert_eq!(s.received, s.delivered + s.dropped + s.filtered_out);
}

#[test]
fn drop_overflow_is_counted_exactly() {
    let mut h = start(
        ChannelConfig {
            capacity: 2,
            batch_size: 10,
            flush_interval: Duration::from_secs(3600),
            ..ChannelConfig::default()
        },
        false,
    );
    assert_eq!(h.pipeline.overflow(), Overflow::Drop);
    // Nobody reads: two full batches fit, every later batch is dropped whole.
    for n in 0..1000 {
        h.feed.send(Feed::Event(n)).unwrap();
    }
    // Wait until the fake ETW thread has pushed all 1000 (received counts pushes).
    let t = Instant::now();
    while h.pipeline.stats().snapshot().received < 1000 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(1));
    }
    let s = h.pipeline.stats().snapshot();
    assert_eq!(
        s.dropped,
        1000 - 20,
        "all but the two batches the channel holds"
    );
    let mut got = Vec::new();
    while let Received::Events(b) = h.consumer.next_events(usize::MAX, Some(Duration::ZERO)) {
        got.extend(pids(&b));
    }
    assert_eq!(
        got,
        (0..20).collect::<Vec<_>>(),
        "the first two batches, whole"
    );
    h.pipeline.stop();
    let s = h.pipeline.stats().snapshot();
    assert_eq!((s.received, s.delivered, s.dropped), (1000, 20, 980));
    assert_eq!(s.received, s.delivered + s.dropped + s.filtered_out);
}
