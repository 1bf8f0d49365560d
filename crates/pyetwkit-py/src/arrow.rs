//! `pyetwkit._core.ArrowStream`: a recording's events table as Arrow record
//! batches, handed over through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`), so pyarrow, polars and DuckDB take them without a
//! copy. The batches are built by pyetwkit-arrow.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_schema::ffi::FFI_ArrowSchema;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use pyetwkit_arrow::{event_schema, BatchOptions, EventBatches};
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
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// The events table's schema.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = event_schema(&self.options.columns);
        let ffi = FFI_ArrowSchema::try_from(schema.as_ref())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyCapsule::new_with_value(py, ffi, c"arrow_schema")
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
