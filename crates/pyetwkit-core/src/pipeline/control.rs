//! What a source holds to learn that it should stop, to register how it is
//! stopped, and to report a failure. Cloneable and `Send`: a callback-driven
//! source keeps one on the thread that starts the session and one in its
//! callback.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::stop::{stop_pair, StopHandle, StopSignal};
use crate::error::Error;

type StopHook = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct SourceControl {
    shared: Arc<Shared>,
}

struct Shared {
    /// Closed when the source should end: the consumer stopped the pipeline,
    /// or the source itself failed.
    end: StopHandle,
    end_signal: StopSignal,
    hook: Mutex<Option<StopHook>>,
    failure: Mutex<Option<Error>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each holder does one whole operation: a poisoned lock is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SourceControl {
    pub(crate) fn new() -> SourceControl {
        let (end, end_signal) = stop_pair();
        SourceControl {
            shared: Arc::new(Shared {
                end,
                end_signal,
                hook: Mutex::new(None),
                failure: Mutex::new(None),
            }),
        }
    }

    /// Registers how to stop the source from another thread: for ETW, stopping
    /// the session so that `ProcessTrace` returns. Called at most once, on the
    /// thread that asks for the stop; at once if the stop came first.
    pub fn on_stop(&self, hook: impl FnOnce() + Send + 'static) {
        let mut slot = lock(&self.shared.hook);
        if self.shared.end.is_stopped() {
            drop(slot);
            hook();
        } else {
            *slot = Some(Box::new(hook));
        }
    }

    /// Whether the source should end now.
    pub fn should_stop(&self) -> bool {
        self.shared.end.is_stopped()
    }

    /// Waits until `t`; returns true if told to stop first (at once, no polling).
    pub fn sleep_until(&self, t: Instant) -> bool {
        let now = Instant::now();
        if t <= now {
            return self.should_stop();
        }
        self.shared.end_signal.sleep(t - now)
    }

    /// Waits until told to stop.
    pub fn wait_for_stop(&self) {
        let _ = self.shared.end_signal.receiver().recv();
    }

    /// Reports a failure: the stream ends with it, after the events pushed
    /// before it, and the source is asked to stop. The first failure wins.
    pub fn fail(&self, error: Error) {
        lock(&self.shared.failure).get_or_insert(error);
        self.request_stop();
    }

    /// Asks the source to end: runs its stop hook once.
    pub(crate) fn request_stop(&self) {
        self.shared.end.stop();
        let hook = lock(&self.shared.hook).take();
        if let Some(hook) = hook {
            hook();
        }
    }

    pub(crate) fn take_failure(&self) -> Option<Error> {
        lock(&self.shared.failure).take()
    }
}
