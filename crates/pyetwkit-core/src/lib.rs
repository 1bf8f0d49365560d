//! pyetwkit-core: the event model and the pure-Rust .etl reader behind pyetwkit.
//! Everything here runs on every OS; nothing depends on Python.

pub mod bytes;
pub mod decode;
pub mod error;
pub mod etl;
pub mod event;
pub mod fast_hash;
pub mod filter;
pub mod guid;
pub mod kernel;
pub mod pipeline;
pub mod process;
pub mod sample;
pub mod time;

pub use error::{EtlError, Result};
pub use etl::{EtlReader, LogfileHeader};
pub use event::{EtwEvent, EventKind};
pub use guid::Guid;
