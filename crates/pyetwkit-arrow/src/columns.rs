//! One Arrow builder per public field: the column's type follows from the
//! field, by one exhaustive `match`.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int64Builder, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
    UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field as ArrowField, TimeUnit};
use pyetwkit_core::decode::fields::Field;

use pyetwkit_core::{EtwEvent, Guid, Properties};

/// FILETIME ticks (100 ns since 1601) at the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

/// The column of `field`: its Arrow type and whether it may be null.
pub fn arrow_field(field: Field) -> ArrowField {
    let (ty, nullable) = match field {
        Field::Kind | Field::ProviderId => (DataType::Utf8, false),
        Field::ProviderName
        | Field::Name
        | Field::ProcessName
        | Field::ProcessCommandLine
        | Field::ActivityId
        | Field::RelatedActivityId
        | Field::Sid => (DataType::Utf8, true),
        Field::HeaderType => (DataType::UInt8, true),
        Field::Opcode | Field::Level | Field::Channel => (DataType::UInt8, false),
        Field::EventId | Field::Version | Field::Task => (DataType::UInt16, false),
        Field::Keywords => (DataType::UInt64, false),
        Field::Filetime => (DataType::Int64, false),
        Field::Pid | Field::Tid | Field::SessionId => (DataType::UInt32, true),
        Field::Processor => (DataType::UInt16, true),
        // Nanoseconds since 1970, UTC: exact for FILETIME's 100 ns ticks; null
        // outside what 64 bits of nanoseconds hold (1677 to 2262).
        Field::Timestamp => (
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        // The decoded properties as JSON text (an object, `{}` when undecoded).
        Field::Properties => (DataType::Utf8, false),
        Field::UserData => (DataType::Binary, false),
        Field::Stack => (
            DataType::List(Arc::new(ArrowField::new("item", DataType::UInt64, false))),
            true,
        ),
    };
    ArrowField::new(field.name(), ty, nullable)
}

/// What appending reuses from row to row.
#[derive(Default)]
pub struct Scratch {
    json: Vec<u8>,
    last_guid: Option<Guid>,
    guid_text: String,
}

/// A column being filled.
pub enum Column {
    Text(StringBuilder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    I64(Int64Builder),
    Time(TimestampNanosecondBuilder),
    Bytes(BinaryBuilder),
    U64List(ListBuilder<UInt64Builder>),
}

impl Column {
    pub fn new(field: Field, rows: usize) -> Column {
        match arrow_field(field).data_type() {
            DataType::Utf8 => Column::Text(StringBuilder::with_capacity(rows, rows * 16)),
            DataType::UInt8 => Column::U8(UInt8Builder::with_capacity(rows)),
            DataType::UInt16 => Column::U16(UInt16Builder::with_capacity(rows)),
            DataType::UInt32 => Column::U32(UInt32Builder::with_capacity(rows)),
            DataType::UInt64 => Column::U64(UInt64Builder::with_capacity(rows)),
            DataType::Int64 => Column::I64(Int64Builder::with_capacity(rows)),
            DataType::Timestamp(..) => {
                Column::Time(TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
            DataType::Binary => Column::Bytes(BinaryBuilder::with_capacity(rows, rows * 32)),
            _ => Column::U64List(
                ListBuilder::new(UInt64Builder::new()).with_field(Arc::new(ArrowField::new(
                    "item",
                    DataType::UInt64,
                    false,
                ))),
            ),
        }
    }

    /// Bytes of variable-width content so far (text, binary).
    pub fn content_bytes(&self) -> usize {
        match self {
            Column::Text(b) => b.values_slice().len(),
            Column::Bytes(b) => b.values_slice().len(),
            _ => 0,
        }
    }

    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Text(b) => Arc::new(b.finish()),
            Column::U8(b) => Arc::new(b.finish()),
            Column::U16(b) => Arc::new(b.finish()),
            Column::U32(b) => Arc::new(b.finish()),
            Column::U64(b) => Arc::new(b.finish()),
            Column::I64(b) => Arc::new(b.finish()),
            Column::Time(b) => Arc::new(b.finish()),
            Column::Bytes(b) => Arc::new(b.finish()),
            Column::U64List(b) => Arc::new(b.finish()),
        }
    }

    /// Appends `event`'s value of `field` (the column was made for `field`).
    pub fn append(&mut self, field: Field, event: &EtwEvent, scratch: &mut Scratch) {
        match (self, field) {
            (Column::Text(b), Field::Kind) => b.append_value(event.kind.as_str()),
            (Column::Text(b), Field::ProviderId) => {
                // Consecutive events mostly share a provider: its text is kept.
                if scratch.last_guid != Some(event.provider_id) {
                    scratch.guid_text = event.provider_id.to_string();
                    scratch.last_guid = Some(event.provider_id);
                }
                b.append_value(&scratch.guid_text);
            }
            (Column::Text(b), Field::ProviderName) => b.append_option(event.provider_name()),
            (Column::Text(b), Field::Name) => b.append_option(event.name()),
            (Column::Text(b), Field::ProcessName) => b.append_option(event.process_name()),
            (Column::Text(b), Field::ProcessCommandLine) => {
                b.append_option(event.process_command_line())
            }
            (Column::Text(b), Field::ActivityId) => {
                b.append_option(event.activity_id.map(|g| g.to_string()))
            }
            (Column::Text(b), Field::RelatedActivityId) => {
                b.append_option(event.related_activity_id().map(|g| g.to_string()))
            }
            (Column::Text(b), Field::Sid) => b.append_option(event.sid()),
            (Column::Text(b), Field::Properties) => {
                // Written straight from the decoded values: no JSON tree between.
                scratch.json.clear();
                match event.decode() {
                    Some(decoded) => {
                        let props = Properties(&decoded.properties);
                        // Writing to a Vec cannot fail; a value that cannot be JSON is null.
                        let _ = serde_json::to_writer(&mut scratch.json, &props);
                    }
                    None => scratch.json.extend_from_slice(b"{}"),
                }
                b.append_value(std::str::from_utf8(&scratch.json).unwrap_or("{}"));
            }
            (Column::U8(b), Field::HeaderType) => b.append_option(event.header_type),
            (Column::U8(b), Field::Opcode) => b.append_value(event.opcode),
            (Column::U8(b), Field::Level) => b.append_value(event.level),
            (Column::U8(b), Field::Channel) => b.append_value(event.channel),
            (Column::U16(b), Field::EventId) => b.append_value(event.event_id),
            (Column::U16(b), Field::Version) => b.append_value(event.version),
            (Column::U16(b), Field::Task) => b.append_value(event.task),
            (Column::U16(b), Field::Processor) => b.append_option(event.processor),
            (Column::U32(b), Field::Pid) => b.append_option(event.pid),
            (Column::U32(b), Field::Tid) => b.append_option(event.tid),
            (Column::U32(b), Field::SessionId) => b.append_option(event.session_id()),
            (Column::U64(b), Field::Keywords) => b.append_value(event.keywords),
            (Column::I64(b), Field::Filetime) => b.append_value(event.filetime),
            (Column::Time(b), Field::Timestamp) => b.append_option(
                event
                    .filetime
                    .checked_sub(UNIX_EPOCH_TICKS)
                    .and_then(|t| t.checked_mul(100)),
            ),
            (Column::Bytes(b), Field::UserData) => b.append_value(event.user_data.as_slice()),
            (Column::U64List(b), Field::Stack) => match event.stack() {
                Some(frames) => {
                    b.values().append_slice(&frames);
                    b.append(true);
                }
                None => b.append(false),
            },
            // A column is made from its field's type (`Column::new`): unreachable.
            (column, field) => column.append_null_of(field),
        }
    }

    fn append_null_of(&mut self, field: Field) {
        // Columns are made from their field's type (`Column::new`): a bug if reached.
        if cfg!(debug_assertions) {
            panic!("the column of {field:?} has another field's type");
        }
        match self {
            Column::Text(b) => b.append_null(),
            Column::U8(b) => b.append_null(),
            Column::U16(b) => b.append_null(),
            Column::U32(b) => b.append_null(),
            Column::U64(b) => b.append_null(),
            Column::I64(b) => b.append_null(),
            Column::Time(b) => b.append_null(),
            Column::Bytes(b) => b.append_null(),
            Column::U64List(b) => b.append(false),
        }
    }
}
