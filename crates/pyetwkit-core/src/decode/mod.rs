//! Payload decoding: from an event's bytes to named, typed properties. Kernel
//! events, and the image identity records merged traces carry (`image_id`),
//! have fixed MOF layouts (`kernel`); every other kind is read through
//! one TDH-shaped schema (`schema`, `payload`), whether it came from a
//! TraceLogging event, a manifest or the metadata a merged trace embeds.

pub mod event_info;
pub mod event_source;
pub mod image_id;
pub mod kernel;
pub mod manifest;
pub mod payload;
pub mod registry;
pub mod schema;
#[cfg(test)]
pub(crate) mod testing;
pub mod tracelogging;
pub mod value;

pub use registry::SchemaRegistry;
pub use schema::EventSchema;
pub use value::{Decoded, Name, Value};

use crate::etl::extended;
use crate::event::EtwEvent;

/// Decodes `event`'s payload, if a decoder knows its layout.
pub fn decode(event: &EtwEvent) -> Option<Decoded> {
    let pointer_size = crate::process::pointer_size(event);
    if let Some(item) = extended::find(event.extended.as_slice(), extended::EVENT_SCHEMA_TL) {
        let schema = tracelogging::parse_schema(item)?;
        return Some(payload::decode(
            &schema,
            event.user_data.as_slice(),
            pointer_size,
        ));
    }
    if let Some(schema) = &event.schema {
        return Some(payload::decode(
            schema,
            event.user_data.as_slice(),
            pointer_size,
        ));
    }
    if event.kind == crate::event::EventKind::Kernel {
        return kernel::decode(event, pointer_size);
    }
    if image_id::is_image_id(event) {
        return image_id::decode(event, pointer_size);
    }
    None
}
