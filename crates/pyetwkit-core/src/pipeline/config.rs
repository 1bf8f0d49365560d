//! How a pipeline's channel behaves, and the checks that keep every argument
//! in a range Rust can represent (no panic on absurd values).

use std::time::Duration;

use crate::error::Error;

/// What a source does when Python falls behind and the channel is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room: lossless. The default for files.
    Block,
    /// Discard the batch and count it: a live session cannot be paused. The default for live sources.
    Drop,
}

impl Overflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::Block => "block",
            Overflow::Drop => "drop",
        }
    }
}

/// The most batches a channel may hold, and events a batch: beyond these a
/// value is a mistake, and allocating for it could abort the process.
pub const MAX_CAPACITY: usize = 1 << 16;
pub const MAX_BATCH_SIZE: usize = 1 << 20;
/// The longest flush interval: a day. Longer is a mistake, not a setting.
pub const MAX_FLUSH_INTERVAL: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    /// Batches the channel holds.
    pub capacity: usize,
    /// Events per batch at most.
    pub batch_size: usize,
    /// The longest an event waits in a partial batch.
    pub flush_interval: Duration,
    /// `None`: the source's default.
    pub overflow: Option<Overflow>,
    /// How long `stop` waits for the source to return before reporting it.
    pub stop_timeout: Duration,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            capacity: 64,
            batch_size: 1024,
            flush_interval: Duration::from_millis(10),
            overflow: None,
            stop_timeout: Duration::from_secs(5),
        }
    }
}

impl ChannelConfig {
    pub fn check(&self) -> Result<(), Error> {
        let within = |name: &str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "{name} must be between 1 and {max}, not {v}"
                )))
            }
        };
        within("capacity", self.capacity, MAX_CAPACITY)?;
        within("batch_size", self.batch_size, MAX_BATCH_SIZE)?;
        if self.flush_interval > MAX_FLUSH_INTERVAL {
            return Err(Error::InvalidArgument(format!(
                "flush_interval must be at most {} seconds, not {}",
                MAX_FLUSH_INTERVAL.as_secs(),
                self.flush_interval.as_secs_f64()
            )));
        }
        Ok(())
    }
}

/// A number of seconds from Python as a `Duration`. `inf` means no limit
/// (`None`); NaN, negative values and values too large to represent are
/// refused with a message naming `what`.
pub fn seconds(what: &str, value: f64) -> Result<Option<Duration>, Error> {
    if value == f64::INFINITY {
        return Ok(None);
    }
    if value.is_nan() || value < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "{what} must be a non-negative number of seconds, not {value}"
        )));
    }
    Duration::try_from_secs_f64(value)
        .map(Some)
        .map_err(|_| Error::InvalidArgument(format!("{what} of {value} seconds is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_what_a_duration_holds_and_refuse_the_rest() {
        assert_eq!(seconds("t", 0.5).unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(seconds("t", f64::INFINITY).unwrap(), None);
        for bad in [f64::NAN, -1.0, f64::NEG_INFINITY, 1e300, 1.9e19] {
            assert!(
                matches!(seconds("t", bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        assert_eq!(seconds("t", 1e-300).unwrap(), Some(Duration::ZERO));
    }

    #[test]
    fn sizes_are_bounded() {
        let ok = ChannelConfig::default();
        assert!(ok.check().is_ok());
        let slow = ChannelConfig {
            flush_interval: MAX_FLUSH_INTERVAL + Duration::from_nanos(1),
            ..ChannelConfig::default()
        };
        assert!(slow.check().is_err());
        for (capacity, batch_size) in [(0, 1), (1, 0), (MAX_CAPACITY + 1, 1), (1, usize::MAX)] {
            let c = ChannelConfig {
                capacity,
                batch_size,
                ..ChannelConfig::default()
            };
            assert!(c.check().is_err(), "{capacity} {batch_size}");
        }
    }
}
