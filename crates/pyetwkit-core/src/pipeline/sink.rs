//! `EventSink`: the owned, `Send` end a source pushes events into. It runs the
//! chain of stages on the pushing thread, then hands the event to the
//! pipeline's batcher. Pushing never waits for the consumer under the `drop`
//! policy (live sources); under `block` (files) it waits for room.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::batcher::Batcher;
use super::control::SourceControl;
use super::stats::Stats;
use crate::error::Error;
use crate::event::EtwEvent;
use crate::stages::Stages;

/// Whether a source should go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

pub struct EventSink {
    stages: Stages,
    batcher: Arc<Batcher>,
    stats: Arc<Stats>,
    control: SourceControl,
}

impl EventSink {
    pub(crate) fn new(
        stages: Stages,
        batcher: Arc<Batcher>,
        stats: Arc<Stats>,
        control: SourceControl,
    ) -> EventSink {
        EventSink {
            stages,
            batcher,
            stats,
            control,
        }
    }

    /// Takes one event from the source: every event pushed is counted as
    /// received, then ends as delivered, filtered out or dropped.
    #[inline]
    pub fn push(&mut self, mut event: EtwEvent) -> Flow {
        self.stats.add_received(1);
        if self.control.should_stop() {
            self.stats.add_dropped(1);
            return Flow::Stop;
        }
        if !self.stages.process(&mut event) {
            self.stats.add_filtered(1);
            return Flow::Continue;
        }
        match self.batcher.add(event) {
            true => Flow::Continue,
            false => Flow::Stop,
        }
    }

    /// How the source learns to stop, registers its stop hook, reports failures.
    pub fn control(&self) -> &SourceControl {
        &self.control
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Runs `f` (the work of one callback) and catches a panic inside it: the
    /// stream then ends with an error after the events before it, and the
    /// source is asked to stop. A panic must never leave an ETW callback
    /// (ferrisetw exits the process), nor reach Python.
    pub fn guard<R>(&mut self, f: impl FnOnce(&mut EventSink) -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.control
                    .fail(Error::from_panic("the event callback", payload.as_ref()));
                None
            }
        }
    }
}
