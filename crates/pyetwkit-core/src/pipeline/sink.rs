//! The source side of a pipeline: process tracking, filtering, batching and
//! sending, with the overflow policy. Runs on the source's thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Sender, TrySendError};

use super::config::Overflow;
use super::stats::Stats;
use super::stop::StopSignal;
use super::Message;
use crate::event::EtwEvent;
use crate::filter::Filter;
use crate::process::ProcessTable;

/// Whether a source should go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

pub struct Sink {
    tx: Sender<Message>,
    stop: StopSignal,
    filter: Option<Filter>,
    processes: ProcessTable,
    batch: Vec<EtwEvent>,
    /// When the oldest event of the current batch must be sent at the latest.
    deadline: Option<Instant>,
    batch_size: usize,
    flush_interval: Duration,
    overflow: Overflow,
    stats: Arc<Stats>,
}

impl Sink {
    pub(crate) fn new(
        tx: Sender<Message>,
        stop: StopSignal,
        filter: Option<Filter>,
        batch_size: usize,
        flush_interval: Duration,
        overflow: Overflow,
        stats: Arc<Stats>,
    ) -> Sink {
        Sink {
            tx,
            stop,
            filter,
            processes: ProcessTable::default(),
            batch: Vec::with_capacity(batch_size),
            deadline: None,
            batch_size: batch_size.max(1),
            flush_interval,
            overflow,
            stats,
        }
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }

    /// Takes one event from the source: sets its process context (the same
    /// `ProcessTable` the file reader uses), filters, batches.
    pub fn push(&mut self, mut event: EtwEvent) -> Flow {
        if self.stop.is_stopped() {
            return Flow::Stop;
        }
        self.stats.add_received(1);
        // Before filtering: the process-name filter reads the event's context.
        self.processes.annotate(&mut event);
        if let Some(filter) = &self.filter {
            if !filter.matches(&event) {
                self.stats.add_filtered(1);
                return Flow::Continue;
            }
        }
        if self.batch.is_empty() {
            self.deadline = Some(Instant::now() + self.flush_interval);
        }
        self.batch.push(event);
        if self.batch.len() >= self.batch_size {
            return self.flush();
        }
        Flow::Continue
    }

    /// Sends a partial batch whose flush deadline has passed. Live sources call
    /// this when they are idle; paced sources get it from `sleep_until`.
    pub fn tick(&mut self) -> Flow {
        match self.deadline {
            Some(d) if d <= Instant::now() => self.flush(),
            _ => Flow::Continue,
        }
    }

    /// Waits until `t`, sending the partial batch when its deadline comes first.
    pub fn sleep_until(&mut self, t: Instant) -> Flow {
        loop {
            let now = Instant::now();
            let wake = match self.deadline {
                Some(d) if d < t => d,
                _ => t,
            };
            if wake > now && self.stop.sleep(wake - now) {
                return Flow::Stop;
            }
            if wake == t {
                return Flow::Continue;
            }
            if self.flush() == Flow::Stop {
                return Flow::Stop;
            }
        }
    }

    /// Sends the current batch, by the overflow policy.
    pub fn flush(&mut self) -> Flow {
        self.deadline = None;
        if self.batch.is_empty() {
            return Flow::Continue;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
        let n = batch.len() as u64;
        match self.overflow {
            Overflow::Drop => match self.tx.try_send(Message::Batch(batch)) {
                Ok(()) => Flow::Continue,
                Err(TrySendError::Full(_)) => {
                    self.stats.add_dropped(n);
                    Flow::Continue
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.stats.add_dropped(n);
                    Flow::Stop
                }
            },
            Overflow::Block => {
                let stop = self.stop.receiver().clone();
                select! {
                    send(self.tx, Message::Batch(batch)) -> sent => match sent {
                        Ok(()) => Flow::Continue,
                        Err(_) => {
                            self.stats.add_dropped(n);
                            Flow::Stop
                        }
                    },
                    recv(stop) -> _ => {
                        self.stats.add_dropped(n);
                        Flow::Stop
                    }
                }
            }
        }
    }

    /// Ends the stream: sends what is left, then the source's error if any.
    pub(crate) fn finish(mut self, failure: Option<super::SourceError>) {
        if self.stop.is_stopped() {
            self.stats.add_dropped(self.batch.len() as u64);
            self.batch.clear();
        } else if self.flush() == Flow::Stop {
            return;
        }
        if let Some(err) = failure {
            // The error always gets through (after the events before it) unless stopped.
            let stop = self.stop.receiver().clone();
            select! {
                send(self.tx, Message::Failed(err)) -> _ => {},
                recv(stop) -> _ => {},
            }
        }
        self.stats.mark_finished();
    }
}
