//! TRACE_LOGFILE_HEADER: the payload of the first record of every .etl file.

use crate::bytes::{i64_at, u32_at, u8_at, utf16z_at};

/// `LogFileMode` bit set by the relogger and by merges: buffers after the first are compressed.
pub const EVENT_TRACE_COMPRESSED_MODE: u32 = 0x0400_0000;

/// The clock that stamped the file's records (`ReservedFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockType {
    /// QueryPerformanceCounter ticks at `perf_freq` per second.
    Qpc,
    /// System time: FILETIME ticks already.
    SystemTime,
    /// CPU cycle counter at `cpu_speed_mhz`.
    CpuCycles,
}

impl ClockType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockType::Qpc => "qpc",
            ClockType::SystemTime => "system_time",
            ClockType::CpuCycles => "cpu_cycles",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogfileHeader {
    pub buffer_size: u32,
    pub os_major: u8,
    pub os_minor: u8,
    pub os_build: u32,
    pub cpu_count: u32,
    pub end_time: i64,
    pub timer_resolution: u32,
    pub max_file_size_mb: u32,
    pub log_file_mode: u32,
    pub buffers_written: u32,
    pub pointer_size: u32,
    pub events_lost: u32,
    pub cpu_speed_mhz: u32,
    pub boot_time: i64,
    pub perf_freq: i64,
    pub start_time: i64,
    pub clock_type: ClockType,
    /// The raw `ReservedFlags` value the clock type was taken from.
    pub reserved_flags: u32,
    pub buffers_lost: u32,
    pub logger_name: String,
    pub log_file_name: String,
    /// Raw timestamp of the header record itself, the origin of the clock conversion.
    pub header_timestamp: i64,
}

impl LogfileHeader {
    pub fn is_compressed(&self) -> bool {
        self.log_file_mode & EVENT_TRACE_COMPRESSED_MODE != 0
    }

    /// Parses the payload. `pointer_size` is that of the record header (4 or 8):
    /// the layout holds two pointers, so the later fields move with it.
    pub fn parse(payload: &[u8], pointer_size: usize, header_timestamp: i64) -> Option<Self> {
        // Offsets of the fields after the two pointers and the 0xAC-byte TIME_ZONE_INFORMATION,
        // whose end is 8-aligned before BootTime.
        let after_ptrs = 56 + 2 * pointer_size;
        let boot_at = crate::bytes::align8(after_ptrs + 0xAC);
        let strings_at = boot_at + 32;
        let version = u32_at(payload, 4)?;
        let reserved_flags = u32_at(payload, boot_at + 24)?;
        let cpu_speed_mhz = u32_at(payload, 52)?;
        let perf_freq = i64_at(payload, boot_at + 8)?;
        let clock_type = match reserved_flags {
            1 => ClockType::Qpc,
            2 => ClockType::SystemTime,
            3 => ClockType::CpuCycles,
            // Not set by old loggers: the default clock is QPC when a frequency is known.
            _ if perf_freq > 0 => ClockType::Qpc,
            _ => ClockType::SystemTime,
        };
        let (logger_name, next) = utf16z_at(payload, strings_at).unwrap_or_default();
        let (log_file_name, _) = utf16z_at(payload, next).unwrap_or_default();
        Some(LogfileHeader {
            buffer_size: u32_at(payload, 0)?,
            os_major: u8_at(payload, 4).unwrap_or(0),
            os_minor: (version >> 8) as u8,
            os_build: u32_at(payload, 8)?,
            cpu_count: u32_at(payload, 12)?,
            end_time: i64_at(payload, 16)?,
            timer_resolution: u32_at(payload, 24)?,
            max_file_size_mb: u32_at(payload, 28)?,
            log_file_mode: u32_at(payload, 32)?,
            buffers_written: u32_at(payload, 36)?,
            pointer_size: u32_at(payload, 44)?,
            events_lost: u32_at(payload, 48)?,
            cpu_speed_mhz,
            boot_time: i64_at(payload, boot_at)?,
            perf_freq,
            start_time: i64_at(payload, boot_at + 16)?,
            clock_type,
            reserved_flags,
            buffers_lost: u32_at(payload, boot_at + 28)?,
            logger_name,
            log_file_name,
            header_timestamp,
        })
    }
}
