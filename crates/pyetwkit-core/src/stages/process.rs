//! The process stage: a pid → process map fed from process events, which sets
//! `EtwEvent.process` (image name and command line) for every source alike;
//! the process-name filter reads it. It learns from kernel Process events
//! (rundown included) and from Microsoft-Windows-Kernel-Process manifest
//! events (ProcessStart/ProcessStop, once their schema is attached), reading
//! both through the one decoder of each layout.

use std::sync::Arc;

use crate::event::{EtwEvent, ProcessContext};
use crate::fast_hash::FastMap;
use crate::guid::Guid;
use crate::kernel;
use crate::value::Value;

use super::schemas::SchemaRegistry;

/// The kernel hook group of Process events (EVENT_TRACE_GROUP_PROCESS >> 8).
const PROCESS_GROUP: u16 = 0x03;

pub const OPCODE_START: u8 = 1;
pub const OPCODE_END: u8 = 2;
pub const OPCODE_DC_START: u8 = 3;
pub const OPCODE_DC_END: u8 = 4;

/// Microsoft-Windows-Kernel-Process, whose ProcessStart (1) and ProcessStop (2)
/// events say what the kernel's Process Start and End say.
pub const KERNEL_PROCESS_PROVIDER: Guid = Guid::from_fields(
    0x22fb2cd6,
    0x0e7b,
    0x422b,
    [0xa0, 0xc7, 0x2f, 0xad, 0x1f, 0xd0, 0xe7, 0x16],
);
const KERNEL_PROCESS_START: u16 = 1;
const KERNEL_PROCESS_STOP: u16 = 2;

/// What a process event says of its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The image's file name (`notepad.exe`), whatever path the event gave.
    pub image_name: String,
    pub command_line: Option<String>,
}

/// A cheap test, on the header alone, that `event` may be a process event:
/// most events are not, and skip the call to `process_event`.
#[inline]
fn may_describe_a_process(event: &EtwEvent) -> bool {
    match event.kernel_class {
        Some(class) => event.opcode <= OPCODE_DC_END && class.guid == kernel::PROCESS.guid,
        None => event.provider_id == KERNEL_PROCESS_PROVIDER,
    }
}

/// If `event` starts, ends or runs down a process, what it says, with the
/// kernel opcode that stands for it (`OPCODE_START` ... `OPCODE_DC_END`).
pub fn process_event(event: &EtwEvent) -> Option<(u8, ProcessInfo)> {
    let opcode = if event
        .kernel_class
        .is_some_and(|c| c.guid == kernel::PROCESS.guid)
    {
        match event.opcode {
            op @ (OPCODE_START | OPCODE_END | OPCODE_DC_START | OPCODE_DC_END) => op,
            _ => return None,
        }
    } else if event.provider_id == KERNEL_PROCESS_PROVIDER && event.schema.is_some() {
        match event.event_id {
            KERNEL_PROCESS_START => OPCODE_START,
            KERNEL_PROCESS_STOP => OPCODE_END,
            _ => return None,
        }
    } else {
        return None;
    };
    let decoded = event.decode()?;
    let get = |names: &[&str]| {
        decoded
            .properties
            .iter()
            .find(|(k, _)| names.contains(&&**k))
            .map(|(_, v)| v)
    };
    let pid = match *get(&["ProcessId", "ProcessID"])? {
        Value::U64(v) => u32::try_from(v).ok()?,
        Value::I64(v) => u32::try_from(v).ok()?,
        _ => return None,
    };
    let text = |v: &Value| match v {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    };
    let image = text(get(&["ImageFileName", "ImageName"])?)?;
    Some((
        opcode,
        ProcessInfo {
            pid,
            image_name: file_name(&image).to_string(),
            command_line: get(&["CommandLine"]).and_then(text),
        },
    ))
}

/// The last component of a Windows path (`\Device\HarddiskVolume2\x\a.exe` → `a.exe`).
fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// One process that has held a pid, from `since` (a FILETIME) on.
#[derive(Debug, Clone)]
struct Lifetime {
    since: i64,
    context: Arc<ProcessContext>,
}

/// Lifetimes kept per pid, oldest dropped first: events of a process several
/// reuses ago no longer arrive, and a long live session stays bounded.
const LIFETIMES_PER_PID: usize = 4;

/// A process seen only through an End or a rundown: it existed before any time
/// the trace can show.
const SINCE_BEFORE_TRACE: i64 = i64::MIN;

/// pid → the processes that have held it, fed from kernel Process events
/// (Start, End, DCStart, DCEnd), and looked up by pid *and time*.
///
/// Records arrive in file order, which is per-buffer order, not time order: a
/// buffer of one CPU can hold events of a process later than another CPU's buffer
/// that holds its Start. So the table keeps, per pid, the processes that held it
/// with the time each took it over, and names an event after the process that
/// held its pid at the event's *timestamp*. That makes it tolerant of pid reuse:
/// - a Start begins a new lifetime at its timestamp; it replaces nothing, so
///   late-arriving events of the previous holder (timestamped before the Start)
///   keep the previous name, and events from the Start on get the new one;
/// - an End keeps the lifetime: events of the ended process may still follow,
///   and events between an End and the pid's next Start keep the old name;
/// - an End, DCStart or DCEnd for a pid with no lifetime covering its timestamp
///   describes a process that existed before the trace (rundown, or a missed
///   Start): it fills that gap, from the beginning of time;
/// - an event timestamped before every known lifetime of its pid gets no name
///   (its process's Start was not seen).
///
/// Fed as events stream by, there is no look-ahead: an event read before its
/// process's Start or rundown record is not named (a trace whose only rundown is
/// at its end names little before it; `prescan` fills the table first), and an
/// event of a new holder read before that holder's Start gets the previous
/// holder's name.
#[derive(Debug, Default, Clone)]
pub struct ProcessTable {
    by_pid: FastMap<u32, Vec<Lifetime>>,
    /// The last answer and the span of time it holds for: events come in runs
    /// of one process, so most lookups end here. Cleared when the table changes.
    last: Option<Remembered>,
}

#[derive(Debug, Clone)]
struct Remembered {
    pid: u32,
    from: i64,
    until: i64,
    context: Option<Arc<ProcessContext>>,
}

impl ProcessTable {
    /// Feeds one event; returns true if it changed the table.
    pub fn observe(&mut self, event: &EtwEvent) -> bool {
        let Some((opcode, info)) = process_event(event) else {
            return false;
        };
        let at = event.filetime;
        let since = match opcode {
            OPCODE_START => at,
            _ if self.lookup(info.pid, at).is_some() => return false,
            _ => SINCE_BEFORE_TRACE,
        };
        let context = Arc::new(ProcessContext {
            image_name: info.image_name,
            command_line: info.command_line,
        });
        self.last = None;
        let lifetimes = self.by_pid.entry(info.pid).or_default();
        let slot = lifetimes.partition_point(|l| l.since < since);
        match lifetimes.get_mut(slot) {
            // The same Start seen twice: nothing new.
            Some(l) if l.since == since && *l.context == *context => return false,
            Some(l) if l.since == since => l.context = context,
            _ => lifetimes.insert(slot, Lifetime { since, context }),
        }
        if lifetimes.len() > LIFETIMES_PER_PID {
            lifetimes.remove(0);
        }
        true
    }

    /// The process that held `pid` at `filetime`, if known.
    pub fn lookup(&self, pid: u32, filetime: i64) -> Option<&Arc<ProcessContext>> {
        let lifetimes = self.by_pid.get(&pid)?;
        lifetimes
            .iter()
            .rev()
            .find(|l| l.since <= filetime)
            .map(|l| &l.context)
    }

    /// A table of every process event in the file at `path`, read ahead: events
    /// are then named even when the records describing their process come
    /// later (a trace whose only rundown is at its end). Only kernel Process
    /// records, and Kernel-Process and metadata events (their schemas come from
    /// `schemas`, a copy of the schema stage's), are built into events. A fault
    /// in the file ends the scan quietly, keeping what came before it: the main
    /// pass reports it.
    pub fn prescan(path: &std::path::Path, schemas: &SchemaRegistry) -> ProcessTable {
        let mut table = ProcessTable::default();
        let mut schemas = schemas.clone();
        let Ok(mut reader) = crate::etl::EtlReader::open(path) else {
            return table;
        };
        while let Ok(Some(record)) = reader.next_record() {
            let kernel_process = record.hook_id.map(|hook| hook >> 8) == Some(PROCESS_GROUP)
                && record.kind == crate::event::EventKind::Kernel;
            let wanted = kernel_process
                || record.provider_id == KERNEL_PROCESS_PROVIDER
                || record.provider_id == crate::decode::event_info::METADATA_PROVIDER;
            if wanted {
                let mut event = reader.event_from(&record);
                schemas.observe(&mut event);
                table.observe(&event);
            }
        }
        table
    }

    /// Feeds `event`, then sets its process context: what both the file reader
    /// and the pipeline do with every event, in order.
    #[inline]
    pub fn annotate(&mut self, event: &mut EtwEvent) {
        if may_describe_a_process(event) {
            self.observe(event);
        }
        event.process = event
            .pid
            .and_then(|pid| self.context_at(pid, event.filetime));
    }

    /// `lookup`, through the remembered last answer.
    fn context_at(&mut self, pid: u32, filetime: i64) -> Option<Arc<ProcessContext>> {
        if let Some(r) = &self.last {
            if r.pid == pid && (r.from..r.until).contains(&filetime) {
                return r.context.clone();
            }
        }
        let lifetimes = self.by_pid.get(&pid).map_or(&[][..], Vec::as_slice);
        let after = lifetimes.partition_point(|l| l.since <= filetime);
        let held = after.checked_sub(1).map(|i| &lifetimes[i]);
        let remembered = Remembered {
            pid,
            from: held.map_or(i64::MIN, |l| l.since),
            until: lifetimes.get(after).map_or(i64::MAX, |l| l.since),
            context: held.map(|l| l.context.clone()),
        };
        let context = remembered.context.clone();
        self.last = Some(remembered);
        context
    }

    /// How many pids the table knows.
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_remembered_answer_always_equals_a_lookup() {
        let mut t = ProcessTable::default();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let pid = (x % 5) as u32 * 4;
            let at = (x >> 8) as i64 % 1000;
            if step % 7 == 0 {
                let opcode = [OPCODE_START, OPCODE_END, OPCODE_DC_START][(x % 3) as usize];
                let image = if x.is_multiple_of(2) {
                    "a.exe"
                } else {
                    "b.exe"
                };
                t.observe(&process(opcode, at, 1, pid, image));
            }
            let want = t.lookup(pid, at).cloned();
            assert_eq!(t.context_at(pid, at), want, "pid {pid} at {at}");
        }
    }
    use super::*;

    #[test]
    fn sample_process_events_fill_the_table() {
        let bytes = crate::sample::build_sample().unwrap();
        let dir = std::env::temp_dir().join(format!("pyetwkit-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.etl");
        std::fs::write(&path, bytes).unwrap();
        let mut table = ProcessTable::default();
        let mut named = 0;
        for ev in crate::etl::EtlReader::open(&path).unwrap() {
            let mut ev = ev.unwrap();
            if let Some((_, info)) = process_event(&ev) {
                assert!(info.command_line.unwrap().contains("--serve"));
            }
            table.annotate(&mut ev);
            if ev.pid == Some(4242) && ev.name().as_deref() != Some("Process/Start") {
                assert_eq!(ev.process_name(), Some("sampleapp.exe"));
                assert!(ev.process_command_line().unwrap().contains("--serve"));
                named += 1;
            }
        }
        assert!(named > 0);
        let prescanned = ProcessTable::prescan(&path, &SchemaRegistry::default());
        assert_eq!(
            prescanned.len(),
            table.len(),
            "the prescan learns what a full pass does"
        );
        assert!(
            ProcessTable::prescan(&dir.join("missing.etl"), &SchemaRegistry::default()).is_empty()
        );
        let app = table.lookup(4242, i64::MAX).unwrap();
        assert_eq!(app.image_name, "sampleapp.exe");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use crate::decode::testing::{kernel_event, process_payload};

    const PROCESS_HOOK: u16 = 0x0300;

    /// A Process event of version 2 at `t` for `pid`, logged from `logger_pid`.
    fn process(opcode: u8, t: i64, logger_pid: u32, pid: u32, image: &str) -> EtwEvent {
        let payload = process_payload(8, pid, image, &format!("{image} --arg"));
        let mut e = kernel_event(PROCESS_HOOK | opcode as u16, 2, 8, payload);
        e.filetime = t;
        e.pid = Some(logger_pid);
        e
    }

    /// A non-process event of `pid` at `t`, as the table names it.
    fn name_at(table: &mut ProcessTable, pid: u32, t: i64) -> Option<String> {
        let mut e = kernel_event(0x0F2E, 2, 8, vec![0; 16]);
        e.filetime = t;
        e.pid = Some(pid);
        table.annotate(&mut e);
        e.process_name().map(str::to_string)
    }

    #[test]
    fn a_reused_pid_names_events_by_their_timestamp() {
        let mut t = ProcessTable::default();
        let a = Some("a.exe".to_string());
        let b = Some("b.exe".to_string());
        assert_eq!(name_at(&mut t, 5, 50), None);
        let mut start_a = process(OPCODE_START, 100, 1, 5, "a.exe");
        t.annotate(&mut start_a);
        assert_eq!(start_a.process_name(), None, "logged by the unknown parent");
        assert_eq!(name_at(&mut t, 5, 110), a);
        let mut end_a = process(OPCODE_END, 200, 5, 5, "a.exe");
        t.annotate(&mut end_a);
        assert_eq!(end_a.process_name(), Some("a.exe"));
        // After A's End and before the pid is reused: still A.
        assert_eq!(name_at(&mut t, 5, 250), a);
        assert!(t.observe(&process(OPCODE_START, 300, 1, 5, "b.exe")));
        assert_eq!(name_at(&mut t, 5, 310), b);
        // A late buffer: an event from before B's Start, read after it.
        assert_eq!(name_at(&mut t, 5, 260), a);
        assert_eq!(name_at(&mut t, 5, 50), None, "before every known holder");
        let ctx = t.lookup(5, 400).unwrap();
        assert_eq!(ctx.command_line.as_deref(), Some("b.exe --arg"));
        assert!(
            !t.observe(&process(OPCODE_START, 300, 1, 5, "b.exe")),
            "seen twice"
        );
    }

    #[test]
    fn rundown_and_ends_fill_only_unknown_pids() {
        let mut t = ProcessTable::default();
        // DCStart: the process existed before the trace, so before its record too.
        assert!(t.observe(&process(OPCODE_DC_START, 1000, 0, 7, "c.exe")));
        assert_eq!(name_at(&mut t, 7, 10).as_deref(), Some("c.exe"));
        assert!(t.observe(&process(OPCODE_START, 2000, 1, 7, "d.exe")));
        assert!(!t.observe(&process(OPCODE_DC_END, 3000, 0, 7, "d.exe")));
        assert_eq!(name_at(&mut t, 7, 1500).as_deref(), Some("c.exe"));
        assert_eq!(name_at(&mut t, 7, 2500).as_deref(), Some("d.exe"));
        // An End or DCEnd for a pid never seen still names its process.
        assert!(t.observe(&process(OPCODE_DC_END, 3000, 0, 9, "e.exe")));
        assert_eq!(name_at(&mut t, 9, 5).as_deref(), Some("e.exe"));
        assert!(t.observe(&process(OPCODE_END, 3000, 11, 11, "f.exe")));
        assert_eq!(name_at(&mut t, 11, 2999).as_deref(), Some("f.exe"));
        // A rundown read after a Start of the same pid fills the time before it.
        assert!(t.observe(&process(OPCODE_START, 500, 1, 13, "new.exe")));
        assert!(t.observe(&process(OPCODE_DC_START, 100, 0, 13, "old.exe")));
        assert_eq!(name_at(&mut t, 13, 200).as_deref(), Some("old.exe"));
        assert_eq!(name_at(&mut t, 13, 600).as_deref(), Some("new.exe"));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn history_per_pid_is_bounded_and_bad_payloads_are_ignored() {
        let mut t = ProcessTable::default();
        for i in 0..20 {
            t.observe(&process(OPCODE_START, 100 * i, 1, 5, &format!("p{i}.exe")));
        }
        assert_eq!(t.by_pid[&5].len(), LIFETIMES_PER_PID);
        assert_eq!(name_at(&mut t, 5, 1950).as_deref(), Some("p19.exe"));
        let mut cut = process(OPCODE_START, 5000, 1, 6, "x.exe");
        cut.user_data = crate::event::SharedBytes::from_vec(vec![1, 2, 3]);
        assert!(!t.observe(&cut));
        let mut no_pid = kernel_event(0x0F2E, 2, 8, Vec::new());
        no_pid.pid = None;
        t.annotate(&mut no_pid);
        assert!(no_pid.process.is_none());
    }
}
