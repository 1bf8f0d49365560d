//! The event's public fields, in DESIGN.md's order: the one list behind the
//! JSON Lines object, Python's `to_dict` and the Arrow events table. Adding a
//! field here makes every exhaustive `match` on `Field` ask for its value.

use serde_json::{json, Value};

use crate::bytes::hex;
use crate::event::EtwEvent;
use crate::guid::Guid;
use crate::value::Properties;

/// One public field of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Kind,
    HeaderType,
    ProviderId,
    ProviderName,
    EventId,
    Version,
    Opcode,
    Level,
    Task,
    Keywords,
    Channel,
    Pid,
    Tid,
    Processor,
    Timestamp,
    Filetime,
    Name,
    Properties,
    ProcessName,
    ProcessCommandLine,
    UserData,
    ActivityId,
    RelatedActivityId,
    Stack,
    Sid,
    SessionId,
}

impl Field {
    /// Every field, in order.
    pub const ALL: [Field; 26] = [
        Field::Kind,
        Field::HeaderType,
        Field::ProviderId,
        Field::ProviderName,
        Field::EventId,
        Field::Version,
        Field::Opcode,
        Field::Level,
        Field::Task,
        Field::Keywords,
        Field::Channel,
        Field::Pid,
        Field::Tid,
        Field::Processor,
        Field::Timestamp,
        Field::Filetime,
        Field::Name,
        Field::Properties,
        Field::ProcessName,
        Field::ProcessCommandLine,
        Field::UserData,
        Field::ActivityId,
        Field::RelatedActivityId,
        Field::Stack,
        Field::Sid,
        Field::SessionId,
    ];

    /// The attribute, JSON key and column name.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Kind => "kind",
            Field::HeaderType => "header_type",
            Field::ProviderId => "provider_id",
            Field::ProviderName => "provider_name",
            Field::EventId => "event_id",
            Field::Version => "version",
            Field::Opcode => "opcode",
            Field::Level => "level",
            Field::Task => "task",
            Field::Keywords => "keywords",
            Field::Channel => "channel",
            Field::Pid => "pid",
            Field::Tid => "tid",
            Field::Processor => "processor",
            Field::Timestamp => "timestamp",
            Field::Filetime => "filetime",
            Field::Name => "name",
            Field::Properties => "properties",
            Field::ProcessName => "process_name",
            Field::ProcessCommandLine => "process_command_line",
            Field::UserData => "user_data",
            Field::ActivityId => "activity_id",
            Field::RelatedActivityId => "related_activity_id",
            Field::Stack => "stack",
            Field::Sid => "sid",
            Field::SessionId => "session_id",
        }
    }

    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl EtwEvent {
    /// `field`'s value in the JSON Lines object: GUIDs and times as text,
    /// `user_data` as hex, `properties` as an object (`{}` when undecoded).
    pub fn field_json(&self, field: Field) -> Value {
        let guid = |g: Option<Guid>| g.map(|g| json!(g.to_string())).unwrap_or(Value::Null);
        match field {
            Field::Kind => json!(self.kind.as_str()),
            Field::HeaderType => json!(self.header_type),
            Field::ProviderId => json!(self.provider_id.to_string()),
            Field::ProviderName => json!(self.provider_name()),
            Field::EventId => json!(self.event_id),
            Field::Version => json!(self.version),
            Field::Opcode => json!(self.opcode),
            Field::Level => json!(self.level),
            Field::Task => json!(self.task),
            Field::Keywords => json!(self.keywords),
            Field::Channel => json!(self.channel),
            Field::Pid => json!(self.pid),
            Field::Tid => json!(self.tid),
            Field::Processor => json!(self.processor),
            Field::Timestamp => json!(self.timestamp()),
            Field::Filetime => json!(self.filetime),
            Field::Name => json!(self.name()),
            Field::Properties => self
                .decode()
                .and_then(|d| serde_json::to_value(Properties(&d.properties)).ok())
                .unwrap_or_else(|| Value::Object(Default::default())),
            Field::ProcessName => json!(self.process_name()),
            Field::ProcessCommandLine => json!(self.process_command_line()),
            Field::UserData => json!(hex(self.user_data.as_slice())),
            Field::ActivityId => guid(self.activity_id),
            Field::RelatedActivityId => guid(self.related_activity_id()),
            Field::Stack => json!(self.stack()),
            Field::Sid => json!(self.sid()),
            Field::SessionId => json!(self.session_id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_read_back() {
        let names: std::collections::HashSet<_> = Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Field::ALL.len());
        for f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f));
        }
        assert_eq!(Field::from_name("nope"), None);
    }
}
