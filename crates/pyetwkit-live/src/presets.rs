//! Buffer presets: what a live session asks ETW for (EVENT_TRACE_PROPERTIES'
//! BufferSize, MinimumBuffers, MaximumBuffers and FlushTimer). The Windows
//! layer copies these fields; everything about choosing them is here.
//!
//! Published measurements behind the numbers: with ferrisetw's default
//! buffers a burst of 7,500 process starts lost 41.8% of them, with 256 KB ×
//! 64–128 buffers none; a forced flush every 20 ms cut the median latency
//! from about 480 ms to about 10 ms. Bigger buffers absorb bursts; a short
//! flush timer delivers partly filled buffers sooner, at some CPU cost.

use pyetwkit_core::Error;

/// `EVENT_TRACE_USE_MS_FLUSH_TIMER`: the log file mode bit that makes
/// FlushTimer count milliseconds instead of seconds (Windows 8 and later).
pub const FLUSH_TIMER_MS_MODE: u32 = 0x0000_0010;

/// The largest buffer ETW has always accepted, in KB.
const MAX_BUFFER_KB: u32 = 1024;
/// The most buffers a preset or caller may ask for.
const MAX_BUFFERS: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Small buffers flushed every 20 ms: events arrive within tens of ms.
    LowLatency,
    /// The default: 256 KB × 64–128 buffers, flushed every 100 ms.
    Balanced,
    /// 1 MB × 64–256 buffers, flushed every second: bursts without loss.
    HighThroughput,
}

impl Preset {
    pub fn parse(name: &str) -> Result<Preset, Error> {
        match name {
            "low_latency" => Ok(Preset::LowLatency),
            "balanced" => Ok(Preset::Balanced),
            "high_throughput" => Ok(Preset::HighThroughput),
            other => Err(Error::InvalidArgument(format!(
                "preset must be 'low_latency', 'balanced' or 'high_throughput', not {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::LowLatency => "low_latency",
            Preset::Balanced => "balanced",
            Preset::HighThroughput => "high_throughput",
        }
    }

    pub fn settings(self) -> BufferSettings {
        let (buffer_kb, min_buffers, max_buffers, flush_ms) = match self {
            Preset::LowLatency => (64, 16, 64, 20),
            Preset::Balanced => (256, 64, 128, 100),
            Preset::HighThroughput => (1024, 64, 256, 1000),
        };
        BufferSettings {
            buffer_kb,
            min_buffers,
            max_buffers,
            flush_ms,
        }
    }
}

/// What a session asks ETW for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSettings {
    /// EVENT_TRACE_PROPERTIES.BufferSize, in KB.
    pub buffer_kb: u32,
    pub min_buffers: u32,
    pub max_buffers: u32,
    /// How often ETW delivers partly filled buffers, in ms (FlushTimer with
    /// `FLUSH_TIMER_MS_MODE`).
    pub flush_ms: u32,
}

impl BufferSettings {
    /// A preset's settings with the caller's explicit values in their place,
    /// checked: sizes explicitly given always win over the preset.
    pub fn resolve(
        preset: Preset,
        buffer_kb: Option<u32>,
        min_buffers: Option<u32>,
        max_buffers: Option<u32>,
        flush_ms: Option<u32>,
    ) -> Result<BufferSettings, Error> {
        let base = preset.settings();
        let mut s = BufferSettings {
            buffer_kb: buffer_kb.unwrap_or(base.buffer_kb),
            min_buffers: min_buffers.unwrap_or(base.min_buffers),
            max_buffers: max_buffers.unwrap_or(base.max_buffers),
            flush_ms: flush_ms.unwrap_or(base.flush_ms),
        };
        // An explicit minimum above the preset's maximum raises the maximum with it.
        if max_buffers.is_none() && s.min_buffers > s.max_buffers {
            s.max_buffers = s.min_buffers;
        }
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidArgument(what));
        if !(1..=MAX_BUFFER_KB).contains(&self.buffer_kb) {
            return bad(format!(
                "buffer_kb must be between 1 and {MAX_BUFFER_KB}, not {}",
                self.buffer_kb
            ));
        }
        if !(1..=MAX_BUFFERS).contains(&self.min_buffers)
            || !(self.min_buffers..=MAX_BUFFERS).contains(&self.max_buffers)
        {
            return bad(format!(
                "buffers must satisfy 1 <= min_buffers ({}) <= max_buffers ({}) <= {MAX_BUFFERS}",
                self.min_buffers, self.max_buffers
            ));
        }
        if self.flush_ms == 0 {
            return bad("flush_ms must be at least 1".into());
        }
        Ok(())
    }

    /// The most memory the session's buffers may take, in bytes.
    pub fn max_memory(&self) -> u64 {
        u64::from(self.buffer_kb) * 1024 * u64::from(self.max_buffers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_what_the_docs_say() {
        let balanced = Preset::parse("balanced").unwrap().settings();
        assert_eq!(
            (
                balanced.buffer_kb,
                balanced.min_buffers,
                balanced.max_buffers
            ),
            (256, 64, 128)
        );
        assert_eq!(Preset::LowLatency.settings().flush_ms, 20);
        for p in [Preset::LowLatency, Preset::Balanced, Preset::HighThroughput] {
            assert_eq!(Preset::parse(p.as_str()).unwrap(), p);
            assert!(BufferSettings::resolve(p, None, None, None, None).is_ok());
        }
        assert!(Preset::parse("fast").is_err());
        // Bigger presets absorb bigger bursts.
        let sizes: Vec<u64> = [Preset::LowLatency, Preset::Balanced, Preset::HighThroughput]
            .iter()
            .map(|p| p.settings().max_memory())
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    }

    #[test]
    fn explicit_sizes_override_and_are_checked() {
        let s = BufferSettings::resolve(Preset::Balanced, Some(512), None, None, Some(5)).unwrap();
        assert_eq!(
            (s.buffer_kb, s.min_buffers, s.max_buffers, s.flush_ms),
            (512, 64, 128, 5)
        );
        let raised = BufferSettings::resolve(Preset::LowLatency, None, Some(100), None, None);
        assert_eq!(raised.unwrap().max_buffers, 100);
        for bad in [
            BufferSettings::resolve(Preset::Balanced, Some(0), None, None, None),
            BufferSettings::resolve(Preset::Balanced, Some(4096), None, None, None),
            BufferSettings::resolve(Preset::Balanced, None, Some(10), Some(5), None),
            BufferSettings::resolve(Preset::Balanced, None, None, Some(5000), None),
            BufferSettings::resolve(Preset::Balanced, None, None, None, Some(0)),
        ] {
            assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
        }
    }
}
