//! `Session`: a running pipeline for Python. Waits release the GIL; sync waits
//! wake every 50 ms only to check for Ctrl-C; async consumers are woken by a
//! pump thread that calls back into the event loop when events are ready.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use pyetwkit_core::pipeline::{
    seconds, ChannelConfig, Consumer, EtlReplay, Overflow, Pipeline, Received, Stats,
    StatsSnapshot, StopHandle, StopOutcome,
};
use pyetwkit_core::stages::{self, filter::Filter};
use pyetwkit_core::Error;
use pyetwkit_live::{AtEnd, SessionRequest, SimulatedSession};

use crate::event::PyEtwEvent;
use crate::exceptions::to_py_err;
use crate::manifest::PyManifest;

/// How often a blocked synchronous wait wakes to let Python handle signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

struct PumpRequest {
    callback: Py<PyAny>,
    max: usize,
}

struct Pump {
    requests: Sender<PumpRequest>,
    thread: JoinHandle<()>,
}

#[pyclass(module = "pyetwkit._core", name = "Session", frozen, weakref)]
pub struct PySession {
    pipeline: Mutex<Option<Pipeline>>,
    consumer: Mutex<Option<Consumer>>,
    pump: Mutex<Option<Pump>>,
    stop: StopHandle,
    stats: Arc<Stats>,
    overflow: Overflow,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-updated
    // (each holder does one whole operation), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn parse_overflow(s: Option<&str>) -> Result<Option<Overflow>, Error> {
    match s {
        None => Ok(None),
        Some("block") => Ok(Some(Overflow::Block)),
        Some("drop") => Ok(Some(Overflow::Drop)),
        Some(other) => Err(Error::InvalidArgument(format!(
            "overflow must be 'block' or 'drop', not {other:?}"
        ))),
    }
}

fn closed(how: &str) -> PyErr {
    to_py_err(Error::Closed(format!(
        "this session is closed or consumed {how}"
    )))
}

/// The channel's settings from Python's arguments, checked.
fn channel_config(
    capacity: usize,
    batch_size: usize,
    flush_interval: f64,
    overflow: Option<&str>,
) -> Result<ChannelConfig, Error> {
    let flush_interval = seconds("flush_interval", flush_interval)?
        .ok_or_else(|| Error::InvalidArgument("flush_interval must be finite".into()))?;
    let config = ChannelConfig {
        capacity,
        batch_size,
        flush_interval,
        overflow: parse_overflow(overflow)?,
        ..ChannelConfig::default()
    };
    config.check()?;
    Ok(config)
}

fn events_to_py(events: Vec<pyetwkit_core::EtwEvent>) -> Vec<PyEtwEvent> {
    events.into_iter().map(PyEtwEvent::new).collect()
}

#[pymethods]
impl PySession {
    /// Replays an .etl file through the pipeline. The file is opened (and checked)
    /// before this returns; the filter is compiled here.
    #[staticmethod]
    #[pyo3(signature = (path, *, filter_json=None, speed=None, capacity=64, batch_size=1024, flush_interval=0.01, overflow=None, preload=false, manifests=Vec::new(), prescan_processes=false, prescan_schemas=false, rules=None, keep_unmatched=false, selection=None))]
    #[allow(clippy::too_many_arguments)]
    fn replay(
        py: Python<'_>,
        path: PathBuf,
        filter_json: Option<&str>,
        speed: Option<f64>,
        capacity: usize,
        batch_size: usize,
        flush_interval: f64,
        overflow: Option<&str>,
        preload: bool,
        manifests: Vec<PyRef<'_, PyManifest>>,
        prescan_processes: bool,
        prescan_schemas: bool,
        rules: Option<PyRef<'_, crate::sigma::PyRuleSet>>,
        keep_unmatched: bool,
        selection: Option<PyRef<'_, crate::select::PySelection>>,
    ) -> PyResult<PySession> {
        if let Some(s) = speed {
            if !(s.is_finite() && s > 0.0) {
                return Err(to_py_err(Error::InvalidArgument(format!(
                    "replay_speed must be a positive number, not {s}"
                ))));
            }
        }
        let config =
            channel_config(capacity, batch_size, flush_interval, overflow).map_err(to_py_err)?;
        let manifests: Vec<_> = manifests.iter().map(|m| m.inner.clone()).collect();
        let (source, stages) = py
            .detach(|| {
                let prescan = stages::Prescan {
                    processes: prescan_processes,
                    schemas: prescan_schemas,
                };
                let (reader, stages) =
                    stages::open_recording(&path, &manifests, filter_json, prescan)?;
                let source = match preload {
                    true => EtlReplay::preloaded(reader, speed),
                    false => EtlReplay::new(reader, speed),
                };
                Ok::<_, Error>((source, stages))
            })
            .map_err(to_py_err)?;
        let stages = crate::select::with_gate(
            stages,
            rules.as_deref(),
            keep_unmatched,
            selection.as_deref(),
        )?;
        PySession::start(Box::new(source), stages, &config)
    }

    /// A live ETW session: the providers and kernel flags of `enable_json`,
    /// started now. On Windows from ETW; with `recording`, simulated ETW
    /// serves that recording by ETW's rules (any OS); else
    /// EtwUnsupportedPlatformError.
    #[staticmethod]
    #[pyo3(signature = (enable_json, *, label="session", on_conflict="error", filter_json=None, capacity=64, batch_size=1024, flush_interval=0.01, overflow=None, preset="balanced", recording=None, simulated_overflow="block", at_end="stop", preload=false, manifests=Vec::new(), rules=None, keep_unmatched=false, selection=None))]
    #[allow(clippy::too_many_arguments)]
    fn live(
        py: Python<'_>,
        enable_json: &str,
        label: &str,
        on_conflict: &str,
        filter_json: Option<&str>,
        capacity: usize,
        batch_size: usize,
        flush_interval: f64,
        overflow: Option<&str>,
        preset: &str,
        recording: Option<PathBuf>,
        simulated_overflow: &str,
        at_end: &str,
        preload: bool,
        manifests: Vec<PyRef<'_, PyManifest>>,
        rules: Option<PyRef<'_, crate::sigma::PyRuleSet>>,
        keep_unmatched: bool,
        selection: Option<PyRef<'_, crate::select::PySelection>>,
    ) -> PyResult<PySession> {
        let config =
            channel_config(capacity, batch_size, flush_interval, overflow).map_err(to_py_err)?;
        let request = SessionRequest {
            enable_json,
            label,
            on_conflict,
            preset,
        };
        let served = parse_overflow(Some(simulated_overflow))
            .map_err(to_py_err)?
            .unwrap_or(Overflow::Block);
        let at_end = AtEnd::parse(at_end).map_err(to_py_err)?;
        let manifests: Vec<_> = manifests.iter().map(|m| m.inner.clone()).collect();
        let (source, stages) = py
            .detach(|| match &recording {
                None => pyetwkit_live::start_live(&request, filter_json),
                Some(path) => SimulatedSession::open(
                    path,
                    &manifests,
                    &request,
                    filter_json,
                    served,
                    at_end,
                    preload,
                )
                .map(|(s, stages)| {
                    (
                        Box::new(s) as Box<dyn pyetwkit_core::pipeline::Source>,
                        stages,
                    )
                }),
            })
            .map_err(to_py_err)?;
        let stages = crate::select::with_gate(
            stages,
            rules.as_deref(),
            keep_unmatched,
            selection.as_deref(),
        )?;
        PySession::start(source, stages, &config)
    }

    /// Up to `max` events, waiting at most `timeout` seconds (`None`: no limit).
    /// Returns `[]` when the timeout passes, `None` at the end of the stream;
    /// raises the source's error after every event before it was returned.
    #[pyo3(signature = (max, timeout=None))]
    fn next_events(
        &self,
        py: Python<'_>,
        max: usize,
        timeout: Option<f64>,
    ) -> PyResult<Option<Vec<PyEtwEvent>>> {
        // inf: no limit; NaN, negative or unrepresentable: ValueError.
        let limit = match timeout {
            Some(t) => seconds("timeout", t).map_err(to_py_err)?,
            None => None,
        };
        // A limit past what the clock can represent is no limit.
        let deadline = limit.and_then(|d| Instant::now().checked_add(d));
        loop {
            let slice = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            // Lock and wait without the GIL: another thread may be waiting inside.
            let received = py.detach(|| {
                lock(&self.consumer)
                    .as_mut()
                    .map(|c| c.next_events(max, Some(slice)))
            });
            match received {
                None => return Err(closed("asynchronously")),
                Some(Received::Events(events)) => return Ok(Some(events_to_py(events))),
                Some(Received::End) => return Ok(None),
                Some(Received::Failed(e)) => return Err(to_py_err(e)),
                Some(Received::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Some(Vec::new()));
                    }
                }
            }
        }
    }

    /// Asks for the next events without blocking: `callback(result)` is called
    /// from a pump thread (with the GIL) when they are ready, with a list of
    /// events, `None` at the end of the stream, or the exception to raise.
    fn request(&self, py: Python<'_>, callback: Py<PyAny>, max: usize) -> PyResult<()> {
        let mut pump = lock(&self.pump);
        if pump.is_none() {
            let consumer = py
                .detach(|| lock(&self.consumer).take())
                .ok_or_else(|| closed("synchronously"))?;
            let (tx, rx) = crossbeam_channel::unbounded();
            let thread = std::thread::Builder::new()
                .name("pyetwkit-pump".into())
                .spawn(move || run_pump(consumer, rx))
                .map_err(|e| to_py_err(Error::Thread(e)))?;
            *pump = Some(Pump {
                requests: tx,
                thread,
            });
        }
        let Some(p) = pump.as_ref() else {
            return Err(closed("synchronously"));
        };
        p.requests
            .send(PumpRequest { callback, max })
            .map_err(|_| closed("synchronously"))
    }

    /// Ends the stream from any thread; a blocked wait returns promptly.
    fn stop(&self) {
        self.stop.stop();
    }

    /// Stops, waits for the threads, and counts undelivered events as dropped.
    /// Returns `None`, or how many seconds the source was given before it was
    /// left behind (a source that ignores its stop is reported, not waited on).
    fn close(&self, py: Python<'_>) -> Option<f64> {
        self.stop.stop();
        py.detach(|| {
            let mut outcome = StopOutcome::Stopped;
            if let Some(pump) = lock(&self.pump).take() {
                drop(pump.requests); // the pump ends after its current wait, which stop woke
                let _ = pump.thread.join();
            }
            if let Some(mut pipeline) = lock(&self.pipeline).take() {
                outcome = pipeline.stop();
            }
            if let Some(mut consumer) = lock(&self.consumer).take() {
                consumer.discard_rest();
            }
            match outcome {
                StopOutcome::Stopped => None,
                StopOutcome::Unresponsive(waited) => Some(waited.as_secs_f64()),
            }
        })
    }

    /// Gives back `n` events handed out but never seen (they count as dropped).
    fn discard(&self, n: u64) {
        self.stats.undeliver(n);
    }

    fn stats(&self) -> PySessionStats {
        PySessionStats(self.stats.snapshot())
    }

    #[getter]
    fn overflow(&self) -> &'static str {
        self.overflow.as_str()
    }

    #[getter]
    fn running(&self) -> bool {
        lock(&self.pipeline)
            .as_ref()
            .is_some_and(|p| p.is_running())
    }

    /// `(unix_seconds, first_filetime, speed)` where paced replay started.
    fn replay_origin(&self) -> Option<(f64, i64, f64)> {
        self.stats
            .replay_origin()
            .map(|o| (o.unix_seconds, o.filetime, o.speed))
    }
}

impl Drop for PySession {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(pump) = lock(&self.pump).take() {
            drop(pump.requests);
            // Joining here could wait for the GIL the pump needs: let it finish alone.
            drop(pump.thread);
        }
    }
}

impl PySession {
    fn start(
        source: Box<dyn pyetwkit_core::pipeline::Source>,
        stages: pyetwkit_core::stages::Stages,
        config: &ChannelConfig,
    ) -> PyResult<PySession> {
        let (pipeline, consumer) = Pipeline::start(source, stages, config).map_err(to_py_err)?;
        Ok(PySession {
            stop: pipeline.stop_handle(),
            stats: pipeline.stats().clone(),
            overflow: pipeline.overflow(),
            pipeline: Mutex::new(Some(pipeline)),
            consumer: Mutex::new(Some(consumer)),
            pump: Mutex::new(None),
        })
    }
}

/// Serves asynchronous requests: waits (no GIL, no polling) and calls back.
fn run_pump(mut consumer: Consumer, requests: Receiver<PumpRequest>) {
    while let Ok(req) = requests.recv() {
        let received = consumer.next_events(req.max, None);
        Python::attach(|py| {
            let arg: PyResult<Py<PyAny>> = match received {
                Received::Events(events) => events_to_py(events)
                    .into_pyobject(py)
                    .map(|l| l.into_any().unbind()),
                Received::Failed(e) => Ok(to_py_err(e).into_value(py).into_any()),
                Received::End | Received::Timeout => Ok(py.None()),
            };
            let outcome = arg.and_then(|a| req.callback.call1(py, (a,)).map(|_| ()));
            if let Err(e) = outcome {
                // The event loop may be closed already: report, never crash the thread.
                e.write_unraisable(py, None);
            }
        });
    }
    consumer.discard_rest();
}

#[pyclass(module = "pyetwkit._core", name = "SessionStats", frozen)]
pub struct PySessionStats(StatsSnapshot);

#[pymethods]
impl PySessionStats {
    /// Events the source produced.
    #[getter]
    fn received(&self) -> u64 {
        self.0.received
    }
    /// Events handed to Python.
    #[getter]
    fn delivered(&self) -> u64 {
        self.0.delivered
    }
    /// Events the filter rejected (in Rust).
    #[getter]
    fn filtered_out(&self) -> u64 {
        self.0.filtered_out
    }
    /// Events discarded by the library: channel full (overflow "drop"), or left
    /// unread when the session was stopped.
    #[getter]
    fn dropped(&self) -> u64 {
        self.0.dropped
    }
    /// Events ETW itself lost (live sessions); `None` for files.
    #[getter]
    fn etw_events_lost(&self) -> Option<u64> {
        self.0.etw_events_lost
    }
    #[getter]
    fn etw_buffers_lost(&self) -> Option<u64> {
        self.0.etw_buffers_lost
    }
    #[getter]
    fn events_per_second(&self) -> f64 {
        self.0.events_per_second
    }
    /// Seconds since the session started (until it ended, once it has).
    #[getter]
    fn elapsed(&self) -> f64 {
        self.0.elapsed.as_secs_f64()
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("received", self.0.received)?;
        d.set_item("delivered", self.0.delivered)?;
        d.set_item("filtered_out", self.0.filtered_out)?;
        d.set_item("dropped", self.0.dropped)?;
        d.set_item("etw_events_lost", self.0.etw_events_lost)?;
        d.set_item("etw_buffers_lost", self.0.etw_buffers_lost)?;
        d.set_item("events_per_second", self.0.events_per_second)?;
        d.set_item("elapsed", self.elapsed())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        let etw = match (s.etw_events_lost, s.etw_buffers_lost) {
            (Some(e), Some(b)) => format!(" etw_events_lost={e} etw_buffers_lost={b}"),
            _ => String::new(),
        };
        format!(
            "<SessionStats received={} delivered={} filtered_out={} dropped={}{etw} {:.0} events/s over {:.3} s>",
            s.received,
            s.delivered,
            s.filtered_out,
            s.dropped,
            s.events_per_second,
            s.elapsed.as_secs_f64()
        )
    }
}

/// Compiles a filter spec (JSON) and reports what is wrong with it, for early errors.
#[pyfunction]
pub fn check_filter(filter_json: &str) -> PyResult<()> {
    Filter::from_json(filter_json)
        .map(|_| ())
        .map_err(to_py_err)
}

/// Whether this build has live ETW sessions on this OS (Windows).
#[pyfunction]
pub fn live_sessions_supported() -> bool {
    pyetwkit_live::live_sessions_supported()
}

/// The providers registered on this machine, as TDH lists them:
/// `(name, guid, schema_source)`; Windows only.
#[pyfunction]
pub fn installed_providers(py: Python<'_>) -> PyResult<Vec<(String, String, u32)>> {
    py.detach(pyetwkit_live::installed_providers)
        .map(|list| {
            list.into_iter()
                .map(|p| (p.name, p.guid.to_string(), p.schema_source))
                .collect()
        })
        .map_err(to_py_err)
}
