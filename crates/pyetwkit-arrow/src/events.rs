//! The events table in record batches: `EventBatches` turns a stream of core
//! events into batches of at most `batch_rows` rows (or `batch_bytes` of text
//! and binary content), as an Arrow `RecordBatchReader`.

use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow_schema::{ArrowError, Schema, SchemaRef};
use pyetwkit_core::decode::fields::Field;
use pyetwkit_core::EtwEvent;

use crate::columns::{arrow_field, Column, Scratch};

/// What the batches hold and how big they grow.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The columns, in order (default: every field, in `Field::ALL`'s order).
    pub columns: Vec<Field>,
    pub batch_rows: usize,
    /// Variable-width content (text, binary) at which a batch ends early, so
    /// that long payloads keep memory flat.
    pub batch_bytes: usize,
}

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions {
            columns: Field::ALL.to_vec(),
            batch_rows: 65_536,
            batch_bytes: 8 << 20,
        }
    }
}

impl BatchOptions {
    /// The columns named, in the order given; an unknown name is an error
    /// listing the known ones.
    pub fn with_columns(mut self, names: &[String]) -> Result<BatchOptions, String> {
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let field = Field::from_name(name).ok_or_else(|| {
                let known: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
                format!("no column {name:?}; the columns are {}", known.join(", "))
            })?;
            if !columns.contains(&field) {
                columns.push(field);
            }
        }
        if columns.is_empty() {
            return Err("columns: give at least one column".into());
        }
        self.columns = columns;
        Ok(self)
    }
}

/// The events table's schema for these columns.
pub fn event_schema(columns: &[Field]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|f| arrow_field(*f)).collect::<Vec<_>>(),
    ))
}

/// Rows of the events table being filled, one batch at a time.
pub struct TableBuilder {
    fields: Vec<Field>,
    schema: SchemaRef,
    columns: Vec<Column>,
    rows: usize,
    scratch: Scratch,
}

impl TableBuilder {
    /// A builder with room for `rows` rows before its first growth.
    pub fn new(fields: &[Field], rows: usize) -> TableBuilder {
        TableBuilder {
            fields: fields.to_vec(),
            schema: event_schema(fields),
            columns: fields.iter().map(|f| Column::new(*f, rows)).collect(),
            rows: 0,
            scratch: Scratch::default(),
        }
    }

    pub fn push(&mut self, event: &EtwEvent) {
        for (column, field) in self.columns.iter_mut().zip(&self.fields) {
            column.append(*field, event, &mut self.scratch);
        }
        self.rows += 1;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of text and binary content so far, over the columns.
    pub fn content_bytes(&self) -> usize {
        self.columns.iter().map(Column::content_bytes).sum()
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The rows so far as a batch; the builder starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let arrays = self.columns.iter_mut().map(Column::finish).collect();
        // The row count is given: a table may have no column at all.
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &options)
    }
}

/// Record batches of the events `I` yields. A source error ends the stream
/// after the batch of the events before it.
pub struct EventBatches<I> {
    events: I,
    options: BatchOptions,
    table: TableBuilder,
    /// A source error, returned after the rows before it went out.
    failed: Option<ArrowError>,
    done: bool,
}

impl<I> EventBatches<I>
where
    I: Iterator<Item = pyetwkit_core::Result<EtwEvent>>,
{
    pub fn new(events: I, options: BatchOptions) -> EventBatches<I> {
        EventBatches {
            events,
            table: TableBuilder::new(&options.columns, options.batch_rows.min(4096)),
            options,
            failed: None,
            done: false,
        }
    }
}

impl<I> Iterator for EventBatches<I>
where
    I: Iterator<Item = pyetwkit_core::Result<EtwEvent>>,
{
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.failed.take() {
            return Some(Err(error));
        }
        if self.done {
            return None;
        }
        while self.table.rows() < self.options.batch_rows {
            match self.events.next() {
                Some(Ok(event)) => {
                    self.table.push(&event);
                    // Checked every 256 rows: summing the content is not free.
                    if self.table.rows().is_multiple_of(256)
                        && self.table.content_bytes() >= self.options.batch_bytes
                    {
                        break;
                    }
                }
                Some(Err(error)) => {
                    self.done = true;
                    self.failed = Some(ArrowError::ExternalError(Box::new(error)));
                    break;
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        match self.table.rows() {
            0 => self.failed.take().map(Err),
            _ => Some(self.table.finish()),
        }
    }
}

impl<I> RecordBatchReader for EventBatches<I>
where
    I: Iterator<Item = pyetwkit_core::Result<EtwEvent>>,
{
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{events, sample};
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, UInt16Type};
    use pyetwkit_core::stages::StagedEvents;

    #[test]
    fn every_field_has_its_column_and_rows_follow_the_events() {
        let path = sample("batches");
        let expected = events(&path);
        let options = BatchOptions {
            batch_rows: 3,
            ..BatchOptions::default()
        };
        let batches: Vec<RecordBatch> =
            EventBatches::new(StagedEvents::open(&path, &[]).unwrap(), options)
                .map(Result::unwrap)
                .collect();
        assert!(batches.len() > 1, "split into batches of 3");
        assert!(batches.iter().all(|b| b.num_rows() <= 3));
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, expected.len());
        let names: Vec<_> = batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let want: Vec<_> = Field::ALL.iter().map(|f| f.name().to_string()).collect();
        assert_eq!(names, want);
        let mut i = 0;
        for batch in &batches {
            let filetime = batch
                .column_by_name("filetime")
                .unwrap()
                .as_primitive::<Int64Type>();
            let ids = batch
                .column_by_name("event_id")
                .unwrap()
                .as_primitive::<UInt16Type>();
            let props = batch
                .column_by_name("properties")
                .unwrap()
                .as_string::<i32>();
            for row in 0..batch.num_rows() {
                let e = &expected[i];
                assert_eq!(filetime.value(row), e.filetime);
                assert_eq!(ids.value(row), e.event_id);
                let json: serde_json::Value = serde_json::from_str(props.value(row)).unwrap();
                assert_eq!(json, e.field_json(Field::Properties));
                i += 1;
            }
        }
    }

    #[test]
    fn columns_are_chosen_by_name() {
        let options = BatchOptions::default()
            .with_columns(&["opcode".into(), "provider_id".into(), "opcode".into()])
            .unwrap();
        assert_eq!(options.columns, vec![Field::Opcode, Field::ProviderId]);
        let err = BatchOptions::default()
            .with_columns(&["nope".into()])
            .unwrap_err();
        assert!(err.contains("no column \"nope\"") && err.contains("provider_id"));
        assert!(BatchOptions::default().with_columns(&[]).is_err());
    }

    #[test]
    fn a_source_error_comes_after_the_rows_before_it() {
        let path = sample("errors");
        let mut good: Vec<pyetwkit_core::Result<EtwEvent>> =
            events(&path).into_iter().map(Ok).collect();
        let n = good.len();
        good.push(Err(pyetwkit_core::EtlError::Format {
            path: "x.etl".into(),
            offset: 42,
            reason: "a broken buffer".into(),
        }));
        let mut batches = EventBatches::new(good.into_iter(), BatchOptions::default());
        assert_eq!(batches.next().unwrap().unwrap().num_rows(), n);
        let error = batches.next().unwrap().unwrap_err();
        assert!(error
            .to_string()
            .contains("x.etl: corrupt .etl data at byte offset 0x2a"));
        assert!(batches.next().is_none());
    }
}
