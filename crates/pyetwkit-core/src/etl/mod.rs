//! The pure-Rust .etl file reader.

pub mod buffer;
pub mod clock;
mod loader;
pub mod logfile;
pub mod reader;
pub mod record;
pub mod writer;
pub mod xpress;

pub use logfile::{ClockType, LogfileHeader};
pub use reader::{EtlReader, ReadStats, RecordCounts};
