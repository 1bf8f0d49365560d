//! `Manifest` for Python: an instrumentation manifest parsed once, then given
//! to any number of readers and sessions.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use pyetwkit_core::decode::manifest::{self, Manifest};
use pyetwkit_core::decode::payload;
use pyetwkit_core::{Guid, ParseGuidError, SchemaKey};

use crate::event::value_to_py;
use crate::exceptions::to_py_err;
use crate::names::py_name;

/// What `Manifest.decode` returns: (event name, properties, complete).
type Decoded<'py> = (Option<String>, Bound<'py, PyDict>, bool);

#[pyclass(module = "pyetwkit._core", name = "Manifest", frozen)]
pub struct PyManifest {
    pub inner: Arc<Manifest>,
    path: PathBuf,
}

#[pymethods]
impl PyManifest {
    /// Parses the manifest at `path` (`.man` or manifest XML, UTF-8 or UTF-16).
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let parsed = py.detach(|| manifest::load(&path)).map_err(to_py_err)?;
        Ok(PyManifest {
            inner: Arc::new(parsed),
            path,
        })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// (GUID, name) of each provider the manifest declares.
    #[getter]
    fn providers(&self) -> Vec<(String, String)> {
        self.inner
            .providers
            .iter()
            .map(|(g, n)| (g.to_string(), n.clone()))
            .collect()
    }

    /// How many (provider, id, version) event schemas it declares.
    #[getter]
    fn event_count(&self) -> usize {
        self.inner.schemas.len()
    }

    /// Events left out because their template could not be understood, with why.
    #[getter]
    fn skipped(&self) -> Vec<String> {
        self.inner.skipped.clone()
    }

    /// Decodes a raw payload as event (`provider`, `event_id`, `version`) of this
    /// manifest: `(name, properties, complete)`, or `None` if it declares no
    /// such event. For tools and tests that hold payload bytes without a trace.
    #[pyo3(signature = (provider, event_id, version, payload, *, pointer_size = 8))]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        provider: &str,
        event_id: u16,
        version: u8,
        payload: &[u8],
        pointer_size: usize,
    ) -> PyResult<Option<Decoded<'py>>> {
        let provider: Guid = provider
            .parse()
            .map_err(|e: ParseGuidError| PyValueError::new_err(e.to_string()))?;
        if pointer_size != 4 && pointer_size != 8 {
            return Err(PyValueError::new_err("pointer_size must be 4 or 8"));
        }
        let key = SchemaKey {
            provider,
            id: event_id,
            version,
        };
        let Some((_, schema)) = self.inner.schemas.iter().find(|(k, _)| *k == key) else {
            return Ok(None);
        };
        let decoded = payload::decode(schema, payload, pointer_size);
        let dict = PyDict::new(py);
        for (k, v) in &decoded.properties {
            dict.set_item(py_name(py, k), value_to_py(py, v)?)?;
        }
        Ok(Some((
            decoded.name.map(|n| n.to_string()),
            dict,
            decoded.complete,
        )))
    }

    fn __repr__(&self) -> String {
        format!(
            "Manifest({:?}, providers={}, events={})",
            self.path.display().to_string(),
            self.inner.providers.len(),
            self.inner.schemas.len()
        )
    }
}
