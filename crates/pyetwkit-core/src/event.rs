//! `EtwEvent`: the one event type, whatever the source (file or live session).
//! Field names are public API and match DESIGN.md and the JSON Lines output.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::etl::extended;
use crate::guid::Guid;
use crate::process::ProcessContext;
use crate::time::filetime_to_iso8601;

/// Which header the record had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// EVENT_HEADER (manifest, TraceLogging, EventSource).
    Event,
    /// EVENT_TRACE_HEADER / EVENT_INSTANCE_HEADER (classic MOF providers).
    Classic,
    /// SYSTEM, COMPACT and PERFINFO headers (the kernel logger).
    Kernel,
    /// WPP TraceMessage.
    Wpp,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Event => "event",
            EventKind::Classic => "classic",
            EventKind::Kernel => "kernel",
            EventKind::Wpp => "wpp",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A byte range of a shared buffer: events keep their payload without copying it.
#[derive(Clone, Default)]
pub struct SharedBytes {
    buf: Option<Arc<Vec<u8>>>,
    // u32: buffers are at most 64 MiB, and events stay small.
    start: u32,
    end: u32,
}

impl SharedBytes {
    /// `range` must lie within `buf`; an out-of-range request yields an empty slice.
    pub fn new(buf: Arc<Vec<u8>>, range: std::ops::Range<usize>) -> Self {
        let ok =
            range.start <= range.end && range.end <= buf.len() && range.end <= u32::MAX as usize;
        SharedBytes {
            start: if ok { range.start as u32 } else { 0 },
            end: if ok { range.end as u32 } else { 0 },
            buf: Some(buf),
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Self {
        let end = v.len();
        SharedBytes::new(Arc::new(v), 0..end)
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.start as usize..self.end as usize],
            None => &[],
        }
    }

    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SharedBytes {}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len())
    }
}

/// One ETW event. Header fields are decoded eagerly (cheap); extended data and
/// names are derived on demand from the raw bytes kept alongside.
/// Equality compares what the record holds; `process` is context the reader or
/// pipeline adds, so it is left out.
#[derive(Debug, Clone)]
pub struct EtwEvent {
    pub kind: EventKind,
    pub header_type: u8,
    pub provider_id: Guid,
    /// Kernel records: the hook id (group << 8 | opcode); names derive from it.
    pub hook_id: Option<u16>,
    pub event_id: u16,
    pub version: u16,
    pub opcode: u8,
    pub level: u8,
    pub task: u16,
    pub keywords: u64,
    pub channel: u8,
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    pub processor: Option<u16>,
    pub filetime: i64,
    pub user_data: SharedBytes,
    pub activity_id: Option<Guid>,
    /// Raw extended data items region (EVENT_HEADER records), empty otherwise.
    pub extended: SharedBytes,
    /// Where the record was read: a file offset, or for records inside a
    /// compressed buffer, the buffer's file offset.
    pub file_offset: u64,
    /// The event's process (image name, command line), when the process table
    /// of the reader or pipeline knows it: see `process::ProcessTable`.
    pub process: Option<Arc<ProcessContext>>,
    /// The payload's schema when a manifest or embedded metadata describes the
    /// event; the reader attaches it (`decode::SchemaRegistry`).
    pub schema: Option<Arc<crate::decode::EventSchema>>,
}

impl PartialEq for EtwEvent {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind
            && self.header_type == o.header_type
            && self.provider_id == o.provider_id
            && self.hook_id == o.hook_id
            && self.event_id == o.event_id
            && self.version == o.version
            && self.opcode == o.opcode
            && self.level == o.level
            && self.task == o.task
            && self.keywords == o.keywords
            && self.channel == o.channel
            && self.pid == o.pid
            && self.tid == o.tid
            && self.processor == o.processor
            && self.filetime == o.filetime
            && self.activity_id == o.activity_id
            && self.file_offset == o.file_offset
            && self.user_data == o.user_data
            && self.extended == o.extended
    }
}

impl Eq for EtwEvent {}

impl EtwEvent {
    pub fn timestamp(&self) -> String {
        filetime_to_iso8601(self.filetime)
    }

    /// The kernel class of a kernel record (from its hook id).
    pub fn kernel_class(&self) -> Option<&'static crate::kernel::KernelClass> {
        self.hook_id.and_then(crate::kernel::class_of_hook)
    }

    pub fn provider_name(&self) -> Option<Cow<'static, str>> {
        match self.kernel_class() {
            Some(class) => Some(Cow::Borrowed(class.name)),
            None if crate::decode::image_id::is_image_id(self) => {
                Some(Cow::Borrowed(crate::decode::image_id::PROVIDER_NAME))
            }
            None => extended::provider_name(self.extended.as_slice())
                .map(Cow::Owned)
                .or_else(|| self.schema.as_ref()?.provider_name.clone().map(Cow::Owned)),
        }
    }

    /// Names known without decoding the payload.
    fn known_name(&self) -> Option<&'static str> {
        if self.kind == EventKind::Classic {
            return crate::decode::image_id::event_name(self);
        }
        (self.kind == EventKind::Kernel && self.hook_id == Some(0)).then_some("EventTrace/Header")
    }

    /// `Class/Opcode` of a kernel event, without decoding its payload.
    fn kernel_name(&self) -> Option<&'static str> {
        crate::decode::kernel::event_name(self)
    }

    /// The event name: known names first, else the TraceLogging schema's event name.
    pub fn name(&self) -> Option<Cow<'static, str>> {
        if self.kind == EventKind::Kernel {
            return self
                .known_name()
                .map(Cow::Borrowed)
                .or_else(|| self.kernel_name().map(Cow::Borrowed));
        }
        self.known_name().map(Cow::Borrowed).or_else(|| {
            match extended::find(self.extended.as_slice(), extended::EVENT_SCHEMA_TL) {
                Some(tl) => crate::decode::tracelogging::event_name(tl).map(Cow::Owned),
                None => self
                    .schema
                    .as_ref()?
                    .event_name
                    .as_deref()
                    .map(|n| Cow::Owned(n.to_string())),
            }
        })
    }

    pub fn related_activity_id(&self) -> Option<Guid> {
        extended::related_activity_id(self.extended.as_slice())
    }

    pub fn stack(&self) -> Option<Vec<u64>> {
        extended::stack(self.extended.as_slice())
    }

    pub fn sid(&self) -> Option<String> {
        extended::sid(self.extended.as_slice())
    }

    pub fn session_id(&self) -> Option<u32> {
        extended::session_id(self.extended.as_slice())
    }

    /// The image name of the event's process, when known (see `process`).
    pub fn process_name(&self) -> Option<&str> {
        self.process.as_deref().map(|p| p.image_name.as_str())
    }

    /// The command line of the event's process, when known (see `process`).
    pub fn process_command_line(&self) -> Option<&str> {
        self.process.as_deref()?.command_line.as_deref()
    }

    pub fn process_start_key(&self) -> Option<u64> {
        extended::process_start_key(self.extended.as_slice())
    }

    /// Decodes the payload, if a decoder knows its layout (no caching here:
    /// callers that need it more than once keep the result).
    pub fn decode(&self) -> Option<crate::decode::Decoded> {
        crate::decode::decode(self)
    }

    /// The TraceLogging schema item (extended type 11), raw (`decode` interprets it).
    pub fn tracelogging_schema(&self) -> Option<&[u8]> {
        extended::find(self.extended.as_slice(), extended::EVENT_SCHEMA_TL)
    }

    /// Every extended data item as (type, bytes).
    pub fn extended_items(&self) -> Vec<(u16, &[u8])> {
        extended::items(self.extended.as_slice())
            .map(|i| (i.ext_type, i.data))
            .collect()
    }

    /// The JSON Lines object: DESIGN.md's fields in its order; `user_data` as hex.
    pub fn to_json(&self) -> Value {
        let guid = |g: Option<Guid>| {
            g.map(|g| Value::String(g.to_string()))
                .unwrap_or(Value::Null)
        };
        let mut m = Map::new();
        m.insert("kind".into(), json!(self.kind.as_str()));
        m.insert("header_type".into(), json!(self.header_type));
        m.insert("provider_id".into(), json!(self.provider_id.to_string()));
        m.insert("provider_name".into(), json!(self.provider_name()));
        m.insert("event_id".into(), json!(self.event_id));
        m.insert("version".into(), json!(self.version));
        m.insert("opcode".into(), json!(self.opcode));
        m.insert("level".into(), json!(self.level));
        m.insert("task".into(), json!(self.task));
        m.insert("keywords".into(), json!(self.keywords));
        m.insert("channel".into(), json!(self.channel));
        m.insert("pid".into(), json!(self.pid));
        m.insert("tid".into(), json!(self.tid));
        m.insert("processor".into(), json!(self.processor));
        m.insert("timestamp".into(), json!(self.timestamp()));
        m.insert("filetime".into(), json!(self.filetime));
        m.insert("name".into(), json!(self.name()));
        let properties = self
            .decode()
            .map(|d| {
                d.properties
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect()
            })
            .unwrap_or_default();
        m.insert("properties".into(), Value::Object(properties));
        m.insert("user_data".into(), json!(hex(self.user_data.as_slice())));
        m.insert("activity_id".into(), guid(self.activity_id));
        m.insert(
            "related_activity_id".into(),
            guid(self.related_activity_id()),
        );
        m.insert("stack".into(), json!(self.stack()));
        m.insert("sid".into(), json!(self.sid()));
        m.insert("session_id".into(), json!(self.session_id()));
        Value::Object(m)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracelogging_name_skips_tag_bytes() {
        assert_eq!(
            crate::decode::tracelogging::event_name(b"\x10\x00\x00Hello\0x").as_deref(),
            Some("Hello")
        );
        assert_eq!(
            crate::decode::tracelogging::event_name(b"\x10\x00\x81\x02Hi\0").as_deref(),
            Some("Hi")
        );
        assert_eq!(
            crate::decode::tracelogging::event_name(b"\x10\x00\x80"),
            None
        );
    }

    #[test]
    fn shared_bytes_never_slice_out_of_range() {
        let b = SharedBytes::new(Arc::new(vec![1, 2, 3]), 2..9);
        assert!(b.is_empty());
        assert_eq!(SharedBytes::from_vec(vec![4, 5]).as_slice(), &[4, 5]);
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
    }
}
