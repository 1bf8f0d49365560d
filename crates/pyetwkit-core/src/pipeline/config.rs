//! How a pipeline's channel behaves.

use std::time::Duration;

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
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            capacity: 64,
            batch_size: 1024,
            flush_interval: Duration::from_millis(10),
            overflow: None,
        }
    }
}
