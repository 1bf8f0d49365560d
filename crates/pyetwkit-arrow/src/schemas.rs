//! Per-schema tables: one table per (provider, event, version), whose columns
//! are the chosen header fields and then one typed column per property, in
//! first-seen order. Every event lands in exactly one table; one without
//! decoded properties has nulls in its table's property columns.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{ArrowError, Schema, SchemaRef};
use pyetwkit_core::decode::fields::Field;
use pyetwkit_core::{EtwEvent, FastMap, Value};

use crate::events::TableBuilder;
use crate::typed::{build, Ty};

/// Field metadata holding a property column's own name (the column's name
/// may carry a suffix: `_1`, `_2`).
pub const PROPERTY_KEY: &str = "pyetwkit:property";
/// Schema metadata: the table's schema name as JSON.
pub const SCHEMA_KEY: &str = "pyetwkit:schema";

/// The name of the schema an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaName {
    /// The provider's name, else its GUID.
    pub provider: String,
    /// The event's name, else `id-N` (its event id).
    pub event: String,
    /// The header's version.
    pub version: u16,
}

impl SchemaName {
    pub fn of(event: &EtwEvent) -> SchemaName {
        let (provider, name) = names_of(event);
        SchemaName {
            provider: provider.into_owned(),
            event: name.into_owned(),
            version: event.version,
        }
    }

    fn is(&self, provider: &str, event: &str, version: u16) -> bool {
        self.version == version && self.event == event && self.provider == provider
    }
}

/// An event's provider and event names, borrowed where the event holds them.
fn names_of(event: &EtwEvent) -> (Cow<'_, str>, Cow<'static, str>) {
    let provider = event
        .provider_name()
        .unwrap_or_else(|| Cow::Owned(event.provider_id.to_string()));
    let name = event
        .name()
        .unwrap_or_else(|| Cow::Owned(format!("id-{}", event.event_id)));
    (provider, name)
}

/// The header fields of per-schema tables by default: all but the two that
/// the property columns replace.
pub fn default_header() -> Vec<Field> {
    Field::ALL
        .into_iter()
        .filter(|f| !matches!(f, Field::Properties | Field::UserData))
        .collect()
}

/// Rows per record batch of a per-schema table.
const CHUNK_ROWS: usize = 65_536;

/// One property column: its values since the last `finish`, and the type
/// joined over every value it has held, as they come (so that a streamed
/// table's schema changes only when a type widens).
struct PropertyColumn {
    name: String,
    values: Vec<Value>,
    ty: Ty,
}

/// One schema's rows being gathered.
pub struct SchemaTable {
    name: SchemaName,
    header: TableBuilder,
    /// Header columns of finished chunks (rows, columns), `CHUNK_ROWS` rows each.
    header_chunks: Vec<(usize, Vec<ArrayRef>)>,
    /// A chunk that could not be finished, reported by `finish`.
    failed: Option<ArrowError>,
    columns: Vec<PropertyColumn>,
    /// A property's name → its columns: one for each occurrence in an event.
    by_name: FastMap<String, Vec<usize>>,
    rows: usize,
    content: usize,
}

impl SchemaTable {
    pub fn new(name: SchemaName, header: &[Field]) -> SchemaTable {
        SchemaTable {
            name,
            header: TableBuilder::new(header, 0),
            header_chunks: Vec::new(),
            failed: None,
            columns: Vec::new(),
            by_name: FastMap::default(),
            rows: 0,
            content: 0,
        }
    }

    pub fn push(&mut self, event: &EtwEvent) {
        let properties = event.decode().map(|d| d.properties).unwrap_or_default();
        for (position, (name, value)) in properties.into_iter().enumerate() {
            self.content += approx_size(&value);
            // Events of one schema mostly list their properties in one order.
            let index = match self.columns.get(position) {
                Some(c) if c.name == *name && c.values.len() == self.rows => position,
                _ => self.column_for(&name),
            };
            let column = &mut self.columns[index];
            column.ty.widen(&value);
            column.values.push(value);
        }
        // Properties this event lacks are null in its row.
        for column in &mut self.columns {
            if column.values.len() == self.rows {
                column.values.push(Value::Null);
            }
        }
        self.header.push(event);
        self.rows += 1;
        if self.header.rows() == CHUNK_ROWS {
            self.close_header_chunk();
        }
    }

    /// The first column of `name` not yet filled in this row (a property may
    /// occur more than once), made if missing.
    fn column_for(&mut self, name: &str) -> usize {
        let rows = self.rows;
        let known = self.by_name.get(name);
        if let Some(&i) = known
            .into_iter()
            .flatten()
            .find(|&&i| self.columns[i].values.len() == rows)
        {
            return i;
        }
        let index = self.columns.len();
        let mut values = Vec::with_capacity(rows + 1);
        values.resize(rows, Value::Null);
        self.columns.push(PropertyColumn {
            name: name.to_string(),
            values,
            ty: Ty::Null,
        });
        self.by_name
            .entry(name.to_string())
            .or_default()
            .push(index);
        index
    }

    fn close_header_chunk(&mut self) {
        if self.header.rows() > 0 {
            match self.header.finish() {
                Ok(batch) => self
                    .header_chunks
                    .push((batch.num_rows(), batch.columns().to_vec())),
                // Kept for `finish`: rows are never dropped without a word.
                Err(e) => self.failed = self.failed.take().or(Some(e)),
            }
        }
    }

    /// Rows gathered since the last `finish`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// About how many bytes the gathered rows hold.
    pub fn content_bytes(&self) -> usize {
        self.content + self.header.content_bytes()
    }

    /// The gathered rows as record batches of one schema (at most
    /// `CHUNK_ROWS` rows each); the table then starts empty, keeping its
    /// columns and their types.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        self.close_header_chunk();
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let schema = self.schema();
        let mut batches = Vec::with_capacity(self.header_chunks.len());
        let mut start = 0;
        for (rows, mut arrays) in std::mem::take(&mut self.header_chunks) {
            for column in &self.columns {
                let values: Vec<&Value> = column.values[start..start + rows].iter().collect();
                arrays.push(build(&column.ty, &values)?);
            }
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            batches.push(RecordBatch::try_new_with_options(
                Arc::clone(&schema),
                arrays,
                &options,
            )?);
            start += rows;
        }
        for column in &mut self.columns {
            column.values.clear();
        }
        self.rows = 0;
        self.content = 0;
        Ok(batches)
    }

    /// The header columns, then the property columns with their joined types.
    fn schema(&self) -> SchemaRef {
        let header = self.header.schema();
        let mut taken: Vec<String> = header.fields().iter().map(|f| f.name().clone()).collect();
        let mut fields: Vec<_> = header.fields().iter().map(|f| f.as_ref().clone()).collect();
        for column in &self.columns {
            let name = unique(&column.name, &taken);
            let mut field = column.ty.field(&name);
            let mut metadata = field.metadata().clone();
            metadata.insert(PROPERTY_KEY, column.name.clone());
            field = field.with_metadata(metadata);
            taken.push(name);
            fields.push(field);
        }
        let text = serde_json::json!({
            "provider": self.name.provider,
            "event": self.name.event,
            "version": self.name.version,
        })
        .to_string();
        Arc::new(Schema::new(fields).with_metadata([(SCHEMA_KEY, text)]))
    }
}

/// `name`, or `name_1`, `name_2`, ... when a column already has it.
fn unique(name: &str, taken: &[String]) -> String {
    let free = |candidate: &str| !taken.iter().any(|t| t == candidate);
    if free(name) {
        return name.to_string();
    }
    (1..)
        .map(|n| format!("{name}_{n}"))
        .find(|candidate| free(candidate))
        .unwrap_or_else(|| name.to_string())
}

/// Roughly the bytes a value takes in a column.
fn approx_size(value: &Value) -> usize {
    match value {
        Value::Str(s) | Value::Sid(s) => s.len() + 4,
        Value::Bytes(b) => b.len() + 4,
        Value::List(items) => items.iter().map(approx_size).sum::<usize>() + 4,
        Value::Struct(fields) => fields.iter().map(|(_, v)| approx_size(v)).sum(),
        _ => 8,
    }
}

/// Entries by the schema of the events they are for, in first-seen order,
/// found with the names an event lends (a hash of the borrowed names), so
/// that no name is copied per event.
pub(crate) struct SchemaIndex<T> {
    /// Whether the version tells schemas apart (else every key's version is 0).
    versioned: bool,
    by_hash: FastMap<u64, Vec<usize>>,
    entries: Vec<(SchemaName, T)>,
}

impl<T> SchemaIndex<T> {
    pub(crate) fn new(versioned: bool) -> SchemaIndex<T> {
        SchemaIndex {
            versioned,
            by_hash: FastMap::default(),
            entries: Vec::new(),
        }
    }

    /// The entry of `event`'s schema, made by `make` the first time.
    pub(crate) fn entry(
        &mut self,
        event: &EtwEvent,
        make: impl FnOnce(&SchemaName) -> T,
    ) -> &mut T {
        let (provider, name) = names_of(event);
        let version = if self.versioned { event.version } else { 0 };
        let hash = self
            .by_hash
            .hasher()
            .hash_one((&*provider, &*name, version));
        let entries = &self.entries;
        let found = self.by_hash.get(&hash).and_then(|candidates| {
            candidates
                .iter()
                .copied()
                .find(|&i| entries[i].0.is(&provider, &name, version))
        });
        let index = match found {
            Some(i) => i,
            None => {
                let key = SchemaName {
                    provider: provider.into_owned(),
                    event: name.into_owned(),
                    version,
                };
                let value = make(&key);
                self.entries.push((key, value));
                self.by_hash
                    .entry(hash)
                    .or_default()
                    .push(self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        &mut self.entries[index].1
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Every entry, in first-seen order; the index starts empty again.
    pub(crate) fn drain(&mut self) -> Vec<(SchemaName, T)> {
        self.by_hash.clear();
        std::mem::take(&mut self.entries)
    }
}

/// Every schema's table of a stream of events, in first-seen order.
pub struct SchemaTables {
    header: Vec<Field>,
    tables: SchemaIndex<SchemaTable>,
}

impl SchemaTables {
    pub fn new(header: &[Field]) -> SchemaTables {
        SchemaTables {
            header: header.to_vec(),
            tables: SchemaIndex::new(true),
        }
    }

    pub fn push(&mut self, event: &EtwEvent) {
        let header = &self.header;
        self.tables
            .entry(event, |name| SchemaTable::new(name.clone(), header))
            .push(event);
    }

    /// Each schema's table, as record batches.
    pub fn finish(mut self) -> Result<Vec<(SchemaName, Vec<RecordBatch>)>, ArrowError> {
        self.tables
            .drain()
            .into_iter()
            .map(|(name, mut table)| Ok((name, table.finish()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{events, sample};

    #[test]
    fn every_event_lands_in_its_schema_table_with_its_properties() {
        let events = events(&sample("tables"));
        let mut tables = SchemaTables::new(&default_header());
        for event in &events {
            tables.push(event);
        }
        let tables = tables.finish().unwrap();
        let rows: usize = tables
            .iter()
            .flat_map(|(_, batches)| batches)
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, events.len());
        for (name, batches) in &tables {
            let expected: Vec<&EtwEvent> = events
                .iter()
                .filter(|e| SchemaName::of(e) == *name)
                .collect();
            let batch = &batches[0];
            assert_eq!(batch.num_rows(), expected.len());
            let meta: serde_json::Value =
                serde_json::from_str(&batch.schema().metadata()[SCHEMA_KEY]).unwrap();
            assert_eq!(meta["event"], name.event.as_str());
            // Each decoded property has its column, found by its metadata.
            for (row, event) in expected.iter().enumerate() {
                for (prop, value) in event.decode().map(|d| d.properties).unwrap_or_default() {
                    let (i, field) = batch
                        .schema()
                        .fields()
                        .iter()
                        .enumerate()
                        .find(|(_, f)| f.metadata().get(PROPERTY_KEY) == Some(&prop.to_string()))
                        .map(|(i, f)| (i, f.clone()))
                        .unwrap();
                    let column = batch.column(i);
                    assert_eq!(
                        column.is_null(row),
                        value == Value::Null,
                        "{name:?} {field:?} row {row}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_table_without_header_columns_keeps_its_rows() {
        let events = events(&sample("headerless"));
        let mut tables = SchemaTables::new(&[]);
        for event in &events {
            tables.push(event);
        }
        let rows: usize = tables
            .finish()
            .unwrap()
            .iter()
            .flat_map(|(_, batches)| batches)
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, events.len());
    }

    #[test]
    fn repeated_and_clashing_names_get_suffixes() {
        let taken = vec!["pid".to_string(), "pid_1".to_string()];
        assert_eq!(unique("pid", &taken), "pid_2");
        assert_eq!(unique("Size", &taken), "Size");
    }

    #[test]
    fn a_streamed_table_keeps_its_types_between_finishes() {
        let events = events(&sample("streamed"));
        let event = events
            .iter()
            .find(|e| e.decode().is_some_and(|d| !d.properties.is_empty()))
            .unwrap();
        let mut table = SchemaTable::new(SchemaName::of(event), &[Field::EventId]);
        table.push(event);
        let first = table.finish().unwrap();
        table.push(event);
        let second = table.finish().unwrap();
        assert_eq!(first[0].schema(), second[0].schema());
        assert_eq!(table.rows(), 0);
    }
}
