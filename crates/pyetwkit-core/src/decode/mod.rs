//! Payload decoding: from an event's bytes to named, typed properties. Decoders
//! are chosen by what the event carries (a TraceLogging schema, a kernel hook).

pub mod kernel;
pub mod tracelogging;
pub mod value;

pub use value::{Decoded, Value};

use crate::etl::extended;
use crate::event::EtwEvent;

/// Decodes `event`'s payload, if a decoder knows its layout.
pub fn decode(event: &EtwEvent) -> Option<Decoded> {
    if let Some(item) = extended::find(event.extended.as_slice(), extended::EVENT_SCHEMA_TL) {
        let schema = tracelogging::parse_schema(item)?;
        return Some(tracelogging::decode(
            &schema,
            event.user_data.as_slice(),
            crate::process::pointer_size(event),
        ));
    }
    if event.kind == crate::event::EventKind::Kernel {
        return kernel::decode(event, crate::process::pointer_size(event));
    }
    None
}
