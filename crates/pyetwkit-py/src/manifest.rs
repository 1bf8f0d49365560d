//! `Manifest` for Python: an instrumentation manifest parsed once, then given
//! to any number of readers and sessions.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;

use pyetwkit_core::decode::manifest::{self, Manifest, ManifestError as CoreManifestError};

use crate::exceptions::{io_error_to_py, ManifestError};

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
        let parsed = py.detach(|| manifest::load(&path)).map_err(|e| match e {
            CoreManifestError::Io { path, source } => io_error_to_py(source, &path),
            invalid @ CoreManifestError::Invalid { .. } => {
                ManifestError::new_err(invalid.to_string())
            }
        })?;
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

    fn __repr__(&self) -> String {
        format!(
            "Manifest({:?}, providers={}, events={})",
            self.path.display().to_string(),
            self.inner.providers.len(),
            self.inner.schemas.len()
        )
    }
}
