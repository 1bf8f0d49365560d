//! The session controller against a fake ETW that follows the documented
//! behaviour: one name per session, 64 sessions at most, 8 sessions per
//! manifest provider, access checks, and the error codes each call returns.

use std::collections::{BTreeMap, BTreeSet};

use pyetwkit_core::{Error, Guid};
use pyetwkit_live::{
    session_name, sweep_orphans, Controller, Enablement, EtwApi, Failure, KernelSession,
    LossCounters, OnConflict, Preset, ProviderEnable, SessionSpec, Win32Op, NT_KERNEL_LOGGER,
};

#[derive(Default)]
struct FakeEtw {
    sessions: BTreeMap<String, Session>,
    /// Sessions each provider is enabled in.
    enabled_in: BTreeMap<Guid, BTreeSet<String>>,
    dead_pids: BTreeSet<u32>,
    elevated: bool,
    /// Every call, in order, for checking what happens when.
    calls: Vec<String>,
}

#[derive(Default)]
struct Session {
    losses: LossCounters,
}

const ACCESS_DENIED: u32 = 5;
const ALREADY_EXISTS: u32 = 183;
const NO_SYSTEM_RESOURCES: u32 = 1450;
const NOT_FOUND: u32 = 4201;
const MAX_SESSIONS: usize = 64;
const MAX_SESSIONS_PER_PROVIDER: usize = 8;

impl FakeEtw {
    fn elevated() -> FakeEtw {
        FakeEtw {
            elevated: true,
            ..FakeEtw::default()
        }
    }
}

impl FakeEtw {
    fn enable(&mut self, name: &str, provider: &ProviderEnable) -> Result<(), u32> {
        self.calls.push(format!("enable {name}"));
        if !self.sessions.contains_key(name) {
            return Err(NOT_FOUND);
        }
        let sessions = self.enabled_in.entry(provider.guid).or_default();
        if !sessions.contains(name) && sessions.len() >= MAX_SESSIONS_PER_PROVIDER {
            return Err(NO_SYSTEM_RESOURCES);
        }
        sessions.insert(name.to_string());
        Ok(())
    }
}

impl EtwApi for FakeEtw {
    type Started = String;

    fn start(&mut self, name: &str, spec: &SessionSpec) -> Result<String, Failure> {
        self.calls.push(format!("start {name}"));
        let fail = |op, code| Err(Failure { op, code });
        if !self.elevated && spec.kernel != KernelSession::None {
            return fail(Win32Op::StartTrace, ACCESS_DENIED);
        }
        if self.sessions.contains_key(name) {
            return fail(Win32Op::StartTrace, ALREADY_EXISTS);
        }
        if self.sessions.len() >= MAX_SESSIONS {
            return fail(Win32Op::StartTrace, NO_SYSTEM_RESOURCES);
        }
        self.sessions.insert(name.to_string(), Session::default());
        for provider in &spec.enablement.providers {
            // Like ferrisetw: a failed enable returns, the session stays.
            self.enable(name, provider).map_err(|code| Failure {
                op: Win32Op::EnableProvider,
                code,
            })?;
        }
        Ok(format!("consumer of {name}"))
    }

    fn query(&mut self, name: &str) -> Result<LossCounters, u32> {
        self.calls.push(format!("query {name}"));
        self.sessions.get(name).map(|s| s.losses).ok_or(NOT_FOUND)
    }

    fn stop(&mut self, name: &str) -> Result<LossCounters, u32> {
        self.calls.push(format!("stop {name}"));
        let session = self.sessions.remove(name).ok_or(NOT_FOUND)?;
        for sessions in self.enabled_in.values_mut() {
            sessions.remove(name);
        }
        Ok(session.losses)
    }

    fn sessions(&mut self) -> Result<Vec<String>, u32> {
        Ok(self.sessions.keys().cloned().collect())
    }

    fn process_alive(&mut self, pid: u32) -> bool {
        !self.dead_pids.contains(&pid)
    }
}

fn provider(n: u32) -> ProviderEnable {
    ProviderEnable::new(Guid::from_fields(n, 0, 0, [0; 8]))
}

fn spec(label: &str, providers: Vec<ProviderEnable>) -> SessionSpec {
    SessionSpec {
        label: label.into(),
        enablement: Enablement {
            providers,
            kernel_flags: 0,
        },
        kernel: KernelSession::None,
        buffers: Preset::Balanced.settings(),
        on_conflict: OnConflict::Error,
    }
}

#[test]
fn start_enables_every_provider_and_stop_queries_then_stops() {
    let mut etw = FakeEtw::elevated();
    let two = spec("app", vec![provider(1), provider(2)]);
    let (mut c, consumer) = Controller::start(&mut etw, &two, 77).unwrap();
    assert_eq!(c.name(), "pyetwkit-app-77");
    assert_eq!(consumer, "consumer of pyetwkit-app-77");
    assert_eq!(etw.enabled_in.len(), 2);
    let session = "pyetwkit-app-77";
    etw.sessions.get_mut(session).unwrap().losses.events_lost = 5;
    assert_eq!(c.poll_losses(&mut etw).unwrap().events_lost, 5);
    etw.sessions
        .get_mut(session)
        .unwrap()
        .losses
        .realtime_buffers_lost = 2;
    etw.calls.clear();
    let last = c.stop(&mut etw).unwrap();
    assert_eq!(
        (last.events_lost, last.buffers_lost()),
        (5, 2),
        "the final counters"
    );
    assert_eq!(etw.calls, ["query pyetwkit-app-77", "stop pyetwkit-app-77"]);
    assert!(etw.sessions.is_empty() && etw.enabled_in.values().all(BTreeSet::is_empty));
    // Idempotent: a second stop calls nothing.
    etw.calls.clear();
    assert_eq!(c.stop(&mut etw).unwrap(), last);
    assert!(etw.calls.is_empty());
}

#[test]
fn a_name_clash_is_an_error_or_a_replacement() {
    let mut etw = FakeEtw::elevated();
    let s = spec("dup", vec![provider(1)]);
    let _first = Controller::start(&mut etw, &s, 5).unwrap();
    let clash = Controller::start(&mut etw, &s, 5).unwrap_err();
    assert!(
        matches!(clash, Error::SessionExists(ref m) if m.contains("on_conflict")),
        "{clash}"
    );
    let replace = SessionSpec {
        on_conflict: OnConflict::Replace,
        ..s
    };
    etw.calls.clear();
    let (second, _) = Controller::start(&mut etw, &replace, 5).unwrap();
    assert_eq!(second.name(), "pyetwkit-dup-5");
    let want = [
        "start pyetwkit-dup-5",
        "stop pyetwkit-dup-5",
        "start pyetwkit-dup-5",
        "enable pyetwkit-dup-5",
    ];
    assert_eq!(etw.calls, want);
}

#[test]
fn orphans_of_dead_processes_are_swept_and_nothing_else() {
    let mut etw = FakeEtw::elevated();
    for name in [
        session_name("old", 100),
        session_name("live", 200),
        "EventLog-System".to_string(),
        NT_KERNEL_LOGGER.to_string(),
    ] {
        etw.sessions.insert(name, Session::default());
    }
    etw.dead_pids.insert(100);
    etw.dead_pids.insert(300); // our own pid counts as alive whatever the OS says
    etw.sessions
        .insert(session_name("mine", 300), Session::default());
    assert_eq!(sweep_orphans(&mut etw, 300), ["pyetwkit-old-100"]);
    assert!(etw.sessions.contains_key("pyetwkit-live-200"));
    assert!(etw.sessions.contains_key("EventLog-System"));
    assert!(etw.sessions.contains_key(NT_KERNEL_LOGGER));
    assert!(etw.sessions.contains_key("pyetwkit-mine-300"));
    // Start sweeps too.
    etw.dead_pids.insert(200);
    let (c, _) = Controller::start(&mut etw, &spec("new", vec![]), 300).unwrap();
    assert_eq!(c.swept, ["pyetwkit-live-200"]);
}

#[test]
fn limits_and_privileges_become_clear_errors() {
    let mut etw = FakeEtw::elevated();
    for i in 0..64 {
        etw.sessions
            .insert(format!("other-{i}"), Session::default());
    }
    let full = Controller::start(&mut etw, &spec("x", vec![]), 1).unwrap_err();
    assert!(
        matches!(full, Error::SessionLimit(ref m) if m.contains("64")),
        "{full}"
    );

    // A manifest provider serves 8 sessions at most; the 9th enable fails and
    // the half-started session is stopped again.
    let mut etw = FakeEtw::elevated();
    for pid in 0..8 {
        Controller::start(&mut etw, &spec("p", vec![provider(9)]), pid).unwrap();
    }
    let ninth = Controller::start(&mut etw, &spec("p", vec![provider(9)]), 8).unwrap_err();
    assert!(
        matches!(ninth, Error::SessionLimit(ref m) if m.contains("provider")),
        "{ninth}"
    );
    assert!(
        !etw.sessions.contains_key("pyetwkit-p-8"),
        "no session left behind"
    );

    let mut user = FakeEtw::default();
    let kernel = SessionSpec {
        kernel: KernelSession::SystemLogger,
        ..spec("k", vec![])
    };
    let denied = Controller::start(&mut user, &kernel, 1).unwrap_err();
    assert!(
        matches!(denied, Error::AccessDenied(ref m) if m.contains("administrator")),
        "{denied}"
    );
}

#[test]
fn the_classic_kernel_logger_is_used_only_when_asked_for() {
    let mut etw = FakeEtw::elevated();
    let private = SessionSpec {
        kernel: KernelSession::SystemLogger,
        ..spec("kernel", vec![])
    };
    let (c, _) = Controller::start(&mut etw, &private, 9).unwrap();
    assert_eq!(c.name(), "pyetwkit-kernel-9");
    let classic = SessionSpec {
        kernel: KernelSession::NtKernelLogger,
        ..spec("kernel", vec![])
    };
    assert_eq!(
        Controller::start(&mut etw, &classic, 9).unwrap().0.name(),
        NT_KERNEL_LOGGER
    );
}

#[test]
fn a_session_stopped_by_someone_else_stops_cleanly() {
    let mut etw = FakeEtw::elevated();
    let (mut c, _) = Controller::start(&mut etw, &spec("gone", vec![]), 3).unwrap();
    etw.sessions.clear(); // `logman stop -ets` from outside
    assert!(matches!(
        c.poll_losses(&mut etw),
        Err(Error::SessionNotFound(_))
    ));
    assert!(c.stop(&mut etw).is_ok());
}
