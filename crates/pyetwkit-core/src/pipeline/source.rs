//! Sources: where events come from. A source gets an owned `EventSink` that it
//! may move into a `'static` callback (a live session), or push from the loop
//! of `run` (a file). The pipeline owns flush deadlines and stopping.

use std::time::{Duration, Instant};

use super::config::Overflow;
use super::sink::{EventSink, Flow};
use crate::error::Error;
use crate::etl::EtlReader;

/// Produces events into a sink, on the pipeline's source thread.
pub trait Source: Send + 'static {
    /// Blocking (lossless) for sources that can wait; dropping for live ones.
    fn default_overflow(&self) -> Overflow;
    /// Runs until the source is exhausted, told to stop, or fails. A source
    /// driven by callbacks moves `sink` into its callback, registers a stop
    /// hook with `sink.control().on_stop(...)`, and blocks until its session
    /// ends; events pushed after `run` returns are counted as dropped.
    fn run(self: Box<Self>, sink: EventSink) -> Result<(), Error>;
}

/// An .etl file, as fast as possible or paced at its recorded speed.
pub struct EtlReplay {
    reader: EtlReader,
    /// `None`: as fast as possible; `Some(k)`: k times the recorded speed.
    speed: Option<f64>,
}

impl EtlReplay {
    /// `speed` must be positive and finite when given (checked by the caller).
    pub fn new(reader: EtlReader, speed: Option<f64>) -> EtlReplay {
        EtlReplay {
            reader,
            speed: speed.filter(|s| s.is_finite() && *s > 0.0),
        }
    }

    /// Reads and decompresses the whole file into memory now, so the replay
    /// itself does no I/O: like a live source, events are built from buffers in
    /// memory (memory grows with the file).
    pub fn preloaded(mut reader: EtlReader, speed: Option<f64>) -> EtlReplay {
        reader.preload();
        EtlReplay::new(reader, speed)
    }
}

/// When an event `ticks` (100 ns) after the first is due at `speed`; `None` when
/// that is too far away to represent (wait for a stop instead).
fn due_at(started: Instant, ticks: i64, speed: f64) -> Option<Instant> {
    let seconds = ticks.max(0) as f64 / 1e7 / speed;
    started.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
}

impl Source for EtlReplay {
    fn default_overflow(&self) -> Overflow {
        Overflow::Block
    }

    fn run(mut self: Box<Self>, mut sink: EventSink) -> Result<(), Error> {
        let control = sink.control().clone();
        let started = Instant::now();
        let mut origin: Option<i64> = None;
        while let Some(event) = self.reader.next_event()? {
            if let Some(speed) = self.speed {
                let first = *origin.get_or_insert_with(|| {
                    sink.stats().set_replay_origin(event.filetime, speed);
                    event.filetime
                });
                // File order is not strictly time order: a late event is sent at once.
                let stopped = match due_at(started, event.filetime.saturating_sub(first), speed) {
                    Some(due) => control.sleep_until(due),
                    None => {
                        control.wait_for_stop();
                        true
                    }
                };
                if stopped {
                    return Ok(());
                }
            }
            if sink.push(event) == Flow::Stop {
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_paces_wait_instead_of_overflowing() {
        let now = Instant::now();
        assert_eq!(
            due_at(now, 10_000_000, 1.0),
            Some(now + Duration::from_secs(1))
        );
        assert_eq!(due_at(now, -5, 1.0), Some(now));
        assert_eq!(due_at(now, i64::MAX, 1e-300), None);
        assert_eq!(due_at(now, 1, f64::MIN_POSITIVE), None);
    }
}
