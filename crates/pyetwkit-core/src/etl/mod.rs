//! The pure-Rust .etl file reader.

mod buffer;
mod clock;
mod loader;
mod logfile;
mod reader;
pub(crate) mod record;
pub(crate) mod writer;
pub(crate) mod xpress;

pub use logfile::{ClockType, LogfileHeader};
pub use reader::{EtlReader, ReadStats, RecordCounts, MAX_BUFFER_SIZE};
pub use record::RawRecord;
