//! `EtwEvent` for Python: a frozen wrapper whose getters convert on access.

use std::net::IpAddr;
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use pyetwkit_core::decode::fields::Field;

use pyetwkit_core::EtwEvent;
use pyetwkit_core::{Decoded, Value};

use crate::names::{keyed_dict, py_name};

#[pyclass(module = "pyetwkit._core", name = "EtwEvent", frozen, eq)]
pub struct PyEtwEvent {
    pub event: EtwEvent,
    /// Decoded on first access to `properties` (lazy: most events never are);
    /// boxed so that undecoded events stay small.
    decoded: OnceLock<Option<Box<Decoded>>>,
}

impl PyEtwEvent {
    pub fn new(event: EtwEvent) -> PyEtwEvent {
        PyEtwEvent {
            event,
            decoded: OnceLock::new(),
        }
    }

    pub fn decoded(&self) -> Option<&Decoded> {
        self.decoded
            .get_or_init(|| self.event.decode().map(Box::new))
            .as_deref()
    }
}

impl PartialEq for PyEtwEvent {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event
    }
}

// Python callables decoded values are made with, looked up once.
static UUID: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static IPV4: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static IPV6: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DATETIME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static UTC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A decoded value as a Python object: int, float, str, bool, None, bytes,
/// uuid.UUID, ipaddress objects, datetime (UTC for FILETIME), list, dict.
pub fn value_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::I64(v) => v.into_pyobject(py)?.into_any(),
        Value::U64(v) => v.into_pyobject(py)?.into_any(),
        Value::F64(v) => v.into_pyobject(py)?.into_any(),
        Value::Str(s) | Value::Sid(s) => s.into_pyobject(py)?.into_any(),
        // UUID(int=...) and IPv4Address(int) skip parsing text: several times faster.
        Value::Guid(g) => {
            let none = py.None();
            UUID.import(py, "uuid", "UUID")?
                .call1((&none, &none, &none, &none, g.to_u128()))?
        }
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::Ip(IpAddr::V4(ip)) => IPV4
            .import(py, "ipaddress", "IPv4Address")?
            .call1((u32::from(*ip),))?,
        Value::Ip(IpAddr::V6(ip)) => IPV6
            .import(py, "ipaddress", "IPv6Address")?
            .call1((u128::from(*ip),))?,
        Value::FileTime(ft) => {
            let (y, mo, d, h, mi, s, us) = pyetwkit_core::filetime_parts(*ft);
            if !(1..=9999).contains(&y) {
                // A FILETIME reaches year 30828; datetime stops at 9999: keep the text.
                let text = pyetwkit_core::filetime_to_iso8601(*ft);
                return Ok(text.into_pyobject(py)?.into_any());
            }
            // datetime.UTC is Python 3.11+: timezone.utc works on 3.10 too.
            let utc = UTC
                .get_or_try_init(py, || {
                    PyResult::Ok(
                        py.import("datetime")?
                            .getattr("timezone")?
                            .getattr("utc")?
                            .unbind(),
                    )
                })?
                .bind(py);
            DATETIME
                .import(py, "datetime", "datetime")?
                .call1((y, mo, d, h, mi, s, us, utc))?
        }
        Value::SystemTime(t) => {
            let datetime = DATETIME.import(py, "datetime", "datetime")?;
            // Local or UTC is not recorded with a SYSTEMTIME: a naive datetime, or
            // the raw fields as text when they are not a valid date.
            match datetime.call1((t[0], t[1], t[3], t[4], t[5], t[6], u32::from(t[7]) * 1000)) {
                Ok(dt) => dt,
                Err(_) => pyetwkit_core::systemtime_iso(t)
                    .into_pyobject(py)?
                    .into_any(),
            }
        }
        Value::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Struct(fields) => {
            let dict = PyDict::new(py);
            for (k, v) in fields {
                dict.set_item(py_name(py, k), value_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

fn guid_str(g: Option<pyetwkit_core::Guid>) -> Option<String> {
    g.map(|g| g.to_string())
}

#[pymethods]
impl PyEtwEvent {
    #[getter]
    fn kind(&self) -> &'static str {
        self.event.kind.as_str()
    }
    #[getter]
    fn header_type(&self) -> Option<u8> {
        self.event.header_type
    }
    /// The pointer size of the process that logged the event: 4 or 8.
    #[getter]
    fn pointer_size(&self) -> u8 {
        self.event.pointer_size
    }
    /// One `str` per provider GUID, shared by its events (made once).
    #[getter]
    fn provider_id<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        crate::names::py_guid(py, self.event.provider_id)
    }
    #[getter]
    fn provider_name(&self) -> Option<String> {
        self.event.provider_name().map(|s| s.into_owned())
    }
    #[getter]
    fn event_id(&self) -> u16 {
        self.event.event_id
    }
    #[getter]
    fn version(&self) -> u16 {
        self.event.version
    }
    #[getter]
    fn opcode(&self) -> u8 {
        self.event.opcode
    }
    #[getter]
    fn level(&self) -> u8 {
        self.event.level
    }
    #[getter]
    fn task(&self) -> u16 {
        self.event.task
    }
    #[getter]
    fn keywords(&self) -> u64 {
        self.event.keywords
    }
    #[getter]
    fn channel(&self) -> u8 {
        self.event.channel
    }
    #[getter]
    fn pid(&self) -> Option<u32> {
        self.event.pid
    }
    #[getter]
    fn tid(&self) -> Option<u32> {
        self.event.tid
    }
    #[getter]
    fn processor(&self) -> Option<u16> {
        self.event.processor
    }
    /// Written straight into the new `str` (no intermediate String).
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        let mut buf = pyetwkit_core::IsoBuf::default();
        PyString::new(
            py,
            pyetwkit_core::write_iso8601(self.event.filetime, &mut buf),
        )
    }
    #[getter]
    fn filetime(&self) -> i64 {
        self.event.filetime
    }
    #[getter]
    fn name(&self) -> Option<String> {
        // The same name every decoder gives (and `to_json` shows), without decoding.
        self.event.name().map(|s| s.into_owned())
    }
    /// Decoded payload fields, name → value; decoded on first access.
    #[getter]
    fn properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let Some(decoded) = self.decoded() else {
            return Ok(PyDict::new(py));
        };
        let (dict, keys) = keyed_dict(py, &decoded.properties)?;
        for (k, (_, v)) in keys.iter().zip(&decoded.properties) {
            dict.set_item(k.bind(py), value_to_py(py, v)?)?;
        }
        Ok(dict)
    }

    /// The properties as a lazy read-only mapping (measured against the dict:
    /// benches/bench_properties.py).
    #[getter]
    fn property_view(slf: &Bound<'_, Self>) -> PyResult<crate::properties::PyPropertyView> {
        crate::properties::PyPropertyView::new(slf.py(), slf.clone().unbind())
    }

    /// Whether the payload was decoded in full: `None` when no decoder knows the
    /// event, `False` when only part of it could be read safely.
    #[getter]
    fn properties_complete(&self) -> Option<bool> {
        self.decoded().map(|d| d.complete)
    }
    /// Payload bytes after the last decoded property: fields a newer provider
    /// appended (allowed for manifest events), or what a partial decode left.
    #[getter]
    fn undecoded_bytes(&self) -> Option<usize> {
        self.decoded().map(|d| d.trailing)
    }
    #[getter]
    fn user_data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.event.user_data.as_slice())
    }
    #[getter]
    fn activity_id(&self) -> Option<String> {
        guid_str(self.event.activity_id)
    }
    #[getter]
    fn related_activity_id(&self) -> Option<String> {
        guid_str(self.event.related_activity_id())
    }
    #[getter]
    fn stack(&self) -> Option<Vec<u64>> {
        self.event.stack()
    }
    #[getter]
    fn sid(&self) -> Option<String> {
        self.event.sid()
    }
    #[getter]
    fn session_id(&self) -> Option<u32> {
        self.event.session_id()
    }
    #[getter]
    fn process_start_key(&self) -> Option<u64> {
        self.event.process_start_key()
    }
    /// The image name of the event's process, from the kernel Process events
    /// read so far (rundown included); `None` when unknown.
    #[getter]
    fn process_name(&self) -> Option<&str> {
        self.event.process_name()
    }
    /// The command line of the event's process, known as `process_name` is.
    #[getter]
    fn process_command_line(&self) -> Option<&str> {
        self.event.process_command_line()
    }

    /// The Sigma matches a `rules=` stage attached (`pyetwkit.sigma.Match`),
    /// empty when none matched or no rules were given.
    #[getter]
    fn matches<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        crate::sigma::event_matches(py, &self.event)
    }
    /// When an automation's selection chose the event: its generation and,
    /// per selector that chose it, the selector's name and Sigma matches.
    #[getter]
    fn selection<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Option<crate::select::EventSelection<'py>>> {
        crate::select::event_selection(py, &self.event)
    }
    #[getter]
    fn file_offset(&self) -> Option<u64> {
        self.event.file_offset
    }
    #[getter]
    fn extended_data<'py>(&self, py: Python<'py>) -> Vec<(u16, Bound<'py, PyBytes>)> {
        self.event
            .extended_items()
            .into_iter()
            .map(|(t, d)| (t, PyBytes::new(py, d)))
            .collect()
    }

    /// The event as a dict with DESIGN.md's field names (`user_data` as bytes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for field in Field::ALL {
            d.set_item(field.name(), self.field(py, field)?)?;
        }
        Ok(d)
    }

    /// One JSON Lines object (no newline); `user_data` as lowercase hex.
    fn to_json(&self) -> String {
        self.event.to_json().to_string()
    }

    fn __repr__(&self) -> String {
        let e = &self.event;
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

impl PyEtwEvent {
    /// `field` as its attribute gives it: the one list (`Field::ALL`) behind `to_dict`.
    fn field<'py>(&self, py: Python<'py>, field: Field) -> PyResult<Bound<'py, PyAny>> {
        let e = &self.event;
        Ok(match field {
            Field::Kind => self.kind().into_pyobject(py)?.into_any(),
            Field::HeaderType => e.header_type.into_pyobject(py)?.into_any(),
            Field::ProviderId => self.provider_id(py).into_any(),
            Field::ProviderName => self.provider_name().into_pyobject(py)?.into_any(),
            Field::EventId => e.event_id.into_pyobject(py)?.into_any(),
            Field::Version => e.version.into_pyobject(py)?.into_any(),
            Field::Opcode => e.opcode.into_pyobject(py)?.into_any(),
            Field::Level => e.level.into_pyobject(py)?.into_any(),
            Field::Task => e.task.into_pyobject(py)?.into_any(),
            Field::Keywords => e.keywords.into_pyobject(py)?.into_any(),
            Field::Channel => e.channel.into_pyobject(py)?.into_any(),
            Field::Pid => e.pid.into_pyobject(py)?.into_any(),
            Field::Tid => e.tid.into_pyobject(py)?.into_any(),
            Field::Processor => e.processor.into_pyobject(py)?.into_any(),
            Field::Timestamp => self.timestamp(py).into_any(),
            Field::Filetime => e.filetime.into_pyobject(py)?.into_any(),
            Field::Name => self.name().into_pyobject(py)?.into_any(),
            Field::Properties => self.properties(py)?.into_any(),
            Field::ProcessName => e.process_name().into_pyobject(py)?.into_any(),
            Field::ProcessCommandLine => e.process_command_line().into_pyobject(py)?.into_any(),
            Field::UserData => self.user_data(py).into_any(),
            Field::ActivityId => self.activity_id().into_pyobject(py)?.into_any(),
            Field::RelatedActivityId => self.related_activity_id().into_pyobject(py)?.into_any(),
            Field::Stack => self.stack().into_pyobject(py)?.into_any(),
            Field::Sid => self.sid().into_pyobject(py)?.into_any(),
            Field::SessionId => self.session_id().into_pyobject(py)?.into_any(),
        })
    }
}
