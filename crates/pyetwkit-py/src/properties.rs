//! `pyetwkit._core.PropertyView`: an event's decoded properties as a lazy,
//! read-only mapping. Nothing is converted until a value is read; keys are
//! the layout's shared `str`s, so a lookup is mostly a pointer comparison.

use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use pyetwkit_core::{Name, Value};

use crate::event::{value_to_py, PyEtwEvent};
use crate::names::{layout_keys, Keys};

#[pyclass(module = "pyetwkit._core", name = "PropertyView", frozen, mapping)]
pub struct PyPropertyView {
    event: Py<PyEtwEvent>,
    keys: Keys,
}

impl PyPropertyView {
    pub fn new(py: Python<'_>, event: Py<PyEtwEvent>) -> PyResult<PyPropertyView> {
        let keys = layout_keys(py, properties_of(event.get()))?;
        Ok(PyPropertyView { event, keys })
    }

    fn properties(&self) -> &[(Name, Value)] {
        properties_of(self.event.get())
    }

    /// The index of `key`: its `str` object first (the keys handed out), then its text.
    fn index(&self, key: &Bound<'_, PyAny>) -> Option<usize> {
        if let Some(i) = self.keys.iter().position(|k| k.as_ptr() == key.as_ptr()) {
            return Some(i);
        }
        let text = key.cast::<PyString>().ok()?.to_str().ok()?;
        self.properties().iter().position(|(n, _)| **n == *text)
    }

    fn value<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        value_to_py(py, &self.properties()[i].1)
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (i, key) in self.keys.iter().enumerate() {
            dict.set_item(key.bind(py), self.value(py, i)?)?;
        }
        Ok(dict)
    }
}

fn properties_of(event: &PyEtwEvent) -> &[(Name, Value)] {
    event.decoded().map_or(&[], |d| d.properties.as_slice())
}

#[pymethods]
impl PyPropertyView {
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.index(key) {
            Some(i) => self.value(py, i),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __len__(&self) -> usize {
        self.keys.len()
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        self.index(key).is_some()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let keys = PyTuple::new(py, self.keys.iter().map(|k| k.bind(py)))?;
        Ok(keys.try_iter()?.into_any())
    }

    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.index(key) {
            Some(i) => self.value(py, i),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.keys.iter().map(|k| k.bind(py)))
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let values = (0..self.keys.len())
            .map(|i| self.value(py, i))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, values)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| Ok((k.bind(py).clone(), self.value(py, i)?)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.to_dict(py)?.eq(other)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.to_dict(py)?.repr()?.to_string())
    }
}
