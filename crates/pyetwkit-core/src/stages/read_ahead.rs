//! Reading a recording ahead, on a thread of its own: the file is read,
//! framed and staged while the consumer (a Python loop) handles the events
//! before, and the events are handed over in batches through a bounded
//! channel. The consumer sees what the inline reader gives, in order: the
//! events, then the end or the fault after the events before it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::schemas::RegistryStats;
use super::StagedEvents;
use crate::error::Error;
use crate::event::EtwEvent;

/// Events per batch: small enough that the first ones come at once, large
/// enough that the channel costs nothing per event.
const BATCH: usize = 2048;
/// Batches in flight at most: memory stays flat whatever the file's size.
const IN_FLIGHT: usize = 4;

/// Where reading stands, with each batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub bytes_read: u64,
    pub schema_stats: RegistryStats,
}

impl Progress {
    fn of(events: &StagedEvents) -> Progress {
        Progress {
            bytes_read: events.bytes_read(),
            schema_stats: events.stages().schema_stats(),
        }
    }
}

enum Message {
    Events(Vec<EtwEvent>, Progress),
    End(Progress),
    Failed(Error, Progress),
}

/// What the consumer gets next.
pub enum Next {
    Event(EtwEvent),
    End,
    Failed(Error),
    /// Nothing yet: `wait` for it (without holding anything the reader needs).
    Pending,
}

/// A recording's staged events, read ahead on a thread. The thread starts
/// with the first event asked for: a file opened only for its header, or for
/// another reader, is never read twice.
pub struct ReadAhead {
    /// The events before the thread starts.
    idle: Option<StagedEvents>,
    messages: Option<Receiver<Message>>,
    current: std::vec::IntoIter<EtwEvent>,
    /// A message received by `wait`, handled by the next `next_ready`.
    waiting: Option<Message>,
    progress: Progress,
    finished: bool,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// The events of `events`, to be read on a thread from the first one asked for.
    pub fn new(events: StagedEvents) -> ReadAhead {
        let progress = Progress::of(&events);
        ReadAhead {
            idle: Some(events),
            messages: None,
            current: Vec::new().into_iter(),
            waiting: None,
            progress,
            finished: false,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        }
    }

    fn start(&mut self, events: StagedEvents) -> Result<(), Error> {
        let (tx, rx) = crossbeam_channel::bounded(IN_FLIGHT);
        let stop = Arc::clone(&self.stop);
        let thread = std::thread::Builder::new()
            .name("pyetwkit-read".into())
            .spawn(move || read(events, &tx, &stop))
            .map_err(Error::Thread)?;
        self.messages = Some(rx);
        self.thread = Some(thread);
        Ok(())
    }

    /// The next event if one is here, without blocking.
    #[inline]
    pub fn next_ready(&mut self) -> Next {
        if let Some(event) = self.current.next() {
            return Next::Event(event);
        }
        if self.finished {
            return Next::End;
        }
        if let Some(events) = self.idle.take() {
            if let Err(error) = self.start(events) {
                self.finished = true;
                return Next::Failed(error);
            }
        }
        let message = match self.waiting.take() {
            Some(message) => message,
            None => match self.messages.as_ref().map(Receiver::try_recv) {
                Some(Ok(message)) => message,
                Some(Err(TryRecvError::Empty)) => return Next::Pending,
                Some(Err(TryRecvError::Disconnected)) | None => return self.vanished(),
            },
        };
        self.handle(message)
    }

    /// Blocks until the reader sends something, or `timeout` passes.
    pub fn wait(&mut self, timeout: Duration) {
        if self.waiting.is_some() || self.finished {
            return;
        }
        if let Some(messages) = &self.messages {
            match messages.recv_timeout(timeout) {
                Ok(message) => self.waiting = Some(message),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
        }
    }

    fn handle(&mut self, message: Message) -> Next {
        match message {
            Message::Events(events, progress) => {
                self.progress = progress;
                self.current = events.into_iter();
                match self.current.next() {
                    Some(event) => Next::Event(event),
                    None => Next::Pending,
                }
            }
            Message::End(progress) => {
                self.progress = progress;
                self.finished = true;
                Next::End
            }
            Message::Failed(error, progress) => {
                self.progress = progress;
                self.finished = true;
                Next::Failed(error)
            }
        }
    }

    /// The reader is gone without a last word: only a bug does that.
    fn vanished(&mut self) -> Next {
        self.finished = true;
        Next::Failed(Error::Panicked(
            "the reading thread ended without a last message".into(),
        ))
    }

    /// Where reading stood at the last batch handed over.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Stops the reader and waits for it: the file is closed when this returns.
    pub fn close(&mut self) {
        self.finished = true;
        self.idle = None;
        self.current = Vec::new().into_iter();
        self.waiting = None;
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver fails the reader's next send, should it wait on one.
        self.messages = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.close();
    }
}

/// The reading thread: batches of events, then the end or the fault.
fn read(mut events: StagedEvents, tx: &Sender<Message>, stop: &AtomicBool) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // A panic becomes the stream's error, after the events before it.
        let next = match catch_unwind(AssertUnwindSafe(|| events.next())) {
            Ok(next) => next.map(|r| r.map_err(Error::from)),
            Err(panic) => Some(Err(Error::Panicked(panic_text(&panic)))),
        };
        let last = match next {
            Some(Ok(event)) => {
                batch.push(event);
                if batch.len() < BATCH {
                    continue;
                }
                None
            }
            Some(Err(error)) => Some(Message::Failed(error, Progress::of(&events))),
            None => Some(Message::End(Progress::of(&events))),
        };
        if !batch.is_empty() {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if tx
                .send(Message::Events(full, Progress::of(&events)))
                .is_err()
            {
                return;
            }
        }
        if let Some(last) = last {
            let _ = tx.send(last);
            return;
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic while reading".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(test: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pyetwkit-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{test}.etl"));
        std::fs::write(&path, crate::build_sample().unwrap()).unwrap();
        path
    }

    fn drain(ahead: &mut ReadAhead) -> (Vec<EtwEvent>, Option<Error>) {
        let mut events = Vec::new();
        loop {
            match ahead.next_ready() {
                Next::Event(e) => events.push(e),
                Next::End => return (events, None),
                Next::Failed(e) => return (events, Some(e)),
                Next::Pending => ahead.wait(Duration::from_millis(50)),
            }
        }
    }

    #[test]
    fn the_events_come_in_order_then_the_end() {
        let path = sample("order");
        let inline: Vec<EtwEvent> = StagedEvents::open(&path, &[])
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut ahead = ReadAhead::new(StagedEvents::open(&path, &[]).unwrap());
        let (events, error) = drain(&mut ahead);
        assert!(error.is_none());
        assert_eq!(events, inline);
        assert_eq!(
            ahead.progress().bytes_read,
            std::fs::metadata(&path).unwrap().len()
        );
        assert!(matches!(ahead.next_ready(), Next::End));
    }

    #[test]
    fn a_fault_comes_after_the_events_before_it() {
        let path = sample("fault");
        let data = std::fs::read(&path).unwrap();
        // Cut inside the last buffer: the buffers before it read well.
        let cut = path.with_file_name("fault-cut.etl");
        std::fs::write(&cut, &data[..data.len() - 100]).unwrap();
        let inline: Vec<_> = StagedEvents::open(&cut, &[]).unwrap().collect();
        let good = inline.iter().take_while(|e| e.is_ok()).count();
        assert!(inline.last().is_some_and(Result::is_err));
        let mut ahead = ReadAhead::new(StagedEvents::open(&cut, &[]).unwrap());
        let (events, error) = drain(&mut ahead);
        assert_eq!(events.len(), good);
        assert!(error.unwrap().to_string().contains("fault-cut.etl"));
    }

    #[test]
    fn nothing_is_read_before_the_first_event_is_asked_for() {
        let path = sample("lazy");
        let mut ahead = ReadAhead::new(StagedEvents::open(&path, &[]).unwrap());
        assert!(ahead.thread.is_none());
        let before = ahead.progress().bytes_read;
        assert!(before < std::fs::metadata(&path).unwrap().len());
        ahead.close();
        assert!(matches!(ahead.next_ready(), Next::End));
    }

    #[test]
    fn closing_early_stops_the_reader() {
        let path = sample("close");
        let mut ahead = ReadAhead::new(StagedEvents::open(&path, &[]).unwrap());
        assert!(matches!(ahead.next_ready(), Next::Event(_) | Next::Pending));
        ahead.close();
        assert!(ahead.thread.is_none());
        // The file can go at once (on Windows, only once it is closed).
        std::fs::remove_file(&path).unwrap();
    }
}
