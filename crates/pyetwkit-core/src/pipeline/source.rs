//! Sources: where events come from. A file is replayed here; the live Windows
//! session implements the same trait in its own crate.

use std::time::{Duration, Instant};

use super::config::Overflow;
use super::sink::{Flow, Sink};
use super::SourceError;
use crate::error::EtlError;
use crate::etl::EtlReader;
use crate::event::EtwEvent;

/// Produces events into a sink on the pipeline's thread.
pub trait Source: Send + 'static {
    /// Blocking (lossless) for sources that can wait; dropping for live ones.
    fn default_overflow(&self) -> Overflow;
    /// Runs until the source is exhausted, the sink says stop, or it fails.
    fn run(self: Box<Self>, sink: &mut Sink) -> Result<(), SourceError>;
}

/// An .etl file, as fast as possible or paced at its recorded speed.
pub struct EtlReplay {
    reader: EtlReader,
    /// `None`: as fast as possible; `Some(k)`: k times the recorded speed.
    speed: Option<f64>,
}

impl EtlReplay {
    pub fn new(mut reader: EtlReader, speed: Option<f64>) -> EtlReplay {
        // The sink tracks processes for every source; once is enough.
        reader.set_process_tracking(false);
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

    fn next_event(&mut self) -> Result<Option<EtwEvent>, EtlError> {
        self.reader.next_event()
    }
}

impl Source for EtlReplay {
    fn default_overflow(&self) -> Overflow {
        Overflow::Block
    }

    fn run(mut self: Box<Self>, sink: &mut Sink) -> Result<(), SourceError> {
        let started = Instant::now();
        let mut origin: Option<i64> = None;
        while let Some(event) = self.next_event()? {
            if let Some(speed) = self.speed {
                let first = *origin.get_or_insert_with(|| {
                    sink.stats().set_replay_origin(event.filetime, speed);
                    event.filetime
                });
                // File order is not strictly time order: a late event is sent at once.
                let ticks = (event.filetime - first).max(0) as f64;
                let due = started + Duration::from_secs_f64(ticks / 1e7 / speed);
                if sink.sleep_until(due) == Flow::Stop {
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
