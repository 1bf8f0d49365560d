//! Converts raw record timestamps to FILETIME with the file's clock.

use super::logfile::{ClockType, LogfileHeader};

const FILETIME_TICKS_PER_SECOND: f64 = 1e7;

/// FILETIME = start_time + (raw - origin) * scale, anchored at the header record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    start_time: i64,
    origin: i64,
    /// Exact integer ratio where one exists (QPC at 10 MHz is the common case), else float.
    scale: Scale,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Identity,
    Divide(i64),
    Float(f64),
}

impl Clock {
    pub fn from_header(h: &LogfileHeader) -> Clock {
        let scale = match h.clock_type {
            ClockType::SystemTime => Scale::Identity,
            ClockType::Qpc if h.perf_freq > 0 => {
                let f = h.perf_freq;
                if f == 10_000_000 {
                    Scale::Identity
                } else if f > 10_000_000 && f % 10_000_000 == 0 {
                    Scale::Divide(f / 10_000_000)
                } else {
                    Scale::Float(FILETIME_TICKS_PER_SECOND / f as f64)
                }
            }
            ClockType::CpuCycles if h.cpu_speed_mhz > 0 => {
                Scale::Float(10.0 / h.cpu_speed_mhz as f64)
            }
            // A header without a usable frequency: keep raw ticks rather than guess a rate.
            _ => Scale::Identity,
        };
        Clock {
            start_time: h.start_time,
            origin: h.header_timestamp,
            scale,
        }
    }

    #[inline]
    pub fn to_filetime(self, raw: i64) -> i64 {
        let delta = raw.wrapping_sub(self.origin);
        let scaled = match self.scale {
            Scale::Identity => delta,
            Scale::Divide(d) => delta / d,
            Scale::Float(s) => (delta as f64 * s).round() as i64,
        };
        self.start_time.saturating_add(scaled)
    }
}
