//! `EVENT_RECORD` (the windows crate's own type, as ProcessTrace hands it to
//! ferrisetw's callback) to the core's `EtwEvent`, and back. The way back
//! serves TDH, which wants an `EVENT_RECORD`, and the tests under Wine, which
//! build real records from every event of corpus recordings and check that the
//! conversion gives the reader's events again.
//!
//! Live records differ from a file's in what only a file has: no header type,
//! hook id or file offset. A pid or tid of `u32::MAX` is ETW's "none".
#![allow(unsafe_code)] // reading the record's pointers, within their lengths

use std::ffi::c_void;

use windows::core::GUID;
use windows::Win32::System::Diagnostics::Etw::{
    ETW_BUFFER_CONTEXT, ETW_BUFFER_CONTEXT_0, EVENT_DESCRIPTOR, EVENT_HEADER,
    EVENT_HEADER_EXTENDED_DATA_ITEM, EVENT_HEADER_EXTENDED_DATA_ITEM_0,
    EVENT_HEADER_FLAG_32_BIT_HEADER, EVENT_HEADER_FLAG_64_BIT_HEADER,
    EVENT_HEADER_FLAG_CLASSIC_HEADER, EVENT_HEADER_FLAG_EXTENDED_INFO,
    EVENT_HEADER_FLAG_PROCESSOR_INDEX, EVENT_HEADER_FLAG_TRACE_MESSAGE, EVENT_RECORD,
};

use pyetwkit_core::{class_of_guid, extended, EtwEvent, EventKind, Guid, SharedBytes};

/// ETW's "no pid/tid" (PERFINFO kernel records carry none).
const NONE_ID: u32 = u32::MAX;
/// An extended item's header in the packed (file) layout.
const ITEM_HEADER: usize = 8;

/// The flag bits as the header's u16 holds them.
const fn flag(bits: u32) -> u16 {
    bits as u16
}

pub fn guid_to_win(g: Guid) -> GUID {
    GUID::from_u128(g.to_u128())
}

pub fn guid_from_win(g: &GUID) -> Guid {
    Guid::from_fields(g.data1, g.data2, g.data3, g.data4)
}

/// Bytes at `ptr`, `len` long; empty for a null pointer.
///
/// # Safety
/// A non-null `ptr` must be valid for reads of `len` bytes.
unsafe fn bytes_at<'a>(ptr: *const c_void, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
    }
}

/// The record's event. The user data and extended data are copied: the record
/// lives only as long as the callback.
///
/// # Safety
/// `record` must be as ETW delivers it: `UserData` valid for `UserDataLength`
/// bytes and `ExtendedData` for `ExtendedDataCount` items, each item's
/// `DataPtr` valid for its `DataSize` bytes (or null pointers with zero counts).
pub unsafe fn event_from_record(record: &EVENT_RECORD) -> EtwEvent {
    let h = &record.EventHeader;
    let d = &h.EventDescriptor;
    let provider_id = guid_from_win(&h.ProviderId);
    let kind = if h.Flags & flag(EVENT_HEADER_FLAG_TRACE_MESSAGE) != 0 {
        EventKind::Wpp
    } else if h.Flags & flag(EVENT_HEADER_FLAG_CLASSIC_HEADER) != 0 {
        match class_of_guid(provider_id) {
            Some(_) => EventKind::Kernel,
            None => EventKind::Classic,
        }
    } else {
        EventKind::Event
    };
    let id = |v: u32| (v != NONE_ID).then_some(v);
    // SAFETY: both union members are plain integers over the same two bytes.
    let processor = unsafe {
        if h.Flags & flag(EVENT_HEADER_FLAG_PROCESSOR_INDEX) != 0 {
            record.BufferContext.Anonymous.ProcessorIndex
        } else {
            record.BufferContext.Anonymous.Anonymous.ProcessorNumber as u16
        }
    };
    let activity = guid_from_win(&h.ActivityId);
    // SAFETY: the caller's contract.
    let user_data = unsafe { bytes_at(record.UserData, record.UserDataLength as usize) };
    let extended = if record.ExtendedData.is_null() || record.ExtendedDataCount == 0 {
        SharedBytes::default()
    } else {
        // SAFETY: the caller's contract.
        let items = unsafe {
            std::slice::from_raw_parts(record.ExtendedData, record.ExtendedDataCount as usize)
        };
        // SAFETY: the caller's contract, item by item.
        SharedBytes::from_vec(pack_items(items.iter().map(|i| unsafe {
            (
                i.ExtType,
                bytes_at(i.DataPtr as *const c_void, i.DataSize as usize),
            )
        })))
    };
    EtwEvent {
        kind,
        header_type: None,
        provider_id,
        hook_id: None,
        kernel_class: match kind {
            EventKind::Kernel => class_of_guid(provider_id),
            _ => None,
        },
        pointer_size: if h.Flags & flag(EVENT_HEADER_FLAG_32_BIT_HEADER) != 0 {
            4
        } else {
            8
        },
        event_id: d.Id,
        version: d.Version as u16,
        opcode: d.Opcode,
        level: d.Level,
        task: d.Task,
        keywords: d.Keyword,
        channel: d.Channel,
        pid: id(h.ProcessId),
        tid: id(h.ThreadId),
        processor: Some(processor),
        filetime: h.TimeStamp,
        user_data: SharedBytes::from_vec(user_data.to_vec()),
        activity_id: (!activity.is_nil()).then_some(activity),
        extended,
        file_offset: None,
        process: None,
        schema: None,
        annotation: None,
    }
}

/// Packs extended items in the layout a file stores them in (`extended`):
/// an 8-byte header each, the data, padding to 8; bit 0 of linkage chains them.
fn pack_items<'a>(items: impl ExactSizeIterator<Item = (u16, &'a [u8])>) -> Vec<u8> {
    let n = items.len();
    let mut out = Vec::new();
    for (i, (ext_type, data)) in items.enumerate() {
        // An item's data is at most u16::MAX bytes (DataSize), so this fits.
        let data = &data[..data.len().min(u16::MAX as usize - ITEM_HEADER - 7)];
        let size = (ITEM_HEADER + data.len()).next_multiple_of(8);
        out.extend_from_slice(&(size as u16).to_le_bytes());
        out.extend_from_slice(&ext_type.to_le_bytes());
        out.extend_from_slice(&u16::from(i + 1 < n).to_le_bytes());
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len() + size - ITEM_HEADER - data.len(), 0);
    }
    out
}

/// An `EVENT_RECORD` that describes an `EtwEvent`, pointing into the event's
/// bytes: what ETW would have delivered for it.
pub struct RecordImage<'a> {
    record: EVENT_RECORD,
    _items: Vec<EVENT_HEADER_EXTENDED_DATA_ITEM>,
    _event: std::marker::PhantomData<&'a EtwEvent>,
}

impl<'a> RecordImage<'a> {
    pub fn of(event: &'a EtwEvent) -> RecordImage<'a> {
        let ext: Vec<_> = extended::items(event.extended.as_slice()).collect();
        let mut items: Vec<EVENT_HEADER_EXTENDED_DATA_ITEM> = ext
            .iter()
            .map(|i| EVENT_HEADER_EXTENDED_DATA_ITEM {
                Reserved1: 0,
                ExtType: i.ext_type,
                Anonymous: EVENT_HEADER_EXTENDED_DATA_ITEM_0 { _bitfield: 0 },
                DataSize: i.data.len() as u16,
                DataPtr: i.data.as_ptr() as u64,
            })
            .collect();
        let mut flags = flag(EVENT_HEADER_FLAG_PROCESSOR_INDEX);
        flags |= match event.kind {
            EventKind::Wpp => flag(EVENT_HEADER_FLAG_TRACE_MESSAGE),
            EventKind::Classic | EventKind::Kernel => flag(EVENT_HEADER_FLAG_CLASSIC_HEADER),
            EventKind::Event => 0,
        };
        flags |= match event.pointer_size {
            4 => flag(EVENT_HEADER_FLAG_32_BIT_HEADER),
            _ => flag(EVENT_HEADER_FLAG_64_BIT_HEADER),
        };
        if !items.is_empty() {
            flags |= flag(EVENT_HEADER_FLAG_EXTENDED_INFO);
        }
        let user_data = event.user_data.as_slice();
        let record = EVENT_RECORD {
            EventHeader: EVENT_HEADER {
                Size: std::mem::size_of::<EVENT_HEADER>() as u16,
                HeaderType: 0,
                Flags: flags,
                EventProperty: 0,
                ThreadId: event.tid.unwrap_or(NONE_ID),
                ProcessId: event.pid.unwrap_or(NONE_ID),
                TimeStamp: event.filetime,
                ProviderId: guid_to_win(event.provider_id),
                EventDescriptor: EVENT_DESCRIPTOR {
                    Id: event.event_id,
                    Version: event.version as u8,
                    Channel: event.channel,
                    Level: event.level,
                    Opcode: event.opcode,
                    Task: event.task,
                    Keyword: event.keywords,
                },
                Anonymous: Default::default(),
                ActivityId: guid_to_win(event.activity_id.unwrap_or(Guid::NIL)),
            },
            BufferContext: ETW_BUFFER_CONTEXT {
                Anonymous: ETW_BUFFER_CONTEXT_0 {
                    ProcessorIndex: event.processor.unwrap_or(0),
                },
                LoggerId: 0,
            },
            ExtendedDataCount: items.len() as u16,
            UserDataLength: user_data.len().min(u16::MAX as usize) as u16,
            ExtendedData: if items.is_empty() {
                std::ptr::null_mut()
            } else {
                items.as_mut_ptr()
            },
            UserData: user_data.as_ptr() as *mut c_void,
            UserContext: std::ptr::null_mut(),
        };
        RecordImage {
            record,
            _items: items,
            _event: std::marker::PhantomData,
        }
    }

    /// The record; valid while this image (and the event) live.
    pub fn record(&self) -> &EVENT_RECORD {
        &self.record
    }
}

// ferrisetw's EventRecord wraps EVENT_RECORD (repr(transparent)) and keeps the
// field private; the callback reads the record through a pointer cast, which
// is sound only while the two types have one layout.
const _: () = assert!(
    std::mem::size_of::<ferrisetw::EventRecord>() == std::mem::size_of::<EVENT_RECORD>()
        && std::mem::align_of::<ferrisetw::EventRecord>() == std::mem::align_of::<EVENT_RECORD>()
);

/// The `EVENT_RECORD` ferrisetw's `EventRecord` wraps.
pub fn raw_record(record: &ferrisetw::EventRecord) -> &EVENT_RECORD {
    // SAFETY: EventRecord is #[repr(transparent)] over EVENT_RECORD (ferrisetw
    // 1.2, pinned exactly), and the sizes and alignments are checked above.
    unsafe { &*(record as *const ferrisetw::EventRecord).cast::<EVENT_RECORD>() }
}
