//! The Python side of a pipeline: receives batches and hands out events, with
//! the stop and the accounting of what was never handed out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};

use super::stats::Stats;
use super::stop::StopSignal;
use super::Message;
use crate::error::Error;
use crate::event::EtwEvent;

/// What waiting for events gave.
#[derive(Debug)]
pub enum Received {
    Events(Vec<EtwEvent>),
    /// The timeout passed with no event.
    Timeout,
    /// The source ended (or the pipeline was stopped); nothing more will come.
    End,
    /// The source failed; every event before the fault was delivered first.
    Failed(Error),
}

pub struct Consumer {
    rx: Receiver<Message>,
    stop: StopSignal,
    stats: Arc<Stats>,
    pending: VecDeque<EtwEvent>,
    /// A failure found while topping up, reported once the events before it are out.
    failure: Option<Error>,
    ended: bool,
}

impl Consumer {
    pub(crate) fn new(rx: Receiver<Message>, stop: StopSignal, stats: Arc<Stats>) -> Consumer {
        Consumer {
            rx,
            stop,
            stats,
            pending: VecDeque::new(),
            failure: None,
            ended: false,
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Up to `max` events, waiting at most `timeout` (`None`: until one comes or the
    /// stream ends). Wakes early on stop. Delivered events are counted.
    pub fn next_events(&mut self, max: usize, timeout: Option<Duration>) -> Received {
        if self.stop.is_stopped() {
            return self.end();
        }
        if self.pending.is_empty() {
            if let Some(e) = self.failure.take() {
                self.ended = true;
                return Received::Failed(e);
            }
        }
        if self.pending.is_empty() && !self.ended {
            match self.wait(timeout) {
                Some(Message::Batch(events)) => self.pending.extend(events),
                Some(Message::Failed(e)) => {
                    self.ended = true;
                    return Received::Failed(e);
                }
                None if self.ended => return self.end(),
                None => return Received::Timeout,
            }
        }
        if self.pending.is_empty() {
            return self.end();
        }
        let max = max.max(1);
        // Top up with batches already waiting, without waiting for more: fewer
        // crossings into Python when it is behind, no added latency when not.
        while self.pending.len() < max {
            match self.rx.try_recv() {
                Ok(Message::Batch(events)) => self.pending.extend(events),
                Ok(Message::Failed(e)) => {
                    self.failure = Some(e);
                    break;
                }
                Err(_) => break,
            }
        }
        let n = max.min(self.pending.len());
        let out: Vec<EtwEvent> = self.pending.drain(..n).collect();
        self.stats.add_delivered(out.len() as u64);
        Received::Events(out)
    }

    /// One message, or `None` on timeout (or end: `self.ended` is set).
    fn wait(&mut self, timeout: Option<Duration>) -> Option<Message> {
        let stop = self.stop.receiver().clone();
        let got = match timeout {
            None => select! {
                recv(self.rx) -> m => m.ok(),
                recv(stop) -> _ => None,
            },
            Some(t) => {
                let deadline = Instant::now() + t;
                select! {
                    recv(self.rx) -> m => m.ok(),
                    recv(stop) -> _ => None,
                    default(deadline.saturating_duration_since(Instant::now())) => {
                        return None;
                    }
                }
            }
        };
        if got.is_none() {
            self.ended = true;
        }
        got
    }

    fn end(&mut self) -> Received {
        self.ended = true;
        self.discard_rest();
        Received::End
    }

    /// Counts everything not handed out as dropped (on stop and close).
    pub fn discard_rest(&mut self) {
        let mut n = self.pending.len() as u64;
        self.pending.clear();
        while let Ok(m) = self.rx.try_recv() {
            if let Message::Batch(events) = m {
                n += events.len() as u64;
            }
        }
        self.stats.add_dropped(n);
    }
}
