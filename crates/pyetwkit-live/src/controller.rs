//! The session controller: starting a session (sweeping orphans, handling a
//! name clash), enabling its providers, polling ETW's loss counters and
//! stopping it in order. It is generic over `EtwApi`, a small slice of ETW's
//! controller functions: Windows implements it with ferrisetw (StartTrace and
//! EnableTraceEx2 in one call, as its builder makes them), ControlTrace and
//! QueryAllTraces; tests use a fake that follows the documented behaviour,
//! error codes included.

use pyetwkit_core::Error;

use crate::enablement::Enablement;
use crate::naming::{owner_pid, session_name};
use crate::presets::BufferSettings;
use crate::win32::{error_from_win32, Win32Op};

const ERROR_ALREADY_EXISTS: u32 = 183;
const ERROR_WMI_INSTANCE_NOT_FOUND: u32 = 4201;

/// ETW's own loss counters of a session (EVENT_TRACE_PROPERTIES).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossCounters {
    pub events_lost: u64,
    pub log_buffers_lost: u64,
    pub realtime_buffers_lost: u64,
}

impl LossCounters {
    /// Buffers lost either way, as the pipeline's stats report them.
    pub fn buffers_lost(&self) -> u64 {
        self.log_buffers_lost + self.realtime_buffers_lost
    }
}

/// Which kernel session, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSession {
    /// A user-mode session (no kernel events).
    None,
    /// A private system logger (`EVENT_TRACE_SYSTEM_LOGGER_MODE`, Windows 8+):
    /// kernel events in our own session, never stopping anyone else's.
    SystemLogger,
    /// The classic "NT Kernel Logger", only when asked for explicitly: some
    /// rundown events come only there. There is one per system.
    NtKernelLogger,
}

pub const NT_KERNEL_LOGGER: &str = "NT Kernel Logger";

/// What to do when a session of our name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    Error,
    Replace,
}

impl OnConflict {
    pub fn parse(s: &str) -> Result<OnConflict, Error> {
        match s {
            "error" => Ok(OnConflict::Error),
            "replace" => Ok(OnConflict::Replace),
            other => Err(Error::InvalidArgument(format!(
                "on_conflict must be 'error' or 'replace', not {other:?}"
            ))),
        }
    }
}

/// Everything a session is started with.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub label: String,
    pub enablement: Enablement,
    pub kernel: KernelSession,
    pub buffers: BufferSettings,
    pub on_conflict: OnConflict,
}

impl SessionSpec {
    /// The ETW sessions this spec needs: user-mode providers and kernel flags
    /// go to separate sessions (a kernel session enables no providers), the
    /// kernel one labelled `{label}-kernel`.
    pub fn split(&self) -> Vec<SessionSpec> {
        let has_providers = !self.enablement.providers.is_empty();
        let has_kernel = self.enablement.kernel_flags != 0;
        if !(has_providers && has_kernel) {
            return vec![self.clone()];
        }
        let user = SessionSpec {
            kernel: KernelSession::None,
            enablement: Enablement {
                kernel_flags: 0,
                ..self.enablement.clone()
            },
            ..self.clone()
        };
        let kernel = SessionSpec {
            label: format!("{}-kernel", self.label),
            enablement: Enablement {
                providers: Vec::new(),
                kernel_flags: self.enablement.kernel_flags,
            },
            ..self.clone()
        };
        vec![user, kernel]
    }
}

/// A failed ETW call: which call, and its Win32 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub op: Win32Op,
    pub code: u32,
}

/// The controller functions of ETW a session needs. Errors are Win32 codes.
pub trait EtwApi {
    /// What a started session hands to its consumer (on Windows, the
    /// ferrisetw trace that ProcessTrace will run).
    type Started;
    /// StartTrace for a real-time session named `name`, then EnableTraceEx2
    /// for each of `spec`'s providers. A failed enable leaves the session
    /// running, as ferrisetw does; the controller stops it.
    fn start(&mut self, name: &str, spec: &SessionSpec) -> Result<Self::Started, Failure>;
    /// ControlTrace with EVENT_TRACE_CONTROL_QUERY.
    fn query(&mut self, name: &str) -> Result<LossCounters, u32>;
    /// ControlTrace with EVENT_TRACE_CONTROL_STOP; returns the final counters.
    fn stop(&mut self, name: &str) -> Result<LossCounters, u32>;
    /// QueryAllTraces: the names of the running sessions.
    fn sessions(&mut self) -> Result<Vec<String>, u32>;
    /// Whether process `pid` is alive (OpenProcess + GetExitCodeProcess).
    fn process_alive(&mut self, pid: u32) -> bool;
}

/// A started session, owned by this process.
#[derive(Debug)]
pub struct Controller {
    name: String,
    stopped: bool,
    /// The counters last read: polls and the final stop.
    losses: LossCounters,
    /// Orphaned sessions stopped before this one started.
    pub swept: Vec<String>,
}

impl Controller {
    /// Sweeps orphaned pyetwkit sessions, starts ours (handling a clash by
    /// `spec.on_conflict`) with its providers enabled. If enabling fails, the
    /// session is stopped again before the error is returned.
    pub fn start<A: EtwApi>(
        api: &mut A,
        spec: &SessionSpec,
        own_pid: u32,
    ) -> Result<(Controller, A::Started), Error> {
        let swept = sweep_orphans(api, own_pid);
        let name = match spec.kernel {
            KernelSession::NtKernelLogger => NT_KERNEL_LOGGER.to_string(),
            _ => session_name(&spec.label, own_pid),
        };
        let mut controller = Controller {
            name,
            stopped: false,
            losses: LossCounters::default(),
            swept,
        };
        let started = match api.start(&controller.name, spec) {
            Err(Failure {
                op: Win32Op::StartTrace,
                code: ERROR_ALREADY_EXISTS,
            }) if spec.on_conflict == OnConflict::Replace => {
                match api.stop(&controller.name) {
                    Ok(_) | Err(ERROR_WMI_INSTANCE_NOT_FOUND) => {}
                    Err(code) => {
                        return Err(error_from_win32(
                            Win32Op::ControlTrace,
                            code,
                            &controller.name,
                        ))
                    }
                }
                api.start(&controller.name, spec)
            }
            other => other,
        };
        match started {
            Ok(started) => Ok((controller, started)),
            Err(Failure { op, code }) => {
                let error = error_from_win32(op, code, &controller.name);
                if op != Win32Op::StartTrace {
                    let _ = controller.stop(api); // leave no session behind
                }
                Err(error)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// ETW's counters now (about every second while running).
    pub fn poll_losses(&mut self, api: &mut impl EtwApi) -> Result<LossCounters, Error> {
        if self.stopped {
            return Ok(self.losses);
        }
        let counters = api
            .query(&self.name)
            .map_err(|code| error_from_win32(Win32Op::ControlTrace, code, &self.name))?;
        self.losses = counters;
        Ok(counters)
    }

    /// Stops the session: one last query, then STOP (whose answer carries the
    /// final counters). Idempotent; a session already gone is no error.
    pub fn stop(&mut self, api: &mut impl EtwApi) -> Result<LossCounters, Error> {
        if self.stopped {
            return Ok(self.losses);
        }
        self.stopped = true;
        if let Ok(c) = api.query(&self.name) {
            self.losses = c;
        }
        match api.stop(&self.name) {
            Ok(c) => self.losses = max_counters(self.losses, c),
            Err(ERROR_WMI_INSTANCE_NOT_FOUND) => {}
            Err(code) => return Err(error_from_win32(Win32Op::ControlTrace, code, &self.name)),
        }
        Ok(self.losses)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }
}

fn max_counters(a: LossCounters, b: LossCounters) -> LossCounters {
    LossCounters {
        events_lost: a.events_lost.max(b.events_lost),
        log_buffers_lost: a.log_buffers_lost.max(b.log_buffers_lost),
        realtime_buffers_lost: a.realtime_buffers_lost.max(b.realtime_buffers_lost),
    }
}

/// Stops every pyetwkit session whose owner process is dead; returns their
/// names. Sessions of live processes, ours and everyone else's are left alone.
pub fn sweep_orphans(api: &mut impl EtwApi, own_pid: u32) -> Vec<String> {
    let Ok(names) = api.sessions() else {
        return Vec::new();
    };
    let mut swept = Vec::new();
    for name in names {
        let Some(owner) = owner_pid(&name) else {
            continue;
        };
        if owner != own_pid && !api.process_alive(owner) && api.stop(&name).is_ok() {
            swept.push(name);
        }
    }
    swept
}
