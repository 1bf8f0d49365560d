//! Process context: a pid → image map fed from kernel Process events, for the
//! process-name filter and `EtwEvent.process_name`. Only the fields the map needs
//! are read here; full MOF decoding belongs to the decoders.

use std::collections::HashMap;
use std::sync::Arc;

use crate::bytes::{i32_at, u32_at, u8_at, utf16z_at, utf8z_at};
use crate::event::{EtwEvent, EventKind};
use crate::kernel;

pub const OPCODE_START: u8 = 1;
pub const OPCODE_END: u8 = 2;
pub const OPCODE_DC_START: u8 = 3;
pub const OPCODE_DC_END: u8 = 4;

/// What a Process_TypeGroup1 event (Start, End, DCStart, DCEnd) says of its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub parent_pid: u32,
    pub session_id: Option<u32>,
    pub exit_status: Option<i32>,
    pub image_name: String,
    pub command_line: Option<String>,
}

/// Reads a Process_TypeGroup1 payload, for MOF versions 0 to 4 (and later
/// versions, which only append fields), 32- or 64-bit. `None` if it is too short.
pub fn parse_process(version: u16, pointer_size: usize, payload: &[u8]) -> Option<ProcessInfo> {
    let p = pointer_size;
    let (pid_at, has_session) = match version {
        0 => (0, false),
        _ => (p, true),
    };
    let pid = u32_at(payload, pid_at)?;
    let parent_pid = u32_at(payload, pid_at + 4)?;
    let (session_id, exit_status, mut at) = if has_session {
        let session = u32_at(payload, pid_at + 8)?;
        let exit = i32_at(payload, pid_at + 12)?;
        (Some(session), Some(exit), pid_at + 16)
    } else {
        (None, None, pid_at + 8)
    };
    if version >= 3 {
        at += p; // DirectoryTableBase
    }
    if version >= 4 {
        at += 4; // Flags
    }
    at = skip_sid(payload, at, p)?;
    let (image_name, next) = utf8z_at(payload, at)?;
    let command_line = if version >= 2 {
        utf16z_at(payload, next).map(|(s, _)| s)
    } else {
        None
    };
    Some(ProcessInfo {
        pid,
        parent_pid,
        session_id,
        exit_status,
        image_name,
        command_line,
    })
}

/// Skips a MOF `UserSID` object: a zero pointer (4 bytes) for no token, else a
/// TOKEN_USER (two pointers' worth) followed by the SID itself.
pub fn skip_sid(payload: &[u8], at: usize, pointer_size: usize) -> Option<usize> {
    if u32_at(payload, at)? == 0 {
        return Some(at + 4);
    }
    let token = 2 * pointer_size;
    let sub_authorities = u8_at(payload, at + token + 1)? as usize;
    let end = at + token + 8 + 4 * sub_authorities;
    (end <= payload.len()).then_some(end)
}

/// The pointer size of the process that logged `event`, from its header type.
pub fn pointer_size(event: &EtwEvent) -> usize {
    use crate::etl::record::*;
    match event.header_type {
        SYSTEM32 | COMPACT32 | PERFINFO32 | FULL32 | INSTANCE32 | EVENT32 => 4,
        _ => 8,
    }
}

/// If `event` is a kernel Process Start/End/DCStart/DCEnd event, what it says.
pub fn process_event(event: &EtwEvent) -> Option<(u8, ProcessInfo)> {
    if event.kind != EventKind::Kernel
        || event.kernel_class().map(|c| c.name) != Some(kernel::PROCESS.name)
    {
        return None;
    }
    match event.opcode {
        OPCODE_START | OPCODE_END | OPCODE_DC_START | OPCODE_DC_END => parse_process(
            event.version,
            pointer_size(event),
            event.user_data.as_slice(),
        )
        .map(|i| (event.opcode, i)),
        _ => None,
    }
}

/// pid → the image of the process that has (or last had) that pid.
/// A Start for a reused pid replaces the old entry; an End keeps it, since
/// events of the ended process can still follow.
#[derive(Debug, Default, Clone)]
pub struct ProcessTable {
    by_pid: HashMap<u32, Arc<str>>,
}

impl ProcessTable {
    /// Feeds one event; returns true if it changed the table.
    pub fn observe(&mut self, event: &EtwEvent) -> bool {
        let Some((opcode, info)) = process_event(event) else {
            return false;
        };
        let known = self.by_pid.get(&info.pid).map(|s| &**s);
        match opcode {
            OPCODE_START | OPCODE_DC_START if known != Some(info.image_name.as_str()) => {
                self.by_pid.insert(info.pid, Arc::from(info.image_name));
                true
            }
            // An End for a pid seen only now still names its image.
            OPCODE_END | OPCODE_DC_END if known.is_none() => {
                self.by_pid.insert(info.pid, Arc::from(info.image_name));
                true
            }
            _ => false,
        }
    }

    pub fn image_of(&self, pid: u32) -> Option<&Arc<str>> {
        self.by_pid.get(&pid)
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_is_skipped_by_its_sub_authority_count() {
        // TOKEN_USER (16 bytes on 64-bit), then S-1-5-18: revision, count 1, authority, 1 sub.
        let mut p = vec![1u8; 16];
        p.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        p.extend_from_slice(b"x.exe\0");
        assert_eq!(skip_sid(&p, 0, 8), Some(28));
        assert_eq!(skip_sid(&[0, 0, 0, 0], 0, 8), Some(4));
        assert_eq!(skip_sid(&p[..20], 0, 8), None);
    }

    #[test]
    fn sample_process_events_fill_the_table() {
        let bytes = crate::sample::build_sample().unwrap();
        let dir = std::env::temp_dir().join(format!("pyetwkit-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.etl");
        std::fs::write(&path, bytes).unwrap();
        let mut table = ProcessTable::default();
        for ev in crate::etl::EtlReader::open(&path).unwrap() {
            let ev = ev.unwrap();
            if let Some((_, info)) = process_event(&ev) {
                assert_eq!(info.parent_pid, 1000);
                assert!(info.command_line.unwrap().contains("--serve"));
            }
            table.observe(&ev);
        }
        assert_eq!(table.image_of(4242).map(|s| &**s), Some("sampleapp.exe"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
