//! TDH on Windows: the schema bytes for an event (TdhGetEventInformation,
//! TdhGetEventMapInformation), and the list of registered providers
//! (TdhEnumerateProviders). The record TDH reads is rebuilt from the event
//! (`RecordImage`), so the schema stage needs nothing but the event.
#![allow(unsafe_code)] // TDH calls into buffers sized as TDH asks

use windows::core::HSTRING;
use windows::Win32::System::Diagnostics::Etw::{
    TdhEnumerateProviders, TdhGetEventInformation, TdhGetEventMapInformation, EVENT_MAP_INFO,
    PROVIDER_ENUMERATION_INFO, TRACE_EVENT_INFO,
};

use pyetwkit_core::EtwEvent;

use super::record::RecordImage;
use crate::tdh::TdhLookup;

const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
/// TDH's answers are small; a larger size request is a bug, not a schema.
const MAX_TDH_BYTES: u32 = 1 << 24;

/// Calls `f(buffer, &mut size)` as TDH wants: first to learn the size, then
/// with a buffer that large (again if it grew meanwhile). u64-aligned.
fn sized(mut f: impl FnMut(Option<*mut u8>, &mut u32) -> u32) -> Result<Vec<u8>, u32> {
    let mut size = 0u32;
    let mut status = f(None, &mut size);
    for _ in 0..4 {
        if status != ERROR_INSUFFICIENT_BUFFER || size > MAX_TDH_BYTES {
            break;
        }
        let mut buffer = vec![0u64; (size as usize).div_ceil(8)];
        status = f(Some(buffer.as_mut_ptr().cast()), &mut size);
        if status == 0 {
            let bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_le_bytes()).collect();
            return Ok(bytes[..size as usize].to_vec());
        }
    }
    Err(status)
}

/// TDH itself.
pub struct NativeTdh;

impl TdhLookup for NativeTdh {
    fn event_info(&mut self, event: &EtwEvent) -> Result<Vec<u8>, u32> {
        let image = RecordImage::of(event);
        // SAFETY: the record and its buffers live until the call returns; TDH
        // writes at most `size` bytes into a buffer of that size.
        sized(|buffer, size| unsafe {
            TdhGetEventInformation(
                image.record(),
                None,
                buffer.map(|b| b.cast::<TRACE_EVENT_INFO>()),
                size,
            )
        })
    }

    fn map_info(&mut self, event: &EtwEvent, name: &str) -> Result<Vec<u8>, u32> {
        let image = RecordImage::of(event);
        let name = HSTRING::from(name);
        // SAFETY: as above; the name is NUL-terminated.
        sized(|buffer, size| unsafe {
            TdhGetEventMapInformation(
                image.record(),
                &name,
                buffer.map(|b| b.cast::<EVENT_MAP_INFO>()),
                size,
            )
        })
    }
}

/// The registered providers' PROVIDER_ENUMERATION_INFO bytes (parse them
/// with `parse_provider_enumeration`).
pub fn enumerate_providers() -> Result<Vec<u8>, u32> {
    // SAFETY: TDH writes at most `size` bytes into a buffer of that size.
    sized(|buffer, size| unsafe {
        TdhEnumerateProviders(buffer.map(|b| b.cast::<PROVIDER_ENUMERATION_INFO>()), size)
    })
}
