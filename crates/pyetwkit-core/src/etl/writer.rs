//! Writes .etl files: buffers of records with the real on-disk layouts. It makes
//! the sample recording pyetwkit ships (see `sample`) and round-trip tests of
//! header types the corpus lacks. Buffers are written uncompressed.

use super::buffer::{BUFFER_HEADER_LEN, FLAG_PROCESSOR_INDEX};
use super::record::{self, Descriptor};
use crate::bytes::align8;
use crate::guid::Guid;

/// What the logfile header says about the recording machine and session.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub logger_name: String,
    pub os_major: u8,
    pub os_minor: u8,
    pub os_build: u32,
    pub cpu_count: u32,
    /// FILETIME of the session start; the clock is QPC at 10 MHz from there.
    pub start_time: i64,
    pub buffer_size: u32,
}

/// Header fields shared by every record: process, thread, processor-time stamp.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    pub pid: u32,
    pub tid: u32,
    /// Raw QPC ticks (100 ns) since the session started.
    pub ticks: i64,
}

/// A record that cannot fit into one buffer (its size in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a record of {0} bytes does not fit into one buffer")]
pub struct RecordTooLarge(pub usize);

pub struct EtlWriter {
    opts: WriterOptions,
    out: Vec<u8>,
    buf: Vec<u8>,
    buffers: u32,
    last_ticks: i64,
}

/// Raw timestamps count from an arbitrary QPC origin, as real files do.
const QPC_ORIGIN: i64 = 1_000_000_000;

impl EtlWriter {
    /// `opts.buffer_size` is raised to at least 1 KiB.
    pub fn new(mut opts: WriterOptions) -> EtlWriter {
        opts.buffer_size = opts.buffer_size.max(1024);
        let mut w = EtlWriter {
            out: Vec::new(),
            buf: Vec::new(),
            buffers: 0,
            last_ticks: 0,
            opts,
        };
        w.start_buffer();
        let payload = w.logfile_header_payload();
        // The header payload is about 0x160 bytes: it fits any buffer of a real size.
        let _ = w.push_kernel(record::SYSTEM64, 0x0000, 2, Origin::default(), &payload);
        // The header record lives alone in its buffer, as ETW writes it.
        w.flush_buffer(4);
        w
    }

    fn logfile_header_payload(&self) -> Vec<u8> {
        let o = &self.opts;
        let mut p = Vec::with_capacity(0x118 + 64);
        p.extend_from_slice(&o.buffer_size.to_le_bytes());
        p.extend_from_slice(&[o.os_major, o.os_minor, 0, 0]);
        p.extend_from_slice(&o.os_build.to_le_bytes());
        p.extend_from_slice(&o.cpu_count.to_le_bytes());
        p.extend_from_slice(&0i64.to_le_bytes()); // EndTime, patched in finish()
        p.extend_from_slice(&156_250u32.to_le_bytes()); // TimerResolution
        p.extend_from_slice(&0u32.to_le_bytes()); // MaximumFileSize
        p.extend_from_slice(&0u32.to_le_bytes()); // LogFileMode
        p.extend_from_slice(&0u32.to_le_bytes()); // BuffersWritten, patched
        p.extend_from_slice(&1u32.to_le_bytes()); // StartBuffers
        p.extend_from_slice(&8u32.to_le_bytes()); // PointerSize
        p.extend_from_slice(&0u32.to_le_bytes()); // EventsLost
        p.extend_from_slice(&3000u32.to_le_bytes()); // CpuSpeedInMHz
        p.extend_from_slice(&[0; 16]); // LoggerName, LogFileName pointers
        p.resize(0xF8, 0); // TIME_ZONE_INFORMATION (UTC) and alignment
        p.extend_from_slice(&(o.start_time - 36_000_000_000).to_le_bytes()); // BootTime
        p.extend_from_slice(&10_000_000i64.to_le_bytes()); // PerfFreq
        p.extend_from_slice(&o.start_time.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes()); // ReservedFlags: QPC
        p.extend_from_slice(&0u32.to_le_bytes()); // BuffersLost
        for name in [o.logger_name.as_str(), "C:\\pyetwkit\\sample.etl"] {
            for unit in name.encode_utf16().chain([0]) {
                p.extend_from_slice(&unit.to_le_bytes());
            }
        }
        p
    }

    fn start_buffer(&mut self) {
        self.buf.clear();
        self.buf.resize(BUFFER_HEADER_LEN, 0);
    }

    fn flush_buffer(&mut self, buffer_type: u16) {
        let used = self.buf.len() as u32;
        let size = self.opts.buffer_size;
        let h = &mut self.buf;
        h[0..4].copy_from_slice(&size.to_le_bytes());
        h[4..8].copy_from_slice(&used.to_le_bytes()); // SavedOffset
        h[8..12].copy_from_slice(&used.to_le_bytes()); // CurrentOffset
        h[0x10..0x18].copy_from_slice(&(QPC_ORIGIN + self.last_ticks).to_le_bytes());
        h[0x18..0x20].copy_from_slice(&(self.buffers as u64).to_le_bytes());
        h[0x28..0x2A]
            .copy_from_slice(&((self.buffers % self.opts.cpu_count.max(1)) as u16).to_le_bytes());
        h[0x30..0x34].copy_from_slice(&used.to_le_bytes());
        h[0x34..0x36].copy_from_slice(&(FLAG_PROCESSOR_INDEX | 0x1).to_le_bytes());
        h[0x36..0x38].copy_from_slice(&buffer_type.to_le_bytes());
        self.buf.resize(size as usize, 0xFF);
        self.out.extend_from_slice(&self.buf);
        self.buffers += 1;
        self.start_buffer();
    }

    /// Appends a record, starting a new buffer when this one is full. A record
    /// too large for a buffer, or for its u16 size field, is refused.
    fn push_record(&mut self, record: &[u8]) -> Result<(), RecordTooLarge> {
        let need = align8(record.len());
        if record.len() > u16::MAX as usize
            || BUFFER_HEADER_LEN + need > self.opts.buffer_size as usize
        {
            return Err(RecordTooLarge(record.len()));
        }
        if self.buf.len() + need > self.opts.buffer_size as usize {
            self.flush_buffer(0);
        }
        self.buf.extend_from_slice(record);
        self.buf.resize(self.buf.len() + need - record.len(), 0);
        Ok(())
    }

    fn stamp(&mut self, ticks: i64) -> i64 {
        self.last_ticks = self.last_ticks.max(ticks);
        QPC_ORIGIN + ticks
    }

    /// A kernel record: SYSTEM (0x01/0x02), COMPACT (0x03/0x04) or PERFINFO (0x10/0x11).
    pub fn push_kernel(
        &mut self,
        header_type: u8,
        hook_id: u16,
        version: u16,
        at: Origin,
        payload: &[u8],
    ) -> Result<(), RecordTooLarge> {
        let header_len = match header_type {
            record::SYSTEM32 | record::SYSTEM64 => 0x20,
            record::COMPACT32 | record::COMPACT64 => 0x18,
            _ => 0x10,
        };
        let ts = self.stamp(at.ticks);
        let mut r = Vec::with_capacity(header_len + payload.len());
        r.extend_from_slice(&version.to_le_bytes());
        r.extend_from_slice(&[header_type, 0xC0]);
        r.extend_from_slice(&((header_len + payload.len()) as u16).to_le_bytes());
        r.extend_from_slice(&hook_id.to_le_bytes());
        if header_len > 0x10 {
            r.extend_from_slice(&at.tid.to_le_bytes());
            r.extend_from_slice(&at.pid.to_le_bytes());
        }
        r.extend_from_slice(&ts.to_le_bytes());
        r.resize(header_len, 0); // kernel and user times
        r.extend_from_slice(payload);
        self.push_record(&r)
    }

    /// An EVENT_HEADER record with extended data items `(type, data)`.
    #[allow(clippy::too_many_arguments)]
    pub fn push_event(
        &mut self,
        header_type: u8,
        provider: Guid,
        d: Descriptor,
        at: Origin,
        activity: Guid,
        ext: &[(u16, &[u8])],
        payload: &[u8],
    ) -> Result<(), RecordTooLarge> {
        let ts = self.stamp(at.ticks);
        let mut items = Vec::new();
        for (i, (ext_type, data)) in ext.iter().enumerate() {
            let size = align8(8 + data.len());
            items.extend_from_slice(&(size as u16).to_le_bytes());
            items.extend_from_slice(&ext_type.to_le_bytes());
            items.extend_from_slice(&u16::from(i + 1 < ext.len()).to_le_bytes());
            items.extend_from_slice(&(data.len() as u16).to_le_bytes());
            items.extend_from_slice(data);
            items.resize(items.len() + size - 8 - data.len(), 0);
        }
        let flags: u16 = if ext.is_empty() { 0 } else { 0x1 }
            | if header_type == record::EVENT32 {
                0x20
            } else {
                0x40
            };
        let mut r = Vec::with_capacity(0x50 + items.len() + payload.len());
        r.extend_from_slice(&((0x50 + items.len() + payload.len()) as u16).to_le_bytes());
        r.extend_from_slice(&[header_type, 0xC0]);
        r.extend_from_slice(&flags.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes()); // EventProperty
        r.extend_from_slice(&at.tid.to_le_bytes());
        r.extend_from_slice(&at.pid.to_le_bytes());
        r.extend_from_slice(&ts.to_le_bytes());
        r.extend_from_slice(&provider.0);
        r.extend_from_slice(&d.id.to_le_bytes());
        r.extend_from_slice(&[d.version as u8, d.channel, d.level, d.opcode]);
        r.extend_from_slice(&d.task.to_le_bytes());
        r.extend_from_slice(&d.keywords.to_le_bytes());
        r.extend_from_slice(&0u64.to_le_bytes()); // processor time
        r.extend_from_slice(&activity.0);
        r.extend_from_slice(&items);
        r.extend_from_slice(payload);
        self.push_record(&r)
    }

    /// A classic record: FULL (0x0A/0x14) or INSTANCE (0x0B/0x15) header.
    pub fn push_classic(
        &mut self,
        header_type: u8,
        provider: Guid,
        d: Descriptor,
        at: Origin,
        payload: &[u8],
    ) -> Result<(), RecordTooLarge> {
        let header_len = if matches!(header_type, record::FULL32 | record::FULL64) {
            0x30
        } else {
            0x48
        };
        let ts = self.stamp(at.ticks);
        let mut r = Vec::new();
        r.extend_from_slice(&((header_len + payload.len()) as u16).to_le_bytes());
        r.extend_from_slice(&[header_type, 0xC0, d.opcode, d.level]);
        r.extend_from_slice(&d.version.to_le_bytes());
        r.extend_from_slice(&at.tid.to_le_bytes());
        r.extend_from_slice(&at.pid.to_le_bytes());
        r.extend_from_slice(&ts.to_le_bytes());
        r.extend_from_slice(&provider.0);
        r.resize(header_len, 0);
        r.extend_from_slice(payload);
        self.push_record(&r)
    }

    /// A WPP TraceMessage with GUID, timestamp and pid/tid.
    pub fn push_trace_message(
        &mut self,
        message_guid: Guid,
        message_number: u16,
        at: Origin,
        payload: &[u8],
    ) -> Result<(), RecordTooLarge> {
        let ts = self.stamp(at.ticks);
        let header_len = 8 + 16 + 8 + 8;
        let mut r = Vec::new();
        r.extend_from_slice(&((header_len + payload.len()) as u16).to_le_bytes());
        r.extend_from_slice(&[0, 0x90]);
        r.extend_from_slice(&message_number.to_le_bytes());
        r.extend_from_slice(&(0x02u16 | 0x08 | 0x20).to_le_bytes());
        r.extend_from_slice(&message_guid.0);
        r.extend_from_slice(&ts.to_le_bytes());
        r.extend_from_slice(&at.tid.to_le_bytes());
        r.extend_from_slice(&at.pid.to_le_bytes());
        r.extend_from_slice(payload);
        self.push_record(&r)
    }

    /// Flushes the last buffer and patches the header's end time and buffer count.
    pub fn finish(mut self) -> Vec<u8> {
        if self.buf.len() > BUFFER_HEADER_LEN {
            self.flush_buffer(0);
        }
        // Payload of the header record starts after the buffer header and the 0x20-byte SYSTEM header.
        let payload_at = BUFFER_HEADER_LEN + 0x20;
        let end = self.opts.start_time + self.last_ticks;
        self.out[payload_at + 16..payload_at + 24].copy_from_slice(&end.to_le_bytes());
        self.out[payload_at + 36..payload_at + 40].copy_from_slice(&self.buffers.to_le_bytes());
        self.out
    }
}

/// TraceLogging extended items: a provider-traits item and an event schema.
pub fn tracelogging_items(
    provider_name: &str,
    event_name: &str,
    fields: &[(&str, u8)],
) -> (Vec<u8>, Vec<u8>) {
    let mut traits = Vec::new();
    traits.extend_from_slice(&((2 + provider_name.len() + 1) as u16).to_le_bytes());
    traits.extend_from_slice(provider_name.as_bytes());
    traits.push(0);
    let mut schema = vec![0, 0, 0]; // size, one tag byte
    schema.extend_from_slice(event_name.as_bytes());
    schema.push(0);
    for (name, in_type) in fields {
        schema.extend_from_slice(name.as_bytes());
        schema.push(0);
        schema.push(*in_type);
    }
    let len = schema.len() as u16;
    schema[0..2].copy_from_slice(&len.to_le_bytes());
    (traits, schema)
}
