//! The Windows layer: ferrisetw sessions, the record conversion, TDH and the
//! Win32 controller calls. Everything it computes is in small pure parts
//! (record, properties, filters) that the tests under Wine check; what needs
//! a real ETW is in the `windows_live` Python tests.

mod api;
mod filters;
mod properties;
mod record;
mod source;
mod tdh;

pub use api::{NativeEtw, RT_LOST_EVENT};
pub use filters::{event_id_blob, pid_blob, Filters};
pub use properties::{trace_properties, PropertiesBuffer, NAME_CHARS};
pub use record::{event_from_record, guid_from_win, guid_to_win, raw_record, RecordImage};
pub use source::LiveSession;
pub use tdh::{enumerate_providers, NativeTdh};
