//! `EtwEvent`: the one event type, whatever the source (file or live session).
//! Field names are public API and match DESIGN.md and the JSON Lines output.

use std::fmt;
use std::sync::Arc;

use crate::extended;
use crate::guid::Guid;
use crate::kernel::KernelClass;
use crate::schema::EventSchema;
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

/// What the process table knows of one process. Events share it through an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessContext {
    pub image_name: String,
    /// From kernel Process events of version 2 and later.
    pub command_line: Option<String>,
}

/// One ETW event, whichever source made it (a file or a live session).
/// Header fields are decoded eagerly (cheap); extended data and names are
/// derived on demand from the raw bytes kept alongside. What a record's bytes
/// imply (pointer size, kernel class) is a field, set by the source, so that
/// nothing downstream depends on the file format.
/// Equality compares what the record holds; `process` and `schema` are
/// context the stages add, so they are left out.
#[derive(Debug, Clone)]
pub struct EtwEvent {
    pub kind: EventKind,
    /// The record's header type in a file; `None` for live events.
    pub header_type: Option<u8>,
    pub provider_id: Guid,
    /// Kernel records of a file: the hook id (group << 8 | opcode).
    pub hook_id: Option<u16>,
    /// The kernel MOF class of a kernel event: from the hook id in files, from
    /// the class GUID live.
    pub kernel_class: Option<&'static KernelClass>,
    /// The pointer size of the process that logged the event: 4 or 8.
    pub pointer_size: u8,
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
    /// The extended data items, packed as a file stores them (see `extended`);
    /// empty when there are none.
    pub extended: SharedBytes,
    /// Files only: where the record was read, or for records inside a
    /// compressed buffer, the buffer's file offset.
    pub file_offset: Option<u64>,
    /// The event's process (image name, command line), when the process
    /// stage knows it.
    pub process: Option<Arc<ProcessContext>>,
    /// The payload's schema when a manifest, embedded metadata or TDH describes
    /// the event; the schema stage attaches it.
    pub schema: Option<Arc<EventSchema>>,
    /// What a gate stage attached to the event (the Sigma matches), for the
    /// bindings to read; the core never looks inside.
    pub annotation: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl PartialEq for EtwEvent {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind
            && self.header_type == o.header_type
            && self.provider_id == o.provider_id
            && self.hook_id == o.hook_id
            && self.kernel_class.map(|c| c.guid) == o.kernel_class.map(|c| c.guid)
            && self.pointer_size == o.pointer_size
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_bytes_never_slice_out_of_range() {
        let b = SharedBytes::new(Arc::new(vec![1, 2, 3]), 2..9);
        assert!(b.is_empty());
        assert_eq!(SharedBytes::from_vec(vec![4, 5]).as_slice(), &[4, 5]);
    }
}
