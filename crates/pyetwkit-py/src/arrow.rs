//! `pyetwkit._core.ArrowStream`: a recording's events table as Arrow record
//! batches, handed over through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`), so pyarrow, polars and DuckDB take them without a
//! copy. The batches are built by pyetwkit-arrow.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_schema::ffi::FFI_ArrowSchema;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::{Schema, SchemaRef};
use pyetwkit_arrow::{
    default_header, event_schema, BatchOptions, EventBatches, Exporter, Format, SchemaTables,
};
use pyetwkit_core::decode::fields::Field;
use pyetwkit_core::decode::manifest::Manifest;
use pyetwkit_core::etl::EtlReader;
use pyetwkit_core::stages::{self, StagedEvents, Stages};
use pyetwkit_sigma::RuleSet;

use crate::exceptions::to_py_err;

/// How a recording was opened, to open it again the same way.
#[derive(Clone)]
pub struct OpenArgs {
    pub path: PathBuf,
    pub manifests: Vec<Arc<Manifest>>,
    pub filter_json: Option<String>,
    pub prescan: stages::Prescan,
    pub rules: Option<Arc<RuleSet>>,
    pub keep_unmatched: bool,
}

impl OpenArgs {
    /// The reader and its chain of stages, as `open_etl` builds them.
    pub fn open(&self) -> Result<(EtlReader, Stages), pyetwkit_core::Error> {
        let (reader, stages) = stages::open_recording(
            &self.path,
            &self.manifests,
            self.filter_json.as_deref(),
            self.prescan,
        )?;
        let stages = crate::sigma::with_rule_set(stages, self.rules.clone(), self.keep_unmatched);
        Ok((reader, stages))
    }
}

#[pyclass(module = "pyetwkit._core", name = "ArrowStream", frozen)]
pub struct PyArrowStream {
    open: OpenArgs,
    options: BatchOptions,
}

impl PyArrowStream {
    pub fn new(
        open: OpenArgs,
        columns: Option<Vec<String>>,
        batch_size: usize,
    ) -> PyResult<PyArrowStream> {
        if !(1..=1 << 24).contains(&batch_size) {
            return Err(PyValueError::new_err(format!(
                "batch_size must be between 1 and {}, not {batch_size}",
                1 << 24
            )));
        }
        let mut options = BatchOptions {
            batch_rows: batch_size,
            ..BatchOptions::default()
        };
        if let Some(names) = columns {
            options = options
                .with_columns(&names)
                .map_err(PyValueError::new_err)?;
        }
        Ok(PyArrowStream { open, options })
    }
}

#[pymethods]
impl PyArrowStream {
    /// A new stream of the events table: the recording is read from its start
    /// each time, so consumers may ask more than once. A schema a consumer
    /// requests is not cast to: the table keeps its own types.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let (reader, stages) = py.detach(|| self.open.open()).map_err(to_py_err)?;
        let batches = EventBatches::new(StagedEvents::new(reader, stages), self.options.clone());
        stream_capsule(py, Box::new(batches))
    }

    /// The events table's schema.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &event_schema(&self.options.columns))
    }

    /// The column names, in order.
    #[getter]
    fn columns(&self) -> Vec<&'static str> {
        self.options.columns.iter().map(|f| f.name()).collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ArrowStream {:?} {} columns, batches of {} rows>",
            self.open.path,
            self.options.columns.len(),
            self.options.batch_rows
        )
    }
}

/// `pyetwkit._core.ArrowTable`: one finished table (a schema's, in
/// per-schema mode), held in memory and handed over through the Arrow
/// PyCapsule interface as often as asked.
#[pyclass(module = "pyetwkit._core", name = "ArrowTable", frozen)]
pub struct PyArrowTable {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl PyArrowTable {
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = self.batches.clone().into_iter().map(Ok);
        let reader = RecordBatchIterator::new(batches, Arc::clone(&self.schema));
        stream_capsule(py, Box::new(reader))
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn __repr__(&self) -> String {
        format!(
            "<ArrowTable {} rows, {} columns>",
            self.num_rows(),
            self.schema.fields().len()
        )
    }
}

/// A stream of record batches as the Arrow PyCapsule interface hands it over:
/// the consumer takes the stream; an unconsumed capsule releases it.
fn stream_capsule<'py>(
    py: Python<'py>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let stream = FFI_ArrowArrayStream::new(reader);
    PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
}

fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi =
        FFI_ArrowSchema::try_from(schema).map_err(|e| PyValueError::new_err(e.to_string()))?;
    PyCapsule::new_with_value(py, ffi, c"arrow_schema")
}

/// The header columns of per-schema tables: `columns` without `properties`
/// (every property has a column of its own), or the default set.
fn schema_header(columns: Option<Vec<String>>) -> PyResult<Vec<Field>> {
    let Some(names) = columns else {
        return Ok(default_header());
    };
    let options = BatchOptions::default()
        .with_columns(&names)
        .map_err(PyValueError::new_err)?;
    let header: Vec<Field> = options
        .columns
        .into_iter()
        .filter(|f| *f != Field::Properties)
        .collect();
    if header.is_empty() {
        return Err(PyValueError::new_err(
            "columns: per-schema tables need at least one column besides properties",
        ));
    }
    Ok(header)
}

/// Every schema's table of a recording: `(provider, event, version, table)`
/// in first-seen order. Read in steps, with Ctrl-C seen between them.
pub fn schema_tables(
    py: Python<'_>,
    open: &OpenArgs,
    columns: Option<Vec<String>>,
) -> PyResult<Vec<(String, String, u16, PyArrowTable)>> {
    let header = schema_header(columns)?;
    let (reader, stages) = py.detach(|| open.open()).map_err(to_py_err)?;
    let mut events = StagedEvents::new(reader, stages);
    let mut tables = SchemaTables::new(&header);
    loop {
        let more = py.detach(|| {
            for _ in 0..STEP_EVENTS {
                match events.next() {
                    Some(Ok(event)) => tables.push(&event),
                    Some(Err(e)) => return Err(e),
                    None => return Ok(false),
                }
            }
            Ok(true)
        });
        match more.map_err(to_py_err)? {
            true => py.check_signals()?,
            false => break,
        }
    }
    let tables = py
        .detach(|| tables.finish())
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(tables
        .into_iter()
        .map(|(name, batches)| {
            let schema = batches
                .first()
                .map_or_else(|| Arc::new(Schema::empty()), RecordBatch::schema);
            let table = PyArrowTable { schema, batches };
            (name.provider, name.event, name.version, table)
        })
        .collect())
}

/// Events read between two looks at Ctrl-C.
const STEP_EVENTS: usize = 65_536;

/// `pyetwkit._core.Converter`: recordings written to Parquet, Arrow IPC, JSON
/// Lines or CSV, a step at a time, so that Python shows progress and Ctrl-C
/// is seen between steps.
#[pyclass(module = "pyetwkit._core", name = "Converter", frozen)]
pub struct PyConverter {
    // A Mutex: the exporter's writers are Send but not Sync.
    state: std::sync::Mutex<Conversion>,
}

struct Conversion {
    inputs: Vec<OpenArgs>,
    /// The events of the input being read.
    current: Option<StagedEvents>,
    next_input: usize,
    exporter: Option<Exporter>,
    /// Bytes of the inputs finished, and of them all.
    bytes_before: u64,
    total_bytes: u64,
    /// Rows written, kept once the exporter is finished.
    rows: u64,
}

fn export_err(e: pyetwkit_arrow::ExportError) -> PyErr {
    match e {
        pyetwkit_arrow::ExportError::Io { .. } => PyOSError::new_err(e.to_string()),
        pyetwkit_arrow::ExportError::Options(_) => PyValueError::new_err(e.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

#[pymethods]
impl PyConverter {
    #[new]
    #[pyo3(signature = (paths, out, format, manifests = Vec::new(), filter_json = None, prescan_processes = false, prescan_schemas = false, per_schema = false, columns = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        paths: Vec<PathBuf>,
        out: PathBuf,
        format: &str,
        manifests: Vec<PyRef<'_, crate::manifest::PyManifest>>,
        filter_json: Option<String>,
        prescan_processes: bool,
        prescan_schemas: bool,
        per_schema: bool,
        columns: Option<Vec<String>>,
    ) -> PyResult<PyConverter> {
        let format = Format::parse(format).ok_or_else(|| {
            PyValueError::new_err(format!(
                "format must be parquet, arrow, jsonl or csv, not {format:?}"
            ))
        })?;
        if paths.is_empty() {
            return Err(PyValueError::new_err("give at least one recording"));
        }
        if let Some(json) = &filter_json {
            pyetwkit_core::stages::filter::Filter::from_json(json)
                .map_err(|e| to_py_err(pyetwkit_core::Error::from(e)))?;
        }
        let manifests: Vec<_> = manifests.iter().map(|m| m.inner.clone()).collect();
        let mut total_bytes = 0;
        for path in &paths {
            total_bytes += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        }
        let inputs = paths
            .into_iter()
            .map(|path| OpenArgs {
                path,
                manifests: manifests.clone(),
                filter_json: filter_json.clone(),
                prescan: stages::Prescan {
                    processes: prescan_processes,
                    schemas: prescan_schemas,
                },
                rules: None,
                keep_unmatched: false,
            })
            .collect();
        let header = match per_schema {
            true => Some(schema_header(columns)?),
            false if columns.is_some() => {
                return Err(PyValueError::new_err(
                    "columns are chosen for per-schema conversions only",
                ))
            }
            false => None,
        };
        let exporter = Exporter::create(format, &out, header).map_err(export_err)?;
        Ok(PyConverter {
            state: std::sync::Mutex::new(Conversion {
                inputs,
                current: None,
                next_input: 0,
                exporter: Some(exporter),
                bytes_before: 0,
                total_bytes,
                rows: 0,
            }),
        })
    }

    /// Writes up to `max_events` more events: `(bytes read, bytes in all,
    /// rows written, done)`. A corrupt input raises after its events before
    /// the fault were written; the files written so far are closed.
    /// Closes what was written so far (Parquet footers included), so that an
    /// interrupted conversion leaves readable files. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.current = None;
            match state.exporter.take() {
                Some(exporter) => exporter.finish().map(|_| ()).map_err(export_err),
                None => Ok(()),
            }
        })
    }

    fn step(&self, py: Python<'_>, max_events: usize) -> PyResult<(u64, u64, u64, bool)> {
        py.detach(|| {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.step(max_events)
        })
    }
}

impl Conversion {
    fn step(&mut self, max_events: usize) -> PyResult<(u64, u64, u64, bool)> {
        let result = self.advance(max_events);
        match result {
            Ok(done) => {
                let rows = self.exporter.as_ref().map_or(self.rows, Exporter::rows);
                self.rows = rows;
                if done {
                    if let Some(exporter) = self.exporter.take() {
                        exporter.finish().map_err(export_err)?;
                    }
                }
                let read =
                    self.bytes_before + self.current.as_ref().map_or(0, StagedEvents::bytes_read);
                Ok((read, self.total_bytes, rows, done))
            }
            Err(e) => {
                self.current = None;
                if let Some(exporter) = self.exporter.take() {
                    // What was written before the fault stays readable.
                    let _ = exporter.finish();
                }
                Err(e)
            }
        }
    }

    /// Whether every input is done.
    fn advance(&mut self, max_events: usize) -> PyResult<bool> {
        let Some(exporter) = self.exporter.as_mut() else {
            return Ok(true);
        };
        let mut budget = max_events.max(1);
        while budget > 0 {
            if self.current.is_none() {
                let Some(args) = self.inputs.get(self.next_input) else {
                    return Ok(true);
                };
                let (reader, stages) = args.open().map_err(to_py_err)?;
                let stem = args
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                exporter
                    .begin(&format!("{:03}-{stem}", self.next_input))
                    .map_err(export_err)?;
                self.current = Some(StagedEvents::new(reader, stages));
                self.next_input += 1;
            }
            let Some(events) = self.current.as_mut() else {
                continue;
            };
            match events.next() {
                Some(Ok(event)) => {
                    exporter.write(&event).map_err(export_err)?;
                    budget -= 1;
                }
                Some(Err(e)) => return Err(to_py_err(e)),
                None => {
                    self.bytes_before += events.file_len();
                    self.current = None;
                }
            }
        }
        Ok(false)
    }
}
