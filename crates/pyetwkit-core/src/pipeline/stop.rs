//! Stopping a pipeline: a flag for cheap checks, and a channel whose closing
//! wakes every sleeper at once (no polling).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// Held by whoever may stop the pipeline.
#[derive(Debug, Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    tx: Arc<Mutex<Option<Sender<()>>>>,
}

/// Held by the source and the consumer: tells, and wakes, when stopped.
#[derive(Debug, Clone)]
pub struct StopSignal {
    flag: Arc<AtomicBool>,
    rx: Receiver<()>,
}

pub fn stop_pair() -> (StopHandle, StopSignal) {
    let (tx, rx) = crossbeam_channel::bounded(0);
    let flag = Arc::new(AtomicBool::new(false));
    (
        StopHandle {
            flag: flag.clone(),
            tx: Arc::new(Mutex::new(Some(tx))),
        },
        StopSignal { flag, rx },
    )
}

impl StopHandle {
    /// Idempotent; safe from any thread.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Ok(mut tx) = self.tx.lock() {
            tx.take(); // closing the channel wakes every `StopSignal::sleep`
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl StopSignal {
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Sleeps for `d` unless stopped first; returns whether it was stopped.
    pub fn sleep(&self, d: Duration) -> bool {
        match self.rx.recv_timeout(d) {
            Err(RecvTimeoutError::Timeout) => self.is_stopped(),
            _ => true,
        }
    }

    /// The channel that closes on stop, for `select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.rx
    }
}
