//! Simulated ETW: a recording served as a live session, through the same
//! live-session code (the controller, the enablement rules, the stats), so
//! that live-session code, ours and our users', runs on any OS. ETW's
//! enablement rules select which of the recording's events the session
//! receives. When the recording is exhausted the session ends, or, as a real
//! session with nothing more to say, stays open until it is stopped.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyetwkit_core::decode::manifest::Manifest;
use pyetwkit_core::etl::EtlReader;
use pyetwkit_core::pipeline::{EventSink, Flow, Overflow, Source};
use pyetwkit_core::stages::{self, StagedEvents, Stages};
use pyetwkit_core::{Error, Guid};

use crate::controller::{Controller, EtwApi, Failure, LossCounters, SessionSpec};
use crate::spec::SessionRequest;
use crate::win32::Win32Op;

/// The sessions simulated in this process, by name: like ETW's own table, two
/// sessions of one name clash.
static SESSIONS: Mutex<BTreeMap<String, LossCounters>> = Mutex::new(BTreeMap::new());

fn sessions() -> std::sync::MutexGuard<'static, BTreeMap<String, LossCounters>> {
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ETW controller API, simulated in memory: every process is alive and
/// every call succeeds unless ETW's documented rules say otherwise.
pub struct SimulatedEtw;

impl EtwApi for SimulatedEtw {
    type Started = ();

    fn start(&mut self, name: &str, _: &SessionSpec) -> Result<(), Failure> {
        let mut s = sessions();
        if s.contains_key(name) {
            return Err(Failure {
                op: Win32Op::StartTrace,
                code: 183,
            });
        }
        s.insert(name.to_string(), LossCounters::default());
        Ok(())
    }
    fn query(&mut self, name: &str) -> Result<LossCounters, u32> {
        sessions().get(name).copied().ok_or(4201)
    }
    fn stop(&mut self, name: &str) -> Result<LossCounters, u32> {
        sessions().remove(name).ok_or(4201)
    }
    fn sessions(&mut self) -> Result<Vec<String>, u32> {
        Ok(sessions().keys().cloned().collect())
    }
    fn process_alive(&mut self, _pid: u32) -> bool {
        true
    }
}

/// The names of the recording's providers (lowercased: ETW's names are
/// case-insensitive) and their GUIDs: what TDH's provider list is live. Read
/// up to the first error.
fn recorded_providers(path: &Path, manifests: &[Arc<Manifest>]) -> HashMap<String, Guid> {
    let manifests: Vec<&Manifest> = manifests.iter().map(|m| &**m).collect();
    let mut names = HashMap::new();
    let Ok(events) = StagedEvents::open(path, &manifests) else {
        return names;
    };
    for event in events.map_while(Result::ok) {
        if event.kernel_class.is_none() {
            if let Some(name) = event.provider_name() {
                names
                    .entry(name.to_lowercase())
                    .or_insert(event.provider_id);
            }
        }
    }
    names
}

/// How often the source polls ETW's loss counters, as the live source does.
const LOSS_POLL: Duration = Duration::from_secs(1);

/// What a simulated session does when its recording is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtEnd {
    /// The session stops and the stream ends: scripts' loops finish.
    Stop,
    /// The session stays open, idle, until it is stopped, as a real one does.
    Wait,
}

impl AtEnd {
    pub fn parse(s: &str) -> Result<AtEnd, Error> {
        match s {
            "stop" => Ok(AtEnd::Stop),
            "wait" => Ok(AtEnd::Wait),
            _ => Err(Error::InvalidArgument(format!(
                "at_end must be 'stop' or 'wait', not {s:?}"
            ))),
        }
    }
}

/// A recording replayed as a live session.
pub struct SimulatedSession {
    reader: EtlReader,
    controller: Controller,
    spec: SessionSpec,
    overflow: Overflow,
    at_end: AtEnd,
}

impl SimulatedSession {
    /// Opens `path` as a simulated session of `request` with its chain of
    /// stages (manifests, `filter_json`), resolving providers given by name
    /// from the recording's own providers, and starts it; with `preload`, the
    /// recording is read into memory first.
    pub fn open(
        path: &Path,
        manifests: &[Arc<Manifest>],
        request: &SessionRequest<'_>,
        filter_json: Option<&str>,
        overflow: Overflow,
        at_end: AtEnd,
        preload: bool,
    ) -> Result<(SimulatedSession, Stages), Error> {
        let mut names: Option<HashMap<String, Guid>> = None;
        let spec = request.spec(&mut |name| {
            let names = names.get_or_insert_with(|| recorded_providers(path, manifests));
            names.get(&name.to_lowercase()).copied().ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no provider named {name:?} in the recording {}",
                    path.display()
                ))
            })
        })?;
        let (mut reader, stages) =
            stages::open_recording(path, manifests, filter_json, Default::default())?;
        if preload {
            reader.preload(); // served from memory, as ETW's buffers are
        }
        Ok((Self::start(reader, spec, overflow, at_end)?, stages))
    }

    /// Starts the simulated session (the controller runs now, so a name clash
    /// fails here, as `StartTrace` would).
    pub fn start(
        reader: EtlReader,
        spec: SessionSpec,
        overflow: Overflow,
        at_end: AtEnd,
    ) -> Result<SimulatedSession, Error> {
        let (controller, ()) = Controller::start(&mut SimulatedEtw, &spec, std::process::id())?;
        Ok(SimulatedSession {
            reader,
            controller,
            spec,
            overflow,
            at_end,
        })
    }

    pub fn name(&self) -> &str {
        self.controller.name()
    }
}

impl Drop for SimulatedSession {
    fn drop(&mut self) {
        let _ = self.controller.stop(&mut SimulatedEtw);
    }
}

impl Source for SimulatedSession {
    fn default_overflow(&self) -> Overflow {
        self.overflow
    }

    fn run(mut self: Box<Self>, mut sink: EventSink) -> Result<(), Error> {
        let stats = sink.stats().clone();
        let selector = self.spec.enablement.selector();
        let mut polled = Instant::now();
        let mut pushed = 0u32;
        let result = loop {
            let event = match self.reader.next_event() {
                Ok(Some(e)) => e,
                Ok(None) => {
                    if self.at_end == AtEnd::Wait {
                        sink.control().wait_for_stop();
                    }
                    break Ok(());
                }
                Err(e) => break Err(e.into()),
            };
            // ETW delivers only what the session enabled.
            if !selector.selects(&event) {
                continue;
            }
            if sink.push(event) == Flow::Stop {
                break Ok(());
            }
            // The clock is read every 1,024 events, not each one.
            pushed = pushed.wrapping_add(1);
            if pushed.is_multiple_of(1024) && polled.elapsed() >= LOSS_POLL {
                polled = Instant::now();
                if let Ok(c) = self.controller.poll_losses(&mut SimulatedEtw) {
                    stats.set_etw_losses(c.events_lost, c.buffers_lost());
                }
            }
        };
        let last = self.controller.stop(&mut SimulatedEtw)?;
        stats.set_etw_losses(last.events_lost, last.buffers_lost());
        result
    }
}
