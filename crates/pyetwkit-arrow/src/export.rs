//! Writing events to files: Parquet partitioned by provider and event (hive
//! style, zstd), an Arrow IPC file, JSON Lines or CSV. The caller feeds events
//! one recording at a time (`begin`, `write`, ...) and calls `finish`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::writer::FileWriter;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use pyetwkit_core::decode::fields::Field;
use pyetwkit_core::EtwEvent;

use crate::events::TableBuilder;
use crate::schemas::{SchemaIndex, SchemaTable};

/// The file formats `pyetwkit convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder: `provider=P/event=E/part-RECORDING-N.parquet`.
    Parquet,
    /// One Arrow IPC file of the events table.
    Arrow,
    Jsonl,
    Csv,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "parquet" => Some(Format::Parquet),
            "arrow" => Some(Format::Arrow),
            "jsonl" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// What writing an export can fail on, as the other crates' errors are made
/// (thiserror): the message, and the source error kept.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("Parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Options(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create(path: &Path) -> Result<BufWriter<File>, ExportError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    Ok(BufWriter::new(File::create(path).map_err(io(path))?))
}

/// Rows per Parquet row group and Arrow batch at most.
const BATCH_ROWS: usize = 65_536;
/// Text and binary content at which a batch is written out early.
const BATCH_BYTES: usize = 4 << 20;
/// Buffered content over all Parquet partitions at which the largest one is
/// written out: with the batch bound, memory stays flat whatever the input.
const BUFFER_BYTES: usize = 12 << 20;

/// Whether a table being filled should be written out now (its content is
/// summed every 256 rows only: that is not free).
fn full(table: &impl Gathered) -> bool {
    table.rows() >= BATCH_ROWS
        || (table.rows().is_multiple_of(256) && table.content_bytes() >= BATCH_BYTES)
}

/// Rows gathered before they are written.
trait Gathered {
    fn rows(&self) -> usize;
    fn content_bytes(&self) -> usize;
}

impl Gathered for TableBuilder {
    fn rows(&self) -> usize {
        TableBuilder::rows(self)
    }
    fn content_bytes(&self) -> usize {
        TableBuilder::content_bytes(self)
    }
}

impl Gathered for PartTable {
    fn rows(&self) -> usize {
        PartTable::rows(self)
    }
    fn content_bytes(&self) -> usize {
        PartTable::content_bytes(self)
    }
}

/// Writes events in one format.
pub struct Exporter {
    out: PathBuf,
    sink: Sink,
    rows: u64,
}

enum Sink {
    /// A folder of part files: Parquet, or Arrow IPC per schema.
    Parquet(Partitions),
    Arrow {
        table: TableBuilder,
        writer: Option<FileWriter<BufWriter<File>>>,
    },
    Jsonl(BufWriter<File>),
    Csv(csv::Writer<BufWriter<File>>),
}

impl Exporter {
    /// Starts writing `out`: a folder for Parquet (made if missing), else a
    /// file. `per_schema`: typed per-schema tables with these header columns,
    /// in a folder of Parquet or Arrow IPC files (`version=V` under each
    /// event), rather than the events table.
    pub fn create(
        format: Format,
        out: &Path,
        per_schema: Option<Vec<Field>>,
    ) -> Result<Exporter, ExportError> {
        let sink = match (format, per_schema) {
            (Format::Jsonl | Format::Csv, Some(_)) => {
                return Err(ExportError::Options(
                    "per-schema tables are written as parquet or arrow, not jsonl or csv".into(),
                ))
            }
            (Format::Parquet, per_schema) => {
                fs::create_dir_all(out).map_err(io(out))?;
                Sink::Parquet(Partitions::new(out, per_schema, false))
            }
            (Format::Arrow, Some(header)) => {
                fs::create_dir_all(out).map_err(io(out))?;
                Sink::Parquet(Partitions::new(out, Some(header), true))
            }
            (Format::Arrow, None) => Sink::Arrow {
                table: TableBuilder::new(&Field::ALL, 4096),
                writer: None,
            },
            (Format::Jsonl, None) => Sink::Jsonl(create(out)?),
            (Format::Csv, None) => {
                let mut writer = csv::Writer::from_writer(create(out)?);
                writer.write_record(Field::ALL.iter().map(|f| f.name()))?;
                Sink::Csv(writer)
            }
        };
        Ok(Exporter {
            out: out.to_path_buf(),
            sink,
            rows: 0,
        })
    }

    /// The recording the next events come from: Parquet part files are named
    /// after it, so that recordings of one folder never overwrite each other.
    pub fn begin(&mut self, recording: &str) -> Result<(), ExportError> {
        if let Sink::Parquet(parts) = &mut self.sink {
            parts.flush_all()?;
            parts.recording = sanitize(recording);
        }
        Ok(())
    }

    pub fn write(&mut self, event: &EtwEvent) -> Result<(), ExportError> {
        self.rows += 1;
        match &mut self.sink {
            Sink::Parquet(parts) => parts.push(event),
            Sink::Arrow { table, writer } => {
                table.push(event);
                if full(table) {
                    write_ipc(&self.out, table, writer)?;
                }
                Ok(())
            }
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, &event.to_json())
                    .map_err(|e| io(&self.out)(e.into()))?;
                out.write_all(b"\n").map_err(io(&self.out))
            }
            Sink::Csv(out) => {
                let cells = Field::ALL.map(|f| csv_cell(event.field_json(f)));
                out.write_record(&cells)?;
                Ok(())
            }
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes what is buffered and closes every file.
    pub fn finish(self) -> Result<u64, ExportError> {
        match self.sink {
            Sink::Parquet(mut parts) => parts.flush_all()?,
            Sink::Arrow {
                mut table,
                mut writer,
            } => {
                if table.rows() > 0 || writer.is_none() {
                    write_ipc(&self.out, &mut table, &mut writer)?;
                }
                if let Some(mut writer) = writer {
                    writer.finish()?;
                    writer.into_inner()?.flush().map_err(io(&self.out))?;
                }
            }
            Sink::Jsonl(mut out) => out.flush().map_err(io(&self.out))?,
            Sink::Csv(mut out) => out.flush().map_err(io(&self.out))?,
        }
        Ok(self.rows)
    }
}

fn write_ipc(
    out: &Path,
    table: &mut TableBuilder,
    writer: &mut Option<FileWriter<BufWriter<File>>>,
) -> Result<(), ExportError> {
    if writer.is_none() {
        *writer = Some(FileWriter::try_new(create(out)?, &table.schema())?);
    }
    let batch = table.finish()?;
    if let Some(writer) = writer {
        writer.write(&batch)?;
    }
    Ok(())
}

/// A CSV cell: text as itself, numbers in decimal, null empty, objects and
/// lists as JSON text.
fn csv_cell(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The partitions: one part file per (provider, event) and recording, or per
/// schema (provider, event, version) and recording, each buffered and written
/// a row group (or IPC batch) at a time.
struct Partitions {
    root: PathBuf,
    recording: String,
    /// `Some(header fields)`: typed per-schema tables with these header columns.
    per_schema: Option<Vec<Field>>,
    /// Arrow IPC part files rather than Parquet.
    ipc: bool,
    /// By (provider, event), or by schema (with its version) per schema.
    open: SchemaIndex<Partition>,
    properties: WriterProperties,
    pushed: u64,
}

struct Partition {
    table: PartTable,
    /// The part file's path without its number and extension.
    stem: PathBuf,
    /// Part files so far: a new one starts when the table's schema changes
    /// (a per-schema column appears or widens).
    parts: u32,
    writer: Option<PartWriter>,
}

/// The rows of a partition being gathered.
enum PartTable {
    Events(TableBuilder),
    Schema(SchemaTable),
}

impl PartTable {
    fn push(&mut self, event: &EtwEvent) {
        match self {
            PartTable::Events(t) => t.push(event),
            PartTable::Schema(t) => t.push(event),
        }
    }

    fn rows(&self) -> usize {
        match self {
            PartTable::Events(t) => t.rows(),
            PartTable::Schema(t) => t.rows(),
        }
    }

    fn content_bytes(&self) -> usize {
        match self {
            PartTable::Events(t) => t.content_bytes(),
            PartTable::Schema(t) => t.content_bytes(),
        }
    }

    fn finish(&mut self) -> Result<Vec<RecordBatch>, ArrowError> {
        match self {
            PartTable::Events(t) => Ok(vec![t.finish()?]),
            PartTable::Schema(t) => t.finish(),
        }
    }
}

/// An open part file.
enum PartWriter {
    Parquet(ArrowWriter<BufWriter<File>>, SchemaRef),
    Ipc(FileWriter<BufWriter<File>>, SchemaRef),
}

impl PartWriter {
    fn schema(&self) -> SchemaRef {
        match self {
            PartWriter::Parquet(_, schema) | PartWriter::Ipc(_, schema) => Arc::clone(schema),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), ExportError> {
        match self {
            PartWriter::Parquet(w, _) => {
                w.write(batch)?;
                // One row group per write: no codec state is kept between writes.
                w.flush()?;
            }
            PartWriter::Ipc(w, _) => w.write(batch)?,
        }
        Ok(())
    }

    fn close(self, path: &Path) -> Result<(), ExportError> {
        match self {
            PartWriter::Parquet(w, _) => {
                w.close()?;
            }
            PartWriter::Ipc(mut w, _) => {
                w.finish()?;
                w.into_inner()?.flush().map_err(io(path))?;
            }
        }
        Ok(())
    }
}

impl Partitions {
    fn new(root: &Path, per_schema: Option<Vec<Field>>, ipc: bool) -> Partitions {
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        Partitions {
            root: root.to_path_buf(),
            recording: "events".into(),
            open: SchemaIndex::new(per_schema.is_some()),
            per_schema,
            ipc,
            properties,
            pushed: 0,
        }
    }

    fn push(&mut self, event: &EtwEvent) -> Result<(), ExportError> {
        let (root, recording, per_schema) = (&self.root, &self.recording, &self.per_schema);
        let partition = self.open.entry(event, |key| {
            let mut dir = root
                .join(format!("provider={}", hive_escape(&key.provider)))
                .join(format!("event={}", hive_escape(&key.event)));
            // No room reserved: a trace has hundreds of partitions, most small.
            let table = match per_schema {
                Some(header) => {
                    dir = dir.join(format!("version={}", key.version));
                    PartTable::Schema(SchemaTable::new(key.clone(), header))
                }
                None => PartTable::Events(TableBuilder::new(&Field::ALL, 0)),
            };
            Partition {
                table,
                stem: dir.join(format!("part-{recording}")),
                parts: 0,
                writer: None,
            }
        });
        partition.table.push(event);
        if full(&partition.table) {
            partition.write(&self.properties, self.ipc)?;
        }
        self.pushed += 1;
        if self.pushed.is_multiple_of(1024) && self.buffered() >= BUFFER_BYTES {
            self.write_largest()?;
        }
        Ok(())
    }

    fn buffered(&self) -> usize {
        self.open.values().map(|p| p.table.content_bytes()).sum()
    }

    fn write_largest(&mut self) -> Result<(), ExportError> {
        if let Some(largest) = self
            .open
            .values_mut()
            .max_by_key(|p| p.table.content_bytes())
        {
            largest.write(&self.properties, self.ipc)?;
        }
        Ok(())
    }

    /// Writes and closes every part file (at the end of a recording).
    fn flush_all(&mut self) -> Result<(), ExportError> {
        for (_, mut partition) in self.open.drain() {
            partition.write(&self.properties, self.ipc)?;
            partition.close()?;
        }
        Ok(())
    }
}

impl Partition {
    /// Writes the buffered rows: one row group (or IPC batch) per batch.
    fn write(&mut self, properties: &WriterProperties, ipc: bool) -> Result<(), ExportError> {
        if self.table.rows() == 0 {
            return Ok(());
        }
        let batches = self.table.finish()?;
        self.write_batches(batches, properties, ipc)
    }

    /// Writes batches to the open part file, or to a new one when their
    /// schema is not the open file's.
    fn write_batches(
        &mut self,
        batches: Vec<RecordBatch>,
        properties: &WriterProperties,
        ipc: bool,
    ) -> Result<(), ExportError> {
        for batch in batches {
            if self
                .writer
                .as_ref()
                .is_some_and(|w| w.schema() != batch.schema())
            {
                self.close()?;
            }
            if self.writer.is_none() {
                self.writer = Some(self.open_part(batch.schema(), properties, ipc)?);
            }
            if let Some(writer) = &mut self.writer {
                writer.write(&batch)?;
            }
        }
        Ok(())
    }

    fn path(&self, ipc: bool) -> PathBuf {
        let mut name = self.stem.clone().into_os_string();
        if self.parts > 0 {
            name.push(format!("-{}", self.parts));
        }
        name.push(if ipc { ".arrow" } else { ".parquet" });
        PathBuf::from(name)
    }

    fn open_part(
        &mut self,
        schema: SchemaRef,
        properties: &WriterProperties,
        ipc: bool,
    ) -> Result<PartWriter, ExportError> {
        let file = create(&self.path(ipc))?;
        self.parts += 1;
        Ok(if ipc {
            PartWriter::Ipc(FileWriter::try_new(file, &schema)?, schema)
        } else {
            let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties.clone()))?;
            PartWriter::Parquet(writer, schema)
        })
    }

    fn close(&mut self) -> Result<(), ExportError> {
        match self.writer.take() {
            Some(writer) => writer.close(&self.stem),
            None => Ok(()),
        }
    }
}

/// A hive partition value as a folder name: letters, digits and `_.-~` kept,
/// every other byte as `%XX` (`Process/Start` is `Process%2FStart`), as
/// DuckDB and Spark write and read them.
pub fn hive_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

/// A recording's name as part of a file name.
fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "events".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_change_starts_a_new_part_file() {
        use arrow_array::{ArrayRef, Int64Array, StringArray};
        use arrow_schema::{DataType, Field as ArrowField, Schema};

        let dir = std::env::temp_dir().join(format!("pyetwkit-parts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let batch = |ty: DataType, array: ArrayRef| {
            let schema = Schema::new(vec![ArrowField::new("Value", ty, true)]);
            RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap()
        };
        let ints = batch(DataType::Int64, Arc::new(Int64Array::from(vec![1, 2])));
        let text = batch(
            DataType::Utf8,
            Arc::new(StringArray::from(vec!["3", "\"x\""])),
        );
        let properties = WriterProperties::builder().build();
        for ipc in [false, true] {
            let mut partition = Partition {
                table: PartTable::Events(TableBuilder::new(&[Field::EventId], 0)),
                stem: dir.join(format!("ipc={ipc}")).join("part-rec"),
                parts: 0,
                writer: None,
            };
            partition
                .write_batches(vec![ints.clone(), ints.clone()], &properties, ipc)
                .unwrap();
            partition
                .write_batches(vec![text.clone()], &properties, ipc)
                .unwrap();
            partition.close().unwrap();
            let ext = if ipc { "arrow" } else { "parquet" };
            let mut files: Vec<_> = fs::read_dir(dir.join(format!("ipc={ipc}")))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            files.sort();
            assert_eq!(
                files,
                vec![format!("part-rec-1.{ext}"), format!("part-rec.{ext}")]
            );
            let path = |name: &str| dir.join(format!("ipc={ipc}")).join(name);
            let rows = |name: String| -> (usize, DataType) {
                let file = File::open(path(&name)).unwrap();
                let batches: Vec<RecordBatch> = if ipc {
                    arrow_ipc::reader::FileReader::try_new(file, None)
                        .unwrap()
                        .map(Result::unwrap)
                        .collect()
                } else {
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .unwrap()
                        .build()
                        .unwrap()
                        .map(Result::unwrap)
                        .collect()
                };
                let ty = batches[0].schema().field(0).data_type().clone();
                (batches.iter().map(RecordBatch::num_rows).sum(), ty)
            };
            assert_eq!(rows(format!("part-rec.{ext}")), (4, DataType::Int64));
            assert_eq!(rows(format!("part-rec-1.{ext}")), (2, DataType::Utf8));
        }
    }

    #[test]
    fn hive_values_escape_separators_and_keep_the_rest() {
        assert_eq!(hive_escape("Process/Start"), "Process%2FStart");
        assert_eq!(
            hive_escape("Microsoft-Windows-Kernel-Process"),
            "Microsoft-Windows-Kernel-Process"
        );
        assert_eq!(hive_escape("a b=c"), "a%20b%3Dc");
        assert_eq!(hive_escape("é"), "%C3%A9");
        assert_eq!(hive_escape(""), "%00");
        assert_eq!(sanitize("trace 1.etl"), "trace_1.etl");
    }
}
