//! Win32 error codes from the session calls, as the core's errors, so that
//! Python gets one clear exception per cause (the bindings map them).

use pyetwkit_core::Error;

/// Which call failed: the same code means different things per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Win32Op {
    StartTrace,
    EnableProvider,
    ControlTrace,
    OpenTrace,
    ProcessTrace,
    EnumerateProviders,
}

impl Win32Op {
    fn name(self) -> &'static str {
        match self {
            Win32Op::StartTrace => "StartTrace",
            Win32Op::EnableProvider => "EnableTraceEx2",
            Win32Op::ControlTrace => "ControlTrace",
            Win32Op::OpenTrace => "OpenTrace",
            Win32Op::ProcessTrace => "ProcessTrace",
            Win32Op::EnumerateProviders => "TdhEnumerateProviders",
        }
    }
}

const ERROR_ACCESS_DENIED: u32 = 5;
const ERROR_INVALID_PARAMETER: u32 = 87;
const ERROR_ALREADY_EXISTS: u32 = 183;
const ERROR_NO_SYSTEM_RESOURCES: u32 = 1450;
const ERROR_CANCELLED: u32 = 1223;
const ERROR_WMI_INSTANCE_NOT_FOUND: u32 = 4201;

/// The core error for `code`, returned by `op` on the session `session`.
pub fn error_from_win32(op: Win32Op, code: u32, session: &str) -> Error {
    let call = op.name();
    match code {
        ERROR_ACCESS_DENIED => Error::AccessDenied(format!(
            "{call} on {session:?}: access denied. Live ETW sessions need an administrator, \
             or a member of the Performance Log Users group (kernel sessions: administrator)"
        )),
        ERROR_ALREADY_EXISTS => Error::SessionExists(format!(
            "a session named {session:?} already exists; pass on_conflict=\"replace\" to stop it \
             and start anew"
        )),
        ERROR_NO_SYSTEM_RESOURCES => Error::SessionLimit(match op {
            Win32Op::EnableProvider => format!(
                "{call} on {session:?}: the provider is already enabled in as many sessions as \
                 it allows (8 for manifest providers)"
            ),
            _ => format!(
                "{call} on {session:?}: the system has reached its limit of 64 ETW sessions; \
                 stop unused sessions (logman query -ets)"
            ),
        }),
        ERROR_WMI_INSTANCE_NOT_FOUND => {
            Error::SessionNotFound(format!("{call}: no session named {session:?} is running"))
        }
        ERROR_INVALID_PARAMETER => {
            Error::InvalidArgument(format!("{call} on {session:?}: invalid parameter (87)"))
        }
        other => Error::Source(format!(
            "{call} on {session:?} failed: Win32 error {other} ({})",
            std::io::Error::from_raw_os_error(other as i32)
        )),
    }
}

/// Whether `ProcessTrace` returning `code` is a normal end: success, or any
/// error once we stopped the session ourselves (ETW reports the stop as
/// cancelled, or as whatever the closing handle gives).
pub fn is_normal_end(code: u32, stopped_by_us: bool) -> bool {
    code == 0 || code == ERROR_CANCELLED || stopped_by_us
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_documented_code_has_its_own_error() {
        let e = |op, code| error_from_win32(op, code, "pyetwkit-x-1");
        assert!(
            matches!(e(Win32Op::StartTrace, 5), Error::AccessDenied(m) if m.contains("Performance Log Users"))
        );
        assert!(
            matches!(e(Win32Op::StartTrace, 183), Error::SessionExists(m) if m.contains("on_conflict"))
        );
        assert!(matches!(e(Win32Op::StartTrace, 1450), Error::SessionLimit(m) if m.contains("64")));
        assert!(
            matches!(e(Win32Op::EnableProvider, 1450), Error::SessionLimit(m) if m.contains("provider"))
        );
        assert!(matches!(
            e(Win32Op::ControlTrace, 4201),
            Error::SessionNotFound(_)
        ));
        assert!(matches!(
            e(Win32Op::EnableProvider, 87),
            Error::InvalidArgument(_)
        ));
        assert!(
            matches!(e(Win32Op::OpenTrace, 6), Error::Source(m) if m.contains("Win32 error 6"))
        );
    }

    #[test]
    fn an_error_after_our_own_stop_is_a_normal_end() {
        assert!(is_normal_end(0, false));
        assert!(is_normal_end(1223, false));
        assert!(is_normal_end(6, true));
        assert!(!is_normal_end(6, false));
    }
}
