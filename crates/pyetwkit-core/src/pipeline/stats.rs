//! Pipeline statistics, shared between the source thread and the consumer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Counters: every event the source produced is, once the consumer is done,
/// exactly one of delivered, filtered out or dropped.
#[derive(Debug)]
pub struct Stats {
    received: AtomicU64,
    filtered_out: AtomicU64,
    dropped: AtomicU64,
    delivered: AtomicU64,
    etw_events_lost: AtomicU64,
    etw_buffers_lost: AtomicU64,
    has_etw_counters: AtomicBool,
    started: Instant,
    finished: Mutex<Option<Instant>>,
    replay_origin: Mutex<Option<ReplayOrigin>>,
}

/// Where paced replay started: wall-clock time (Unix seconds) and the FILETIME
/// of the first event, so a consumer can tell how late each event arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayOrigin {
    pub unix_seconds: f64,
    pub filetime: i64,
    pub speed: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StatsSnapshot {
    pub received: u64,
    pub delivered: u64,
    pub filtered_out: u64,
    pub dropped: u64,
    /// ETW's own losses, from a live session; `None` for files.
    pub etw_events_lost: Option<u64>,
    pub etw_buffers_lost: Option<u64>,
    pub elapsed: Duration,
    /// Events received per second of elapsed time.
    pub events_per_second: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            received: AtomicU64::new(0),
            filtered_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            etw_events_lost: AtomicU64::new(0),
            etw_buffers_lost: AtomicU64::new(0),
            has_etw_counters: AtomicBool::new(false),
            started: Instant::now(),
            finished: Mutex::new(None),
            replay_origin: Mutex::new(None),
        }
    }
}

impl Stats {
    pub(crate) fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_filtered(&self, n: u64) {
        self.filtered_out.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Relaxed);
    }
    pub(crate) fn add_delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Relaxed);
    }
    /// Events handed to the consumer's caller but given back unseen (on close).
    pub fn undeliver(&self, n: u64) {
        self.delivered.fetch_sub(n, Relaxed);
        self.dropped.fetch_add(n, Relaxed);
    }
    /// A live source reports ETW's own loss counters (totals so far).
    pub fn set_etw_losses(&self, events_lost: u64, buffers_lost: u64) {
        self.etw_events_lost.store(events_lost, Relaxed);
        self.etw_buffers_lost.store(buffers_lost, Relaxed);
        self.has_etw_counters.store(true, Relaxed);
    }
    pub(crate) fn mark_finished(&self) {
        if let Ok(mut f) = self.finished.lock() {
            f.get_or_insert_with(Instant::now);
        }
    }
    pub(crate) fn set_replay_origin(&self, filetime: i64, speed: f64) {
        let unix_seconds = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if let Ok(mut o) = self.replay_origin.lock() {
            *o = Some(ReplayOrigin {
                unix_seconds,
                filetime,
                speed,
            });
        }
    }
    pub fn replay_origin(&self) -> Option<ReplayOrigin> {
        self.replay_origin.lock().ok().and_then(|o| *o)
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let finished = self.finished.lock().ok().and_then(|f| *f);
        let elapsed = finished.unwrap_or_else(Instant::now) - self.started;
        let received = self.received.load(Relaxed);
        let etw = self.has_etw_counters.load(Relaxed);
        StatsSnapshot {
            received,
            delivered: self.delivered.load(Relaxed),
            filtered_out: self.filtered_out.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            etw_events_lost: etw.then(|| self.etw_events_lost.load(Relaxed)),
            etw_buffers_lost: etw.then(|| self.etw_buffers_lost.load(Relaxed)),
            elapsed,
            events_per_second: if elapsed.is_zero() {
                0.0
            } else {
                received as f64 / elapsed.as_secs_f64()
            },
        }
    }
}
