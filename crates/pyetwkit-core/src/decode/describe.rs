//! What an event says of itself once decoders know it: its provider's name,
//! its event name, its decoded payload and its JSON Lines form. These are
//! methods of `EtwEvent` defined here, in the decode layer, so that the event
//! model itself depends on no decoder.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::event::{EtwEvent, EventKind};
use crate::extended;
use crate::value::Decoded;

impl EtwEvent {
    /// The provider's name: the one definition every consumer (filters, JSON,
    /// Python) uses. A kernel event is named by its MOF class, KernelTraceControl's
    /// image identity records by that provider, a TraceLogging event by its
    /// provider traits, and a manifest event by its schema (a manifest, embedded
    /// metadata or TDH).
    pub fn provider_name(&self) -> Option<Cow<'_, str>> {
        if let Some(class) = self.kernel_class {
            return Some(Cow::Borrowed(class.name));
        }
        if super::image_id::is_image_id(self) {
            return Some(Cow::Borrowed(super::image_id::PROVIDER_NAME));
        }
        let region = self.extended.as_slice();
        if let Some(name) = extended::provider_name_str(region) {
            return Some(Cow::Borrowed(name));
        }
        if let Some(name) = extended::provider_name(region) {
            return Some(Cow::Owned(name)); // not valid UTF-8: the lossy text
        }
        self.schema
            .as_ref()?
            .provider_name
            .as_deref()
            .map(Cow::Borrowed)
    }

    /// The event name: `Class/Opcode` for kernel events, known names of classic
    /// records, else the TraceLogging or manifest schema's event name.
    pub fn name(&self) -> Option<Cow<'static, str>> {
        // By class and opcode, not hook id: live kernel events have no hook.
        let event_trace = crate::kernel::EVENT_TRACE_CLASS.guid;
        if self.kernel_class.is_some_and(|c| c.guid == event_trace) && self.opcode == 0 {
            return Some(Cow::Borrowed("EventTrace/Header"));
        }
        if self.kernel_class.is_some() {
            return super::kernel::event_name(self).map(Cow::Borrowed);
        }
        if self.kind == EventKind::Classic {
            if let Some(name) = super::image_id::event_name(self) {
                return Some(Cow::Borrowed(name));
            }
        }
        match extended::find(self.extended.as_slice(), extended::EVENT_SCHEMA_TL) {
            Some(tl) => super::tracelogging::event_name(tl).map(Cow::Owned),
            None => self
                .schema
                .as_ref()?
                .event_name
                .as_deref()
                .map(|n| Cow::Owned(n.to_string())),
        }
    }

    /// Decodes the payload, if a decoder knows its layout (no caching here:
    /// callers that need it more than once keep the result).
    pub fn decode(&self) -> Option<Decoded> {
        super::decode(self)
    }

    /// The JSON Lines object: DESIGN.md's fields in its order (`fields::Field`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for field in super::fields::Field::ALL {
            m.insert(field.name().into(), self.field_json(field));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tracelogging_name_skips_tag_bytes() {
        use crate::decode::tracelogging::event_name;
        assert_eq!(
            event_name(b"\x10\x00\x00Hello\0x").as_deref(),
            Some("Hello")
        );
        assert_eq!(event_name(b"\x10\x00\x81\x02Hi\0").as_deref(), Some("Hi"));
        assert_eq!(event_name(b"\x10\x00\x80"), None);
    }
}
