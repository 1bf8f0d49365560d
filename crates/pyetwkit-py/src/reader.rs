//! `EtlReader` and `LogfileHeader` for Python. The file is read, framed and
//! staged on a thread of its own (`ReadAhead`), a batch of events ahead of
//! Python's loop; waiting for it releases the GIL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use pyetwkit_core::etl::{EtlReader, LogfileHeader};
use pyetwkit_core::filetime_to_iso8601;
use pyetwkit_core::stages::read_ahead::{Next, ReadAhead};
use pyetwkit_core::stages::schemas::RegistryStats;
use pyetwkit_core::stages::{self, StagedEvents};

use crate::event::PyEtwEvent;
use crate::exceptions::to_py_err;
use crate::manifest::PyManifest;

#[pyclass(module = "pyetwkit._core", name = "EtlReader")]
pub struct PyEtlReader {
    /// The file and the chain of stages its events go through, read ahead on
    /// a thread while Python handles the events before.
    inner: Option<ReadAhead>,
    header: Py<PyLogfileHeader>,
    path: PathBuf,
    file_size: u64,
    /// A fault found while filling a batch, raised on the next call.
    pending: Option<PyErr>,
    /// The schema counters, kept when the reader is released.
    schema_stats: RegistryStats,
    /// How it was opened: the Arrow streams open the file again the same way.
    open: crate::arrow::OpenArgs,
}

impl PyEtlReader {
    /// Releases the file, keeping what is still asked about afterwards.
    fn retire(&mut self) {
        if let Some(mut ahead) = self.inner.take() {
            ahead.close();
            self.schema_stats = ahead.progress().schema_stats;
        }
    }

    #[inline]
    fn next_event(&mut self, py: Python<'_>) -> PyResult<Option<PyEtwEvent>> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let Some(ahead) = self.inner.as_mut() else {
            return Ok(None);
        };
        loop {
            match ahead.next_ready() {
                Next::Event(ev) => return Ok(Some(PyEtwEvent::new(ev))),
                Next::Pending => {
                    // Waiting needs no GIL; Ctrl-C is seen between waits.
                    py.detach(|| ahead.wait(SIGNAL_CHECK));
                    py.check_signals()?;
                }
                Next::End => {
                    self.retire();
                    return Ok(None);
                }
                Next::Failed(e) => {
                    self.retire();
                    return Err(to_py_err(e));
                }
            }
        }
    }
}

/// The longest wait for the reading thread between two looks at Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

#[pymethods]
impl PyEtlReader {
    /// Opens `path`; events the `manifests` describe are decoded with them, and
    /// only events that pass `filter_json` (a compiled filter spec) come out.
    #[new]
    #[pyo3(signature = (path, manifests = Vec::new(), prescan_processes = false, filter_json = None, prescan_schemas = false, rules = None, keep_unmatched = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        manifests: Vec<PyRef<'_, PyManifest>>,
        prescan_processes: bool,
        filter_json: Option<&str>,
        prescan_schemas: bool,
        rules: Option<PyRef<'_, crate::sigma::PyRuleSet>>,
        keep_unmatched: bool,
    ) -> PyResult<Self> {
        let open = crate::arrow::OpenArgs {
            path: path.clone(),
            manifests: manifests.iter().map(|m| m.inner.clone()).collect(),
            filter_json: filter_json.map(str::to_string),
            prescan: stages::Prescan {
                processes: prescan_processes,
                schemas: prescan_schemas,
            },
            rules: rules.map(|r| Arc::clone(&r.inner)),
            keep_unmatched,
        };
        let (reader, stages) = py.detach(|| open.open()).map_err(to_py_err)?;
        let header = Py::new(py, PyLogfileHeader(reader.header().clone()))?;
        let file_size = reader.file_len();
        let ahead = ReadAhead::new(StagedEvents::new(reader, stages));
        Ok(PyEtlReader {
            open,
            file_size,
            inner: Some(ahead),
            header,
            path,
            pending: None,
            schema_stats: RegistryStats::default(),
        })
    }

    /// The file's events table as Arrow record batches (`__arrow_c_stream__`):
    /// the file is read again from its start, with the same options.
    #[pyo3(signature = (columns = None, batch_size = 65_536))]
    fn arrow_stream(
        &self,
        columns: Option<Vec<String>>,
        batch_size: usize,
    ) -> PyResult<crate::arrow::PyArrowStream> {
        crate::arrow::PyArrowStream::new(self.open.clone(), columns, batch_size)
    }

    /// Every schema's table, typed (`to_arrow(per_schema=True)`): a list of
    /// `(provider, event, version, table)`, in first-seen order; the file is
    /// read again from its start, with the same options.
    #[pyo3(signature = (columns = None))]
    fn arrow_tables(
        &self,
        py: Python<'_>,
        columns: Option<Vec<String>>,
    ) -> PyResult<Vec<(String, String, u16, crate::arrow::PyArrowTable)>> {
        crate::arrow::schema_tables(py, &self.open, columns)
    }

    #[getter]
    fn header(&self, py: Python<'_>) -> Py<PyLogfileHeader> {
        self.header.clone_ref(py)
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    #[getter]
    fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Bytes of the file consumed so far; equals `file_size` once done.
    #[getter]
    fn bytes_read(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(self.file_size, |a| a.progress().bytes_read)
    }

    /// Where the reader's schemas came from: counts of event schemas from the
    /// manifests given, from metadata a merged trace embeds, from EventSource
    /// manifests in the trace, value maps from metadata, and metadata events
    /// that could not be used.
    #[getter]
    fn schema_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self
            .inner
            .as_ref()
            .map_or(self.schema_stats, |a| a.progress().schema_stats);
        let d = PyDict::new(py);
        d.set_item("from_manifests", s.from_manifests)?;
        d.set_item("from_metadata", s.from_metadata)?;
        d.set_item("from_event_sources", s.from_event_sources)?;
        d.set_item("maps_from_metadata", s.maps_from_metadata)?;
        d.set_item("metadata_not_understood", s.metadata_not_understood)?;
        Ok(d)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Releases the file; iteration then ends.
    fn close(&mut self) {
        self.retire();
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyEtwEvent>>> {
        // Straight into the Python object: the event is moved once.
        match self.next_event(py)? {
            Some(ev) => Ok(Some(Bound::new(py, ev)?)),
            None => Ok(None),
        }
    }

    /// Up to `n` events; an empty list at the end. A format error is raised on
    /// the call after the one that returned the events before it.
    fn next_batch(&mut self, py: Python<'_>, n: usize) -> PyResult<Vec<PyEtwEvent>> {
        let mut out = Vec::with_capacity(n.min(4096));
        while out.len() < n {
            match self.next_event(py) {
                Ok(Some(ev)) => out.push(ev),
                Ok(None) => break,
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    // Deliver what came before the fault first.
                    self.pending = Some(e);
                    break;
                }
            }
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!(
            "<EtlReader {:?} {}/{} bytes read>",
            self.path.display().to_string(),
            self.bytes_read(),
            self.file_size
        )
    }
}

#[pyclass(module = "pyetwkit._core", name = "LogfileHeader", frozen)]
pub struct PyLogfileHeader(pub LogfileHeader);

#[pymethods]
impl PyLogfileHeader {
    #[getter]
    fn logger_name(&self) -> &str {
        &self.0.logger_name
    }
    #[getter]
    fn log_file_name(&self) -> &str {
        &self.0.log_file_name
    }
    #[getter]
    fn os_version(&self) -> (u8, u8) {
        (self.0.os_major, self.0.os_minor)
    }
    #[getter]
    fn os_build(&self) -> u32 {
        self.0.os_build
    }
    #[getter]
    fn cpu_count(&self) -> u32 {
        self.0.cpu_count
    }
    #[getter]
    fn pointer_size(&self) -> u32 {
        self.0.pointer_size
    }
    #[getter]
    fn events_lost(&self) -> u32 {
        self.0.events_lost
    }
    #[getter]
    fn buffers_lost(&self) -> u32 {
        self.0.buffers_lost
    }
    #[getter]
    fn buffers_written(&self) -> u32 {
        self.0.buffers_written
    }
    #[getter]
    fn buffer_size(&self) -> u32 {
        self.0.buffer_size
    }
    #[getter]
    fn log_file_mode(&self) -> u32 {
        self.0.log_file_mode
    }
    #[getter]
    fn compressed(&self) -> bool {
        self.0.is_compressed()
    }
    #[getter]
    fn clock_type(&self) -> &'static str {
        self.0.clock_type.as_str()
    }
    #[getter]
    fn perf_freq(&self) -> i64 {
        self.0.perf_freq
    }
    #[getter]
    fn cpu_speed_mhz(&self) -> u32 {
        self.0.cpu_speed_mhz
    }
    #[getter]
    fn start_filetime(&self) -> i64 {
        self.0.start_time
    }
    #[getter]
    fn end_filetime(&self) -> i64 {
        self.0.end_time
    }
    #[getter]
    fn boot_filetime(&self) -> i64 {
        self.0.boot_time
    }
    #[getter]
    fn start_time(&self) -> String {
        filetime_to_iso8601(self.0.start_time)
    }
    #[getter]
    fn end_time(&self) -> String {
        filetime_to_iso8601(self.0.end_time)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("logger_name", self.logger_name())?;
        d.set_item("log_file_name", self.log_file_name())?;
        d.set_item("os_version", self.os_version())?;
        d.set_item("os_build", self.0.os_build)?;
        d.set_item("cpu_count", self.0.cpu_count)?;
        d.set_item("pointer_size", self.0.pointer_size)?;
        d.set_item("events_lost", self.0.events_lost)?;
        d.set_item("buffers_lost", self.0.buffers_lost)?;
        d.set_item("buffers_written", self.0.buffers_written)?;
        d.set_item("buffer_size", self.0.buffer_size)?;
        d.set_item("log_file_mode", self.0.log_file_mode)?;
        d.set_item("compressed", self.compressed())?;
        d.set_item("clock_type", self.clock_type())?;
        d.set_item("perf_freq", self.0.perf_freq)?;
        d.set_item("cpu_speed_mhz", self.0.cpu_speed_mhz)?;
        d.set_item("start_time", self.start_time())?;
        d.set_item("end_time", self.end_time())?;
        d.set_item("start_filetime", self.0.start_time)?;
        d.set_item("end_filetime", self.0.end_time)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let h = &self.0;
        format!(
            "<LogfileHeader {:?} Windows {}.{} build {} {} CPUs {}-bit start={}>",
            h.logger_name,
            h.os_major,
            h.os_minor,
            h.os_build,
            h.cpu_count,
            h.pointer_size * 8,
            filetime_to_iso8601(h.start_time)
        )
    }
}

/// `(records, buffers, [(header type, count)])`.
type Counts = (u64, u64, Vec<(&'static str, u64)>);

/// Counts records by header type in Rust alone, with the GIL released:
/// `(records, buffers, {header type: count})`.
#[pyfunction]
pub fn count_records(py: Python<'_>, path: PathBuf) -> PyResult<Counts> {
    let counts = py
        .detach(|| EtlReader::open(&path).and_then(|r| r.count_records()))
        .map_err(to_py_err)?;
    Ok((counts.records, counts.buffers, counts.by_header_type()))
}

/// The bytes of the sample recording pyetwkit ships (see `pyetwkit.sample_etl_path`).
#[pyfunction]
pub fn sample_etl_bytes(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyBytes>> {
    let bytes = pyetwkit_core::build_sample()
        .map_err(|e| crate::exceptions::EtwError::new_err(e.to_string()))?;
    Ok(pyo3::types::PyBytes::new(py, &bytes))
}
