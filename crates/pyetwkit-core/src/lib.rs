//! pyetwkit-core: the event model, the pure-Rust .etl reader, the decoders, the
//! chain of stages and the pipeline behind pyetwkit. Everything here runs on
//! every OS; nothing depends on Python.
//!
//! Layers, each using only those before it (a test checks it):
//! model (`event`, `guid`, `time`, `bytes`, `kernel`, `extended`, `schema`,
//! `value`, `error`) ← decode ← sources (`etl`, `sample`) ← stages ← pipeline.

mod bytes;
pub mod decode;
mod error;
pub mod etl;
mod event;
pub mod extended;
mod fast_hash;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod guid;
mod kernel;
pub mod pipeline;
mod sample;
mod schema;
pub mod stages;
mod time;
mod value;

pub use error::{Error, EtlError, FilterError, ManifestError, Result};
pub use etl::{EtlReader, LogfileHeader};
pub use event::{EtwEvent, EventKind, ProcessContext, SharedBytes};
pub use fast_hash::FastMap;
pub use guid::{Guid, ParseGuidError};
pub use kernel::{
    class_of_guid, class_of_hook, KernelClass, ALL_CLASSES, ALWAYS_CLASSES, FLAG_CLASSES,
};
pub use sample::build_sample;
pub use schema::{EventSchema, SchemaKey};
pub use time::{filetime_parts, filetime_to_iso8601, systemtime_millis, write_iso8601, IsoBuf};
pub use value::{systemtime_iso, Decoded, Name, Properties, Value};
