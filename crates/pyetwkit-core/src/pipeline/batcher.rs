//! Batching with flush deadlines, owned by the pipeline: the source's pushes
//! fill a batch under a short lock, and a flusher thread sends a partial batch
//! when its oldest event has waited `flush_interval`, so a lone event arrives in
//! time even when nothing follows it. Sends happen under the same lock, so
//! batches leave in the order their events came.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Sender, TrySendError};

use super::config::Overflow;
use super::stats::Stats;
use super::stop::StopSignal;
use super::Message;
use crate::error::Error;
use crate::event::EtwEvent;
use std::sync::Arc;

pub(crate) struct Batcher {
    state: Mutex<State>,
    wake_flusher: Condvar,
    tx: Sender<Message>,
    /// The consumer's stop: a blocked send gives up on it.
    stopped: StopSignal,
    overflow: Overflow,
    batch_size: usize,
    flush_interval: Duration,
    stats: Arc<Stats>,
}

struct State {
    events: Vec<EtwEvent>,
    /// When the current batch must leave at the latest.
    deadline: Option<Instant>,
    /// The flusher waits for a batch to start (no deadline to sleep until).
    flusher_idle: bool,
    finished: bool,
}

impl Batcher {
    pub(crate) fn new(
        tx: Sender<Message>,
        stopped: StopSignal,
        overflow: Overflow,
        batch_size: usize,
        flush_interval: Duration,
        stats: Arc<Stats>,
    ) -> Batcher {
        Batcher {
            state: Mutex::new(State {
                events: Vec::with_capacity(batch_size),
                deadline: None,
                flusher_idle: false,
                finished: false,
            }),
            wake_flusher: Condvar::new(),
            tx,
            stopped,
            overflow,
            batch_size,
            flush_interval,
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an event that passed the stages. False once the stream is over
    /// (the event is then counted as dropped).
    #[inline]
    pub(crate) fn add(&self, event: EtwEvent) -> bool {
        let mut st = self.lock();
        if st.finished || self.stopped.is_stopped() {
            self.stats.add_dropped(1);
            return false;
        }
        if st.events.is_empty() {
            // Past what the clock can represent: no deadline, the batch leaves full.
            st.deadline = Instant::now().checked_add(self.flush_interval);
            if st.flusher_idle {
                self.wake_flusher.notify_one();
            }
        }
        st.events.push(event);
        if st.events.len() >= self.batch_size {
            return self.send(&mut st);
        }
        true
    }

    /// Sends the current batch by the overflow policy; false if the consumer is gone.
    fn send(&self, st: &mut State) -> bool {
        st.deadline = None;
        if st.events.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut st.events, Vec::with_capacity(self.batch_size));
        let n = batch.len() as u64;
        let sent = match self.overflow {
            Overflow::Drop => match self.tx.try_send(Message::Batch(batch)) {
                Ok(()) => return true,
                Err(TrySendError::Full(_)) => {
                    self.stats.add_dropped(n);
                    return true;
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
            Overflow::Block => {
                let stop = self.stopped.receiver().clone();
                select! {
                    send(self.tx, Message::Batch(batch)) -> sent => sent.is_ok(),
                    recv(stop) -> _ => false,
                }
            }
        };
        if !sent {
            self.stats.add_dropped(n);
        }
        sent
    }

    /// The flusher thread's loop: sends partial batches at their deadline,
    /// sleeping (not polling) in between; returns once the stream is finished.
    pub(crate) fn run_flusher(&self) {
        let mut st = self.lock();
        while !st.finished {
            match st.deadline {
                None => {
                    st.flusher_idle = true;
                    st = self
                        .wake_flusher
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner());
                    st.flusher_idle = false;
                }
                Some(due) => {
                    let now = Instant::now();
                    if due <= now {
                        self.send(&mut st);
                    } else {
                        st = self
                            .wake_flusher
                            .wait_timeout(st, due - now)
                            .map_or_else(|p| p.into_inner().0, |r| r.0);
                    }
                }
            }
        }
    }

    /// Ends the stream: sends what is left (or counts it as dropped when the
    /// consumer stopped), then the failure if any, and lets the flusher go.
    pub(crate) fn finish(&self, failure: Option<Error>) {
        let mut st = self.lock();
        if self.stopped.is_stopped() {
            self.stats.add_dropped(st.events.len() as u64);
            st.events.clear();
        } else if self.send(&mut st) {
            if let Some(err) = failure {
                // Always gets through, after the events before it, unless stopped.
                let stop = self.stopped.receiver().clone();
                select! {
                    send(self.tx, Message::Failed(err)) -> _ => {},
                    recv(stop) -> _ => {},
                }
            }
        }
        st.finished = true;
        self.wake_flusher.notify_all();
        self.stats.mark_finished();
    }
}
