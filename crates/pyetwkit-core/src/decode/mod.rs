//! Payload decoding: from an event's bytes to named, typed properties. Kernel
//! events, and the image identity records merged traces carry (`image_id`),
//! have fixed MOF layouts (`kernel`); every other kind is read through
//! one TDH-shaped schema (`schema`, `payload`), whether it came from a
//! TraceLogging event, a manifest or the metadata a merged trace embeds.

mod describe;
pub mod event_info;
pub(crate) mod event_source;
pub mod fields;
pub(crate) mod image_id;
pub mod kernel;
pub mod manifest;
pub mod payload;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod tracelogging;

use crate::event::EtwEvent;
use crate::extended;
use crate::value::Decoded;

/// Decodes `event`'s payload, if a decoder knows its layout.
pub fn decode(event: &EtwEvent) -> Option<Decoded> {
    let pointer_size = usize::from(event.pointer_size);
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
    if event.kernel_class.is_some() {
        return kernel::decode(event, pointer_size);
    }
    if image_id::is_image_id(event) {
        return image_id::decode(event, pointer_size);
    }
    None
}
