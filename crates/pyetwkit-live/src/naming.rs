//! Session names: `pyetwkit-{label}-{pid}`, so that a session can be traced
//! back to the process that owns it, and sessions whose owner died can be
//! found and stopped (the orphan sweep at start).

/// Every pyetwkit session name starts with this.
pub const SESSION_PREFIX: &str = "pyetwkit-";

/// The longest session name pyetwkit makes, in characters (ETW allows more:
/// this keeps names readable in `logman query -ets` and within every API's limit).
pub const MAX_SESSION_NAME_CHARS: usize = 200;

/// The name of a session labelled `label`, owned by process `pid`. The label
/// keeps letters, digits, `_`, `.` and `-` (anything else becomes `_`), and is
/// shortened so that the whole name fits `MAX_SESSION_NAME_CHARS`.
pub fn session_name(label: &str, pid: u32) -> String {
    let suffix = format!("-{pid}");
    let room = MAX_SESSION_NAME_CHARS - SESSION_PREFIX.len() - suffix.len();
    let label: String = label
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
            _ => '_',
        })
        .take(room)
        .collect();
    let label = if label.is_empty() {
        "session".into()
    } else {
        label
    };
    format!("{SESSION_PREFIX}{label}{suffix}")
}

/// The owner's pid of a session pyetwkit named, or `None` for any other name.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SESSION_PREFIX)?;
    let (label, pid) = rest.rsplit_once('-')?;
    if label.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_label_and_owner() {
        assert_eq!(session_name("listener", 4242), "pyetwkit-listener-4242");
        assert_eq!(owner_pid("pyetwkit-listener-4242"), Some(4242));
        assert_eq!(session_name("my app/ü", 7), "pyetwkit-my_app__-7");
        assert_eq!(session_name("", 7), "pyetwkit-session-7");
        // A label with dashes still gives its owner back: the pid is the last part.
        assert_eq!(owner_pid(&session_name("a-b-c", 99)), Some(99));
    }

    #[test]
    fn names_fit_the_limit_whatever_the_label() {
        for len in [0, 1, 150, 189, 190, 191, 5000] {
            let name = session_name(&"x".repeat(len), u32::MAX);
            assert!(name.chars().count() <= MAX_SESSION_NAME_CHARS, "{len}");
            assert_eq!(owner_pid(&name), Some(u32::MAX));
        }
    }

    #[test]
    fn other_sessions_are_not_ours() {
        for name in [
            "NT Kernel Logger",
            "pyetwkit-",
            "pyetwkit-x-",
            "pyetwkit--5",
            "pyetwkit-x-12a",
            "pyetwkit-x-99999999999",
            "EventLog-Application",
        ] {
            assert_eq!(owner_pid(name), None, "{name}");
        }
    }
}
