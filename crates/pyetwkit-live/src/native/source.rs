//! The live source: a started session (or two: user providers and kernel
//! flags need separate ETW sessions), whose ferrisetw callback copies each
//! record into the core's event and pushes it without blocking, holding no
//! GIL and letting no panic out. ProcessTrace runs on the source's thread;
//! the pipeline's stop stops the sessions, which makes it return.
#![allow(unsafe_code)] // the record's pointers, valid for the callback

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use ferrisetw::trace::{KernelTrace, TraceError, TraceTrait, UserTrace};
use ferrisetw::EventRecord;

use pyetwkit_core::pipeline::{EventSink, Overflow, Source};
use pyetwkit_core::stages::filter::Filter;
use pyetwkit_core::stages::Stages;
use pyetwkit_core::{Error, Guid};

use super::api::{win32_code, Callback, NativeEtw, Started, Trace};
use super::record::{event_from_record, raw_record};
use super::tdh::NativeTdh;
use crate::controller::{Controller, LossCounters};
use crate::spec::SessionRequest;
use crate::tdh::TdhSchemas;
use crate::win32::{error_from_win32, is_normal_end, Win32Op};

/// How often ETW's loss counters are read while the session runs.
const LOSS_POLL: Duration = Duration::from_secs(1);

type Slot = Arc<Mutex<Option<EventSink>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One ETW session of ours and its consumer.
struct Part {
    controller: Arc<Mutex<Controller>>,
    started: Option<Started>,
}

/// A live session, started; the pipeline runs it.
pub struct LiveSession {
    parts: Vec<Part>,
    slot: Slot,
}

/// The callback: ETW's record → the core's event → the pipeline.
fn on_event(slot: &Slot, record: &EventRecord) {
    // Nothing may unwind into ferrisetw (it exits the process): the sink's
    // guard catches a panic in the work, this catches one anywhere else.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let raw = raw_record(record);
        let mut slot = lock(slot);
        if let Some(sink) = slot.as_mut() {
            sink.guard(|sink| {
                // SAFETY: ETW delivers the record with its pointers valid
                // for their lengths until the callback returns.
                // RT_LostEvent notices (`RT_LOST_EVENT`) pass as events too;
                // the counters they announce arrive through the loss poll.
                sink.push(unsafe { event_from_record(raw) });
            });
        }
    }));
}

/// Provider names → GUIDs from TDH's list of registered providers.
fn registered_providers() -> Result<HashMap<String, Guid>, Error> {
    Ok(crate::installed_providers()?
        .into_iter()
        .map(|p| (p.name.to_lowercase(), p.guid))
        .collect())
}

impl LiveSession {
    /// Starts the sessions `request` asks for; their chain of stages gets
    /// schemas from TDH and applies `filter_json`.
    pub fn start(
        request: &SessionRequest<'_>,
        filter_json: Option<&str>,
    ) -> Result<(LiveSession, Stages), Error> {
        let filter = filter_json.map(Filter::from_json).transpose()?;
        let mut names: Option<HashMap<String, Guid>> = None;
        let spec = request.spec(&mut |name| {
            if names.is_none() {
                names = Some(registered_providers()?);
            }
            names
                .as_ref()
                .and_then(|n| n.get(&name.to_lowercase()).copied())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "no registered provider named {name:?} (pyetwkit providers --installed)"
                    ))
                })
        })?;
        let slot: Slot = Arc::new(Mutex::new(None));
        let callback: Callback = {
            let slot = slot.clone();
            Arc::new(move |record: &EventRecord| on_event(&slot, record))
        };
        let mut session = LiveSession {
            parts: Vec::new(),
            slot,
        };
        for part in spec.split() {
            let mut api = NativeEtw {
                callback: Some(callback.clone()),
            };
            // On an error, `session` drops: the parts started so far stop.
            let (controller, started) = Controller::start(&mut api, &part, std::process::id())?;
            session.parts.push(Part {
                controller: Arc::new(Mutex::new(controller)),
                started: Some(started),
            });
        }
        let stages = Stages::new(Box::new(TdhSchemas::new(NativeTdh)), filter);
        Ok((session, stages))
    }

    /// The sessions' names.
    pub fn names(&self) -> Vec<String> {
        self.parts
            .iter()
            .map(|p| lock(&p.controller).name().to_string())
            .collect()
    }
}

/// Stops every part's session (ProcessTrace returns); their last counters.
fn stop_all(controllers: &[Arc<Mutex<Controller>>]) -> LossCounters {
    let mut api = NativeEtw { callback: None };
    let mut total = LossCounters::default();
    for c in controllers {
        // A session already gone (stopped from outside) is no error here.
        if let Ok(l) = lock(c).stop(&mut api) {
            total = add(total, l);
        }
    }
    total
}

fn add(a: LossCounters, b: LossCounters) -> LossCounters {
    LossCounters {
        events_lost: a.events_lost + b.events_lost,
        log_buffers_lost: a.log_buffers_lost + b.log_buffers_lost,
        realtime_buffers_lost: a.realtime_buffers_lost + b.realtime_buffers_lost,
    }
}

/// ProcessTrace on `handle`, until the session stops.
fn process(started: &Started) -> Result<(), TraceError> {
    match started.trace {
        Trace::User(_) => UserTrace::process_from_handle(started.handle),
        Trace::Kernel(_) => KernelTrace::process_from_handle(started.handle),
    }
}

/// A Win32 code from ferrisetw's error when ProcessTrace returns.
fn code_of(error: &TraceError) -> u32 {
    match error {
        TraceError::EtwNativeError(ferrisetw::native::EvntraceNativeError::IoError(e)) => {
            win32_code(e)
        }
        _ => 6, // ERROR_INVALID_HANDLE
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        let controllers: Vec<_> = self.parts.iter().map(|p| p.controller.clone()).collect();
        stop_all(&controllers);
        // Then ferrisetw closes its consumers (its drop stops again: a no-op).
        for p in &mut self.parts {
            p.started.take();
        }
    }
}

impl Source for LiveSession {
    fn default_overflow(&self) -> Overflow {
        Overflow::Drop // ETW's thread cannot wait
    }

    fn run(mut self: Box<Self>, sink: EventSink) -> Result<(), Error> {
        let control = sink.control().clone();
        let stats = sink.stats().clone();
        *lock(&self.slot) = Some(sink);
        let controllers: Vec<_> = self.parts.iter().map(|p| p.controller.clone()).collect();
        {
            let controllers = controllers.clone();
            control.on_stop(move || {
                stop_all(&controllers);
            });
        }
        // ETW's own counters, about every second, apart from queue drops
        // (Python warns when they grow). Ends when `done` drops.
        let (done, ended) = mpsc::channel::<()>();
        let poller = {
            let (controllers, stats) = (controllers.clone(), stats.clone());
            thread::Builder::new()
                .name("pyetwkit-etw-losses".into())
                .spawn(move || {
                    let mut api = NativeEtw { callback: None };
                    while let Err(RecvTimeoutError::Timeout) = ended.recv_timeout(LOSS_POLL) {
                        let mut total = LossCounters::default();
                        for c in &controllers {
                            if let Ok(l) = lock(c).poll_losses(&mut api) {
                                total = add(total, l);
                            }
                        }
                        stats.set_etw_losses(total.events_lost, total.buffers_lost());
                    }
                })
                .map_err(Error::Thread)?
        };
        // ProcessTrace: the first session here, any other on its own thread.
        let mut results = Vec::new();
        thread::scope(|scope| {
            let mut parts = self.parts.iter();
            let first = parts.next();
            let others: Vec<_> = parts
                .map(|p| scope.spawn(move || p.started.as_ref().map(process)))
                .collect();
            results.push(first.and_then(|p| p.started.as_ref().map(process)));
            for t in others {
                results.push(t.join().unwrap_or(None));
            }
        });
        // Whatever ended ProcessTrace, the sessions stop now (final counters).
        drop(done);
        let _ = poller.join();
        let last = stop_all(&controllers);
        stats.set_etw_losses(last.events_lost, last.buffers_lost());
        let stopped_by_us = control.should_stop();
        for (part, result) in self.parts.iter_mut().zip(results) {
            part.started.take(); // ferrisetw closes the consumer
            if let Some(Err(e)) = result {
                let code = code_of(&e);
                if !is_normal_end(code, stopped_by_us) {
                    let name = lock(&part.controller).name().to_string();
                    return Err(error_from_win32(Win32Op::ProcessTrace, code, &name));
                }
            }
        }
        lock(&self.slot).take(); // the sink: the stream ends after its events
        Ok(())
    }
}
