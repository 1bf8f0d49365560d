//! The streaming pipeline. A source pushes events into an `EventSink` (from
//! its own loop, or from a callback on a thread it does not own); the sink runs
//! the chain of stages and batches; the pipeline's flusher sends partial
//! batches at their deadline; a bounded crossbeam channel carries batches to
//! the consumer (Python).

mod batcher;
mod config;
mod consumer;
mod control;
mod sink;
mod source;
mod stats;
mod stop;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use config::{seconds, ChannelConfig, Overflow};
pub use consumer::{Consumer, Received};
pub use control::SourceControl;
pub use sink::{EventSink, Flow};
pub use source::{EtlReplay, Source};
pub use stats::{ReplayOrigin, Stats, StatsSnapshot};
pub use stop::{StopHandle, StopSignal};

use crate::error::Error;
use crate::event::EtwEvent;
use crate::stages::Stages;
use batcher::Batcher;

/// What crosses the channel.
#[derive(Debug)]
pub enum Message {
    Batch(Vec<EtwEvent>),
    Failed(Error),
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The source returned (or had already).
    Stopped,
    /// The source did not return within the bound; its thread was left behind.
    Unresponsive(Duration),
}

/// A running pipeline: the source and flusher threads, the stops and
/// statistics. Dropping it stops the source.
pub struct Pipeline {
    stop: StopHandle,
    control: SourceControl,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
    /// Sends partial batches at their deadline; ends once the stream is finished.
    flusher: Option<JoinHandle<()>>,
    /// Weak: the channel must close when the source's side is gone.
    batcher: std::sync::Weak<Batcher>,
    /// Closed when the source thread is done, for a bounded join.
    done: crossbeam_channel::Receiver<()>,
    overflow: Overflow,
    stop_timeout: Duration,
}

impl Pipeline {
    /// Starts `source` on its own thread with `stages` on the pushing side;
    /// returns the pipeline and its consumer.
    pub fn start(
        source: Box<dyn Source>,
        stages: Stages,
        config: &ChannelConfig,
    ) -> Result<(Pipeline, Consumer), Error> {
        config.check()?;
        let overflow = config.overflow.unwrap_or_else(|| source.default_overflow());
        let (tx, rx) = crossbeam_channel::bounded(config.capacity);
        let (stop, signal) = stop::stop_pair();
        let stats = Arc::new(Stats::default());
        let control = SourceControl::new();
        let batcher = Arc::new(Batcher::new(
            tx,
            signal.clone(),
            overflow,
            config.batch_size,
            config.flush_interval,
            stats.clone(),
        ));
        let flushing = batcher.clone();
        let flusher = std::thread::Builder::new()
            .name("pyetwkit-flush".into())
            .spawn(move || flushing.run_flusher())
            .map_err(Error::Thread)?;
        let sink = EventSink::new(stages, batcher.clone(), stats.clone(), control.clone());
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let finisher = batcher.clone();
        let source_control = control.clone();
        let spawned = std::thread::Builder::new()
            .name("pyetwkit-source".into())
            .spawn(move || {
                // A bug in a source ends the stream with an error, never unwinds further.
                let result = catch_unwind(AssertUnwindSafe(|| source.run(sink)));
                let failure = match result {
                    Ok(Ok(())) => source_control.take_failure(),
                    Ok(Err(e)) => Some(e),
                    Err(payload) => Some(Error::from_panic("the event source", payload.as_ref())),
                };
                batcher.finish(failure);
                drop(done_tx);
            });
        let thread = match spawned {
            Ok(t) => t,
            Err(e) => {
                finisher.finish(None); // lets the flusher thread go
                let _ = flusher.join();
                return Err(Error::Thread(e));
            }
        };
        let consumer = Consumer::new(rx, signal, stats.clone());
        Ok((
            Pipeline {
                stop,
                control,
                stats,
                thread: Some(thread),
                flusher: Some(flusher),
                batcher: Arc::downgrade(&finisher),
                done,
                overflow,
                stop_timeout: config.stop_timeout,
            },
            consumer,
        ))
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// Stops the consumer's stream and the source (its stop hook runs here),
    /// then waits for the source thread, at most `stop_timeout`. Idempotent.
    pub fn stop(&mut self) -> StopOutcome {
        self.stop.stop();
        self.control.request_stop();
        if self.thread.is_none() {
            return StopOutcome::Stopped;
        }
        match self.done.recv_timeout(self.stop_timeout) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                // Never wait forever on a source that ignores its stop: leave its
                // thread behind (what it pushes later counts as dropped).
                self.thread.take();
                if let Some(batcher) = self.batcher.upgrade() {
                    batcher.finish(None);
                }
                self.join_flusher();
                StopOutcome::Unresponsive(self.stop_timeout)
            }
            _ => {
                self.join();
                StopOutcome::Stopped
            }
        }
    }

    /// Waits for the source thread to end by itself, then for the flusher,
    /// which ends once the source has finished the stream: no thread is left.
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.join_flusher();
        self.stats.mark_finished();
    }

    fn join_flusher(&mut self) {
        if let Some(f) = self.flusher.take() {
            let _ = f.join();
        }
    }

    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}
