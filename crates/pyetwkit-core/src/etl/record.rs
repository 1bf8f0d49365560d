//! Record framing: one parser per header type, each producing a `RawRecord`
//! that borrows the buffer. No allocation happens here.

use crate::bytes::{align8, i64_at, u16_at, u32_at, u64_at, u8_at};
use crate::event::EventKind;
use crate::guid::Guid;
use crate::kernel;

use crate::extended;

pub const SYSTEM32: u8 = 0x01;
pub const SYSTEM64: u8 = 0x02;
pub const COMPACT32: u8 = 0x03;
pub const COMPACT64: u8 = 0x04;
pub const FULL32: u8 = 0x0A;
pub const INSTANCE32: u8 = 0x0B;
pub const PERFINFO32: u8 = 0x10;
pub const PERFINFO64: u8 = 0x11;
pub const EVENT32: u8 = 0x12;
pub const EVENT64: u8 = 0x13;
pub const FULL64: u8 = 0x14;
pub const INSTANCE64: u8 = 0x15;

/// Byte 3 of a record: 0xC0 marks a typed header, 0x90 a WPP TraceMessage.
const MARKER_TYPED: u8 = 0xC0;
const MARKER_TRACE_MESSAGE: u8 = 0x90;
/// A WPP record carries no header type byte; this is what `header_type` shows for it.
pub const WPP_HEADER_TYPE: u8 = 0;

/// The pointer size of the process that logged a record, from its header type.
pub fn pointer_size(header_type: u8) -> u8 {
    match header_type {
        SYSTEM32 | COMPACT32 | PERFINFO32 | FULL32 | INSTANCE32 | EVENT32 => 4,
        _ => 8,
    }
}

/// The short name used in counts (`SYS64`, `EV32`, ...); `None` for unknown types.
pub fn header_type_name(header_type: u8, kind: EventKind) -> &'static str {
    match (header_type, kind) {
        (_, EventKind::Wpp) => "WPP",
        (SYSTEM32, _) => "SYS32",
        (SYSTEM64, _) => "SYS64",
        (COMPACT32, _) => "COMPACT32",
        (COMPACT64, _) => "COMPACT64",
        (PERFINFO32, _) => "PERF32",
        (PERFINFO64, _) => "PERF64",
        (FULL32, _) => "FULL32",
        (FULL64, _) => "FULL64",
        (INSTANCE32, _) => "INST32",
        (INSTANCE64, _) => "INST64",
        (EVENT32, _) => "EV32",
        (EVENT64, _) => "EV64",
        _ => "UNKNOWN",
    }
}

/// The event descriptor fields, whatever header they came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub id: u16,
    pub version: u16,
    pub channel: u8,
    pub level: u8,
    pub opcode: u8,
    pub task: u16,
    pub keywords: u64,
}

/// One record, framed and with its header decoded; slices borrow the buffer.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub kind: EventKind,
    pub header_type: u8,
    /// Offset of the record within its (decompressed) buffer.
    pub offset: usize,
    /// The record's size as its header gives it (before 8-byte alignment).
    pub size: usize,
    pub provider_id: Guid,
    /// Kernel records: the hook (group << 8 | opcode) their class is derived from.
    pub hook_id: Option<u16>,
    /// Kernel records: the class of the hook, looked up once here.
    pub kernel_class: Option<&'static kernel::KernelClass>,
    pub descriptor: Descriptor,
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    pub raw_timestamp: i64,
    pub activity_id: Option<Guid>,
    /// EVENT_HEADER `Flags` and `EventProperty` (zero for other headers).
    pub event_flags: u16,
    pub event_property: u16,
    /// The extended data items region (EVENT_HEADER only), validated.
    pub extended: std::ops::Range<usize>,
    pub user_data: std::ops::Range<usize>,
    /// WPP only: whether the record carried its own timestamp.
    pub has_timestamp: bool,
}

impl RawRecord {
    /// Offset of the next record in the buffer.
    pub fn next_offset(&self) -> usize {
        align8(self.offset + self.size)
    }
}

/// Why a record could not be framed; the reader adds the file and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

/// What the reader finds at a record position.
pub enum Frame {
    Record(RawRecord),
    /// The rest of the buffer is unused (0xFF fill, or too short for a header).
    EndOfBuffer,
}

/// Frames the record at `offset` of `data[..end]`.
#[inline]
pub fn parse_record(data: &[u8], offset: usize, end: usize) -> Result<Frame, FrameError> {
    let data = &data[..end.min(data.len())];
    let Some(first) = u32_at(data, offset) else {
        return Ok(Frame::EndOfBuffer);
    };
    if first == u32::MAX {
        return Ok(Frame::EndOfBuffer);
    }
    let marker = (first >> 24) as u8;
    let header_type = (first >> 16) as u8;
    let rec = if marker & MARKER_TYPED == MARKER_TYPED {
        match header_type {
            SYSTEM32 | SYSTEM64 | COMPACT32 | COMPACT64 | PERFINFO32 | PERFINFO64 => {
                parse_kernel(data, offset, header_type)?
            }
            FULL32 | FULL64 | INSTANCE32 | INSTANCE64 => parse_classic(data, offset, header_type)?,
            EVENT32 | EVENT64 => parse_event(data, offset, header_type)?,
            other => {
                return Err(FrameError(format!(
                    "unknown record header type {other:#04x}"
                )))
            }
        }
    } else if marker == MARKER_TRACE_MESSAGE {
        parse_trace_message(data, offset)?
    } else {
        return Err(FrameError(format!(
            "no record marker (first bytes {first:#010x})"
        )));
    };
    Ok(Frame::Record(rec))
}

fn short(what: &str) -> FrameError {
    FrameError(format!("record header cut short ({what})"))
}

/// Checks that a record of `size` bytes with a header of `header_len` fits.
#[inline]
fn check_size(
    data: &[u8],
    offset: usize,
    size: usize,
    header_len: usize,
) -> Result<(), FrameError> {
    if size < header_len {
        return Err(FrameError(format!(
            "record size {size} is smaller than its {header_len}-byte header"
        )));
    }
    if offset + size > data.len() {
        return Err(FrameError(format!(
            "record of {size} bytes runs {} bytes past the end of the buffer's data",
            offset + size - data.len()
        )));
    }
    Ok(())
}

#[inline]
fn base(kind: EventKind, header_type: u8, offset: usize, size: usize) -> RawRecord {
    RawRecord {
        kind,
        header_type,
        offset,
        size,
        provider_id: Guid::NIL,
        hook_id: None,
        kernel_class: None,
        descriptor: Descriptor::default(),
        pid: None,
        tid: None,
        raw_timestamp: 0,
        activity_id: None,
        event_flags: 0,
        event_property: 0,
        extended: offset..offset,
        user_data: offset..offset,
        has_timestamp: true,
    }
}

/// SYSTEM (0x20 bytes), COMPACT (0x18, no CPU times) and PERFINFO (0x10, no pid/tid) headers.
#[inline]
fn parse_kernel(data: &[u8], offset: usize, header_type: u8) -> Result<RawRecord, FrameError> {
    let (header_len, has_ids) = match header_type {
        SYSTEM32 | SYSTEM64 => (0x20, true),
        COMPACT32 | COMPACT64 => (0x18, true),
        _ => (0x10, false),
    };
    let version = u16_at(data, offset).ok_or_else(|| short("version"))?;
    let size = u16_at(data, offset + 4).ok_or_else(|| short("size"))? as usize;
    let hook_id = u16_at(data, offset + 6).ok_or_else(|| short("hook id"))?;
    // Bit 15 of Version: an 8-byte extension follows the header, plus
    // (Version >> 8) & 7 performance counters of 8 bytes each.
    let extension = if version & 0x8000 != 0 {
        8 + 8 * ((version as usize >> 8) & 7)
    } else {
        0
    };
    check_size(data, offset, size, header_len + extension)?;
    let mut rec = base(EventKind::Kernel, header_type, offset, size);
    if has_ids {
        rec.tid = u32_at(data, offset + 8);
        rec.pid = u32_at(data, offset + 12);
        rec.raw_timestamp = i64_at(data, offset + 16).ok_or_else(|| short("timestamp"))?;
    } else {
        rec.raw_timestamp = i64_at(data, offset + 8).ok_or_else(|| short("timestamp"))?;
    }
    rec.hook_id = Some(hook_id);
    rec.kernel_class = kernel::class_of_hook(hook_id);
    rec.provider_id = rec.kernel_class.map(|c| c.guid).unwrap_or(Guid::NIL);
    rec.descriptor = Descriptor {
        version: version & 0xFF,
        opcode: hook_id as u8,
        ..Descriptor::default()
    };
    rec.user_data = offset + header_len + extension..offset + size;
    Ok(rec)
}

/// EVENT_TRACE_HEADER (FULL, 0x30 bytes) and EVENT_INSTANCE_GUID_HEADER (INSTANCE, 0x48 bytes).
#[inline]
fn parse_classic(data: &[u8], offset: usize, header_type: u8) -> Result<RawRecord, FrameError> {
    let header_len = if matches!(header_type, FULL32 | FULL64) {
        0x30
    } else {
        0x48
    };
    let size = u16_at(data, offset).ok_or_else(|| short("size"))? as usize;
    check_size(data, offset, size, header_len)?;
    let mut rec = base(EventKind::Classic, header_type, offset, size);
    rec.descriptor = Descriptor {
        opcode: data[offset + 4],
        level: data[offset + 5],
        version: u16_at(data, offset + 6).unwrap_or(0),
        ..Descriptor::default()
    };
    rec.tid = u32_at(data, offset + 8);
    rec.pid = u32_at(data, offset + 12);
    rec.raw_timestamp = i64_at(data, offset + 16).unwrap_or(0);
    rec.provider_id = Guid::from_slice(data, offset + 0x18).unwrap_or(Guid::NIL);
    rec.user_data = offset + header_len..offset + size;
    Ok(rec)
}

/// EVENT_HEADER (0x50 bytes), then extended data items, then user data.
#[inline]
fn parse_event(data: &[u8], offset: usize, header_type: u8) -> Result<RawRecord, FrameError> {
    const HEADER_LEN: usize = 0x50;
    const FLAG_EXTENDED_INFO: u16 = 0x0001;
    let size = u16_at(data, offset).ok_or_else(|| short("size"))? as usize;
    check_size(data, offset, size, HEADER_LEN)?;
    let end = offset + size;
    let mut rec = base(EventKind::Event, header_type, offset, size);
    rec.event_flags = u16_at(data, offset + 4).unwrap_or(0);
    rec.event_property = u16_at(data, offset + 6).unwrap_or(0);
    rec.tid = u32_at(data, offset + 8);
    rec.pid = u32_at(data, offset + 12);
    rec.raw_timestamp = i64_at(data, offset + 0x10).unwrap_or(0);
    rec.provider_id = Guid::from_slice(data, offset + 0x18).unwrap_or(Guid::NIL);
    rec.descriptor = Descriptor {
        id: u16_at(data, offset + 0x28).unwrap_or(0),
        version: u8_at(data, offset + 0x2A).unwrap_or(0) as u16,
        channel: data[offset + 0x2B],
        level: data[offset + 0x2C],
        opcode: data[offset + 0x2D],
        task: u16_at(data, offset + 0x2E).unwrap_or(0),
        keywords: u64_at(data, offset + 0x30).unwrap_or(0),
    };
    let activity = Guid::from_slice(data, offset + 0x40).unwrap_or(Guid::NIL);
    rec.activity_id = (!activity.is_nil()).then_some(activity);
    let mut payload_start = offset + HEADER_LEN;
    if rec.event_flags & FLAG_EXTENDED_INFO != 0 {
        let ext_end = extended::validate_chain(&data[..end], payload_start).map_err(FrameError)?;
        rec.extended = payload_start..ext_end;
        payload_start = ext_end;
    }
    rec.user_data = payload_start..end;
    Ok(rec)
}

/// WPP TraceMessage: Size, marker, MessageNumber, MessageFlags, then optional fields.
fn parse_trace_message(data: &[u8], offset: usize) -> Result<RawRecord, FrameError> {
    const SEQUENCE: u16 = 0x01;
    const GUID: u16 = 0x02;
    const COMPONENT_ID: u16 = 0x04;
    const TIMESTAMP: u16 = 0x08;
    const SYSTEM_INFO: u16 = 0x20;
    let size = u16_at(data, offset).ok_or_else(|| short("size"))? as usize;
    let message_number = u16_at(data, offset + 4).ok_or_else(|| short("message number"))?;
    let flags = u16_at(data, offset + 6).ok_or_else(|| short("message flags"))?;
    let mut header_len = 8;
    let seq_at = header_len;
    header_len += if flags & SEQUENCE != 0 { 4 } else { 0 };
    let guid_at = header_len;
    header_len += if flags & GUID != 0 {
        16
    } else if flags & COMPONENT_ID != 0 {
        4
    } else {
        0
    };
    let time_at = header_len;
    header_len += if flags & TIMESTAMP != 0 { 8 } else { 0 };
    let info_at = header_len;
    header_len += if flags & SYSTEM_INFO != 0 { 8 } else { 0 };
    check_size(data, offset, size, header_len)?;
    let _ = seq_at;
    let mut rec = base(EventKind::Wpp, WPP_HEADER_TYPE, offset, size);
    rec.descriptor.id = message_number;
    if flags & GUID != 0 {
        rec.provider_id = Guid::from_slice(data, offset + guid_at).unwrap_or(Guid::NIL);
    }
    rec.has_timestamp = flags & TIMESTAMP != 0;
    if rec.has_timestamp {
        rec.raw_timestamp = i64_at(data, offset + time_at).unwrap_or(0);
    }
    if flags & SYSTEM_INFO != 0 {
        rec.tid = u32_at(data, offset + info_at);
        rec.pid = u32_at(data, offset + info_at + 4);
    }
    rec.user_data = offset + header_len..offset + size;
    Ok(rec)
}
