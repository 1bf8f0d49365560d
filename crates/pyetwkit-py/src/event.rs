//! `EtwEvent` for Python: a frozen wrapper whose getters convert on access.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use pyetwkit_core::EtwEvent;

#[pyclass(module = "pyetwkit._core", name = "EtwEvent", frozen, eq)]
#[derive(PartialEq)]
pub struct PyEtwEvent(pub EtwEvent);

fn guid_str(g: Option<pyetwkit_core::Guid>) -> Option<String> {
    g.map(|g| g.to_string())
}

#[pymethods]
impl PyEtwEvent {
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    #[getter]
    fn header_type(&self) -> u8 {
        self.0.header_type
    }
    #[getter]
    fn provider_id(&self) -> String {
        self.0.provider_id.to_string()
    }
    #[getter]
    fn provider_name(&self) -> Option<String> {
        self.0.provider_name().map(|s| s.into_owned())
    }
    #[getter]
    fn event_id(&self) -> u16 {
        self.0.event_id
    }
    #[getter]
    fn version(&self) -> u16 {
        self.0.version
    }
    #[getter]
    fn opcode(&self) -> u8 {
        self.0.opcode
    }
    #[getter]
    fn level(&self) -> u8 {
        self.0.level
    }
    #[getter]
    fn task(&self) -> u16 {
        self.0.task
    }
    #[getter]
    fn keywords(&self) -> u64 {
        self.0.keywords
    }
    #[getter]
    fn channel(&self) -> u8 {
        self.0.channel
    }
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.0.pid
    }
    #[getter]
    fn tid(&self) -> Option<u32> {
        self.0.tid
    }
    #[getter]
    fn processor(&self) -> Option<u16> {
        self.0.processor
    }
    #[getter]
    fn timestamp(&self) -> String {
        self.0.timestamp()
    }
    #[getter]
    fn filetime(&self) -> i64 {
        self.0.filetime
    }
    #[getter]
    fn name(&self) -> Option<String> {
        self.0.name().map(|s| s.into_owned())
    }
    #[getter]
    fn properties<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        PyDict::new(py)
    }
    #[getter]
    fn user_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.user_data.as_slice())
    }
    #[getter]
    fn activity_id(&self) -> Option<String> {
        guid_str(self.0.activity_id)
    }
    #[getter]
    fn related_activity_id(&self) -> Option<String> {
        guid_str(self.0.related_activity_id())
    }
    #[getter]
    fn stack(&self) -> Option<Vec<u64>> {
        self.0.stack()
    }
    #[getter]
    fn sid(&self) -> Option<String> {
        self.0.sid()
    }
    #[getter]
    fn session_id(&self) -> Option<u32> {
        self.0.session_id()
    }
    #[getter]
    fn process_start_key(&self) -> Option<u64> {
        self.0.process_start_key()
    }
    /// The image name of the event's process, from the kernel Process events a
    /// listener or streamer has seen; `None` when unknown (and from `open_etl`).
    #[getter]
    fn process_name(&self) -> Option<&str> {
        self.0.process_name.as_deref()
    }
    #[getter]
    fn file_offset(&self) -> u64 {
        self.0.file_offset
    }
    #[getter]
    fn extended_data<'py>(&self, py: Python<'py>) -> Vec<(u16, Bound<'py, PyBytes>)> {
        self.0
            .extended_items()
            .into_iter()
            .map(|(t, d)| (t, PyBytes::new(py, d)))
            .collect()
    }

    /// The event as a dict with DESIGN.md's field names (`user_data` as bytes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("kind", self.kind())?;
        d.set_item("header_type", self.0.header_type)?;
        d.set_item("provider_id", self.provider_id())?;
        d.set_item("provider_name", self.provider_name())?;
        d.set_item("event_id", self.0.event_id)?;
        d.set_item("version", self.0.version)?;
        d.set_item("opcode", self.0.opcode)?;
        d.set_item("level", self.0.level)?;
        d.set_item("task", self.0.task)?;
        d.set_item("keywords", self.0.keywords)?;
        d.set_item("channel", self.0.channel)?;
        d.set_item("pid", self.0.pid)?;
        d.set_item("tid", self.0.tid)?;
        d.set_item("processor", self.0.processor)?;
        d.set_item("timestamp", self.timestamp())?;
        d.set_item("filetime", self.0.filetime)?;
        d.set_item("name", self.name())?;
        d.set_item("properties", self.properties(py))?;
        d.set_item("user_data", self.user_data(py))?;
        d.set_item("activity_id", self.activity_id())?;
        d.set_item("related_activity_id", self.related_activity_id())?;
        d.set_item("stack", self.stack())?;
        d.set_item("sid", self.sid())?;
        d.set_item("session_id", self.session_id())?;
        Ok(d)
    }

    /// One JSON Lines object (no newline); `user_data` as lowercase hex.
    fn to_json(&self) -> String {
        self.0.to_json().to_string()
    }

    fn __repr__(&self) -> String {
        let e = &self.0;
        let provider = e
            .provider_name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|| e.provider_id.to_string());
        let name = e.name().map(|n| format!(" name={n:?}")).unwrap_or_default();
        let ids = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "None".into());
        format!(
            "<EtwEvent {} {provider:?} id={} opcode={}{name} pid={} tid={} {} {} bytes>",
            e.kind,
            e.event_id,
            e.opcode,
            ids(e.pid),
            ids(e.tid),
            e.timestamp(),
            e.user_data.len()
        )
    }
}
