//! What a session asks ETW for, in ETW's structures: the buffer presets as
//! ferrisetw's `TraceProperties` (it writes EVENT_TRACE_PROPERTIES from
//! them), and the EVENT_TRACE_PROPERTIES buffer that ControlTrace and
//! QueryAllTraces fill in (with room for the two names they write after it).
#![allow(unsafe_code)] // zero-initialising a plain C struct

use std::mem::{offset_of, size_of};
use std::time::Duration;

use ferrisetw::trace::{LoggingMode, TraceProperties};
use windows::Win32::System::Diagnostics::Etw::{
    CONTROLTRACE_HANDLE, EVENT_TRACE_NO_PER_PROCESSOR_BUFFERING, EVENT_TRACE_PROPERTIES,
    EVENT_TRACE_REAL_TIME_MODE, WNODE_FLAG_TRACED_GUID,
};

use crate::controller::LossCounters;
use crate::presets::{BufferSettings, FLUSH_TIMER_MS_MODE};

/// The longest name ETW writes back (LoggerName and LogFileName), in UTF-16 units.
pub const NAME_CHARS: usize = 1024;

/// A preset (or explicit sizes) as ferrisetw's trace properties.
pub fn trace_properties(b: &BufferSettings) -> TraceProperties {
    // ferrisetw writes FlushTimer as the duration's whole seconds; with
    // EVENT_TRACE_USE_MS_FLUSH_TIMER in the mode ETW reads that number as
    // milliseconds, so the duration carries the millisecond count.
    let mode =
        EVENT_TRACE_REAL_TIME_MODE | EVENT_TRACE_NO_PER_PROCESSOR_BUFFERING | FLUSH_TIMER_MS_MODE;
    TraceProperties {
        buffer_size: b.buffer_kb,
        min_buffer: b.min_buffers,
        max_buffer: b.max_buffers,
        flush_timer: Duration::from_secs(u64::from(b.flush_ms)),
        // SAFETY (of the bits, not memory): the ms-flush bit is a valid
        // logging mode that ferrisetw's flag set does not name.
        log_file_mode: unsafe { LoggingMode::from_bits_unchecked(mode) },
    }
}

/// EVENT_TRACE_PROPERTIES and the room ETW writes the names into.
#[repr(C)]
pub struct PropertiesBuffer {
    pub properties: EVENT_TRACE_PROPERTIES,
    names: [u16; 2 * NAME_CHARS],
}

impl PropertiesBuffer {
    /// Zeroed, with the sizes and offsets ControlTrace and QueryAllTraces need.
    pub fn new() -> Box<PropertiesBuffer> {
        let mut b = Box::new(PropertiesBuffer {
            properties: EVENT_TRACE_PROPERTIES::default(),
            names: [0; 2 * NAME_CHARS],
        });
        let p = &mut b.properties;
        p.Wnode.BufferSize = size_of::<PropertiesBuffer>() as u32;
        p.Wnode.Flags = WNODE_FLAG_TRACED_GUID;
        p.LoggerNameOffset = offset_of!(PropertiesBuffer, names) as u32;
        p.LogFileNameOffset = (offset_of!(PropertiesBuffer, names) + 2 * NAME_CHARS) as u32;
        b
    }

    /// The session's name, as ETW wrote it.
    pub fn logger_name(&self) -> String {
        let text = &self.names[..NAME_CHARS];
        let end = text.iter().position(|&c| c == 0).unwrap_or(NAME_CHARS);
        String::from_utf16_lossy(&text[..end])
    }

    /// ETW's loss counters.
    pub fn counters(&self) -> LossCounters {
        let p = &self.properties;
        LossCounters {
            events_lost: u64::from(p.EventsLost),
            log_buffers_lost: u64::from(p.LogBuffersLost),
            realtime_buffers_lost: u64::from(p.RealTimeBuffersLost),
        }
    }

    /// The session handle a QUERY returns (Wnode.HistoricalContext).
    pub fn handle(&self) -> CONTROLTRACE_HANDLE {
        // SAFETY: both union members are plain integers; QUERY writes this one.
        CONTROLTRACE_HANDLE {
            Value: unsafe { self.properties.Wnode.Anonymous1.HistoricalContext },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::Preset;

    #[test]
    fn presets_become_ferrisetw_properties_with_a_millisecond_flush() {
        let p = trace_properties(&Preset::LowLatency.settings());
        assert_eq!((p.buffer_size, p.min_buffer, p.max_buffer), (64, 16, 64));
        assert_eq!(p.flush_timer.as_secs(), 20, "20, read by ETW as ms");
        let mode = p.log_file_mode.bits();
        assert_eq!(mode & FLUSH_TIMER_MS_MODE, FLUSH_TIMER_MS_MODE);
        assert_eq!(
            mode & EVENT_TRACE_REAL_TIME_MODE,
            EVENT_TRACE_REAL_TIME_MODE
        );
        let balanced = trace_properties(&Preset::Balanced.settings());
        assert_eq!((balanced.buffer_size, balanced.max_buffer), (256, 128));
    }

    #[test]
    fn the_properties_buffer_has_room_for_both_names() {
        let b = PropertiesBuffer::new();
        let p = &b.properties;
        assert_eq!(p.Wnode.BufferSize as usize, size_of::<PropertiesBuffer>());
        assert_eq!(
            p.LoggerNameOffset as usize,
            size_of::<EVENT_TRACE_PROPERTIES>()
        );
        assert_eq!(
            p.LogFileNameOffset - p.LoggerNameOffset,
            2 * NAME_CHARS as u32
        );
        assert!(p.LogFileNameOffset as usize + 2 * NAME_CHARS <= p.Wnode.BufferSize as usize);
        // EVENT_TRACE_PROPERTIES is 120 bytes on x64 (evntrace.h).
        assert_eq!(size_of::<EVENT_TRACE_PROPERTIES>(), 120);
        assert_eq!(b.logger_name(), "");
    }
}
