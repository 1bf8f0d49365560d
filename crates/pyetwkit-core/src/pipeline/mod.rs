//! The streaming pipeline: a source thread filters and batches events and sends
//! them through a bounded crossbeam channel to the consumer (Python).

mod config;
mod consumer;
mod sink;
mod source;
mod stats;
mod stop;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use config::{ChannelConfig, Overflow};
pub use consumer::{Consumer, Received};
pub use sink::{Flow, Sink};
pub use source::{EtlReplay, Source};
pub use stats::{ReplayOrigin, Stats, StatsSnapshot};
pub use stop::{StopHandle, StopSignal};

use crate::error::EtlError;
use crate::event::EtwEvent;
use crate::filter::Filter;

/// Why a source stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Etl(#[from] EtlError),
    #[error("{0}")]
    Other(String),
}

/// What crosses the channel.
#[derive(Debug)]
pub enum Message {
    Batch(Vec<EtwEvent>),
    Failed(SourceError),
}

/// A running pipeline: the source thread, its stop handle and statistics.
/// Dropping it stops the source and joins its thread.
pub struct Pipeline {
    stop: StopHandle,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
    overflow: Overflow,
}

impl Pipeline {
    /// Starts `source` on its own thread; returns the pipeline and its consumer.
    pub fn start(
        source: Box<dyn Source>,
        filter: Option<Filter>,
        config: &ChannelConfig,
    ) -> std::io::Result<(Pipeline, Consumer)> {
        let overflow = config.overflow.unwrap_or_else(|| source.default_overflow());
        let (tx, rx) = crossbeam_channel::bounded(config.capacity.max(1));
        let (stop, signal) = stop::stop_pair();
        let stats = Arc::new(Stats::default());
        let mut sink = Sink::new(
            tx,
            signal.clone(),
            filter,
            config.batch_size,
            config.flush_interval,
            overflow,
            stats.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("pyetwkit-source".into())
            .spawn(move || {
                // A bug in a source must end the stream with an error, never unwind into Python.
                let result = catch_unwind(AssertUnwindSafe(|| source.run(&mut sink)));
                let failure = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some(SourceError::Other(
                        "internal error: the event source panicked".into(),
                    )),
                };
                sink.finish(failure);
            })?;
        let consumer = Consumer::new(rx, signal, stats.clone());
        Ok((
            Pipeline {
                stop,
                stats,
                thread: Some(thread),
                overflow,
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

    /// Stops the source and waits for its thread. Idempotent.
    pub fn stop(&mut self) {
        self.stop.stop();
        self.join();
    }

    /// Waits for the source thread to end by itself.
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats.mark_finished();
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
