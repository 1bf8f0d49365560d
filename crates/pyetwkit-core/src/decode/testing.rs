//! Test support: payloads built field by field, with the properties a decoder
//! must read from them.

use crate::etl::record::{SYSTEM32, SYSTEM64};
use crate::event::{EtwEvent, EventKind, SharedBytes};
use crate::guid::Guid;
use crate::value::{Name, Value};

/// A payload laid out field by field, with the properties it must decode to.
pub(crate) struct Payload {
    /// The pointer size it is laid out for.
    pub p: usize,
    pub bytes: Vec<u8>,
    pub want: Vec<(Name, Value)>,
}

impl Payload {
    pub fn new(p: usize) -> Payload {
        Payload {
            p,
            bytes: Vec::new(),
            want: Vec::new(),
        }
    }

    pub fn field(mut self, name: &str, bytes: &[u8], value: Value) -> Payload {
        self.bytes.extend_from_slice(bytes);
        self.want.push((Name::from(name.to_string()), value));
        self
    }

    pub fn u16(self, name: &str, v: u16) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::U64(v.into()))
    }

    pub fn u32(self, name: &str, v: u32) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::U64(v.into()))
    }

    pub fn u64(self, name: &str, v: u64) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::U64(v))
    }

    pub fn i64(self, name: &str, v: i64) -> Payload {
        self.field(name, &v.to_le_bytes(), Value::I64(v))
    }

    /// A pointer: on 64-bit its high half is set, so a misplaced field shows.
    pub fn ptr(self, name: &str, low: u32) -> Payload {
        let v = if self.p == 8 {
            0xFFFF_F800_0000_0000 | u64::from(low)
        } else {
            u64::from(low)
        };
        let p = self.p;
        self.field(name, &v.to_le_bytes()[..p], Value::U64(v))
    }

    pub fn guid(self, name: &str, g: Guid) -> Payload {
        self.field(name, &g.0, Value::Guid(g))
    }

    pub fn utf8z(self, name: &str, text: &str) -> Payload {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.field(name, &bytes, Value::Str(text.to_string()))
    }

    pub fn utf16z(self, name: &str, text: &str) -> Payload {
        let bytes: Vec<u8> = text
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        self.field(name, &bytes, Value::Str(text.to_string()))
    }
}

/// A kernel record with `hook_id`, as a `pointer_size` kernel logs it.
pub(crate) fn kernel_event(
    hook_id: u16,
    version: u16,
    pointer_size: usize,
    payload: Vec<u8>,
) -> EtwEvent {
    let class = crate::kernel::class_of_hook(hook_id);
    EtwEvent {
        kind: EventKind::Kernel,
        header_type: Some(if pointer_size == 4 {
            SYSTEM32
        } else {
            SYSTEM64
        }),
        provider_id: class.map(|c| c.guid).unwrap_or_default(),
        hook_id: Some(hook_id),
        kernel_class: class,
        pointer_size: pointer_size as u8,
        event_id: 0,
        version,
        opcode: hook_id as u8,
        level: 0,
        task: 0,
        keywords: 0,
        channel: 0,
        pid: Some(4),
        tid: Some(8),
        processor: Some(0),
        filetime: 0,
        user_data: SharedBytes::from_vec(payload),
        activity_id: None,
        extended: SharedBytes::default(),
        file_offset: Some(0),
        process: None,
        schema: None,
        annotation: None,
    }
}

/// A Process_V2_TypeGroup1 payload without a user SID.
pub(crate) fn process_payload(p: usize, pid: u32, image: &str, command_line: &str) -> Vec<u8> {
    let mut b = vec![0xAB; p]; // UniqueProcessKey
    for v in [pid, 1, 1, 0] {
        b.extend_from_slice(&v.to_le_bytes()); // ProcessId, ParentId, SessionId, ExitStatus
    }
    b.extend_from_slice(&[0; 4]); // no UserSID
    b.extend_from_slice(image.as_bytes());
    b.push(0);
    for u in command_line.encode_utf16().chain([0]) {
        b.extend_from_slice(&u.to_le_bytes());
    }
    b
}
