//! pyetwkit-live: live ETW sessions. The Windows source (on ferrisetw) is
//! `cfg(windows)`; everything it computes is pure code here, tested on every
//! OS: ETW's enablement rules, session names, buffer presets, and how Win32
//! errors become the core's errors. Off Windows, asking for a live session is `Error::Unsupported`.

mod controller;
mod enablement;
mod naming;
#[cfg(windows)]
pub mod native;
mod presets;
mod simulated;
mod spec;
mod tdh;
mod win32;

pub use controller::{
    sweep_orphans, Controller, EtwApi, Failure, KernelSession, LossCounters, OnConflict,
    SessionSpec, NT_KERNEL_LOGGER,
};
pub use enablement::{
    level_and_keywords_pass, Enablement, EventIdFilter, ProviderEnable, Selector,
    ENABLE_PROPERTY_SID, ENABLE_PROPERTY_STACK_TRACE, ENABLE_PROPERTY_TS_ID,
};
pub use naming::{owner_pid, session_name, MAX_SESSION_NAME_CHARS, SESSION_PREFIX};
pub use presets::{BufferSettings, Preset, FLUSH_TIMER_MS_MODE};
pub use simulated::{AtEnd, SimulatedEtw, SimulatedSession};
pub use spec::{parse_enablement, SessionRequest, MAX_FILTER_EVENT_IDS, MAX_FILTER_PIDS};
pub use tdh::{parse_provider_enumeration, RegisteredProvider, TdhLookup, TdhSchemas};
pub use win32::{error_from_win32, is_normal_end, Win32Op};

use pyetwkit_core::Error;

/// Whether this build can run live ETW sessions.
pub fn live_sessions_supported() -> bool {
    cfg!(windows)
}

/// Starts a live session (Windows): the source and its chain of stages.
pub fn start_live(
    request: &SessionRequest<'_>,
    filter_json: Option<&str>,
) -> Result<
    (
        Box<dyn pyetwkit_core::pipeline::Source>,
        pyetwkit_core::stages::Stages,
    ),
    Error,
> {
    #[cfg(windows)]
    {
        let (session, stages) = native::LiveSession::start(request, filter_json)?;
        Ok((Box::new(session), stages))
    }
    #[cfg(not(windows))]
    {
        let _ = (request, filter_json);
        Err(unsupported())
    }
}

/// The providers registered on this machine (TdhEnumerateProviders; Windows).
pub fn installed_providers() -> Result<Vec<RegisteredProvider>, Error> {
    #[cfg(windows)]
    {
        let bytes = native::enumerate_providers().map_err(|code| {
            error_from_win32(Win32Op::EnumerateProviders, code, "the provider list")
        })?;
        let mut list = parse_provider_enumeration(&bytes);
        list.sort_by_key(|p| p.name.to_lowercase());
        Ok(list)
    }
    #[cfg(not(windows))]
    {
        Err(unsupported())
    }
}

/// The error for asking for a live session where there is none.
pub fn unsupported() -> Error {
    Error::Unsupported(format!(
        "live ETW sessions need Windows (this is {}); replaying recorded .etl files works everywhere",
        std::env::consts::OS
    ))
}
