//! pyetwkit._core: Python bindings over pyetwkit-core. Bindings only; the logic
//! lives in the core crate where Rust tests reach it.

mod arrow;
mod event;
mod exceptions;
mod manifest;
mod names;
mod properties;
mod reader;
mod select;
mod session;
mod sigma;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    exceptions::register(m)?;
    m.add_class::<event::PyEtwEvent>()?;
    m.add_class::<reader::PyEtlReader>()?;
    m.add_class::<manifest::PyManifest>()?;
    m.add_class::<reader::PyLogfileHeader>()?;
    m.add_function(wrap_pyfunction!(reader::count_records, m)?)?;
    m.add_function(wrap_pyfunction!(reader::sample_etl_bytes, m)?)?;
    m.add_class::<arrow::PyArrowStream>()?;
    m.add_class::<arrow::PyArrowTable>()?;
    m.add_class::<properties::PyPropertyView>()?;
    m.add_class::<arrow::PyConverter>()?;
    m.add_class::<session::PySession>()?;
    m.add_class::<session::PySessionStats>()?;
    m.add_class::<sigma::PyRuleSet>()?;
    m.add_class::<sigma::PySigmaStream>()?;
    m.add_class::<select::PySelection>()?;
    m.add_function(wrap_pyfunction!(sigma::sigma_map_event, m)?)?;
    m.add_function(wrap_pyfunction!(sigma::sigma_mappings, m)?)?;
    m.add_function(wrap_pyfunction!(session::check_filter, m)?)?;
    m.add_function(wrap_pyfunction!(session::live_sessions_supported, m)?)?;
    m.add_function(wrap_pyfunction!(session::installed_providers, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_classes, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_flag_classes, m)?)?;
    Ok(())
}

/// The kernel MOF event classes: `[(name, GUID)]`, the one table (Rust's) that
/// Python's provider factories use.
#[pyfunction]
fn kernel_classes() -> Vec<(&'static str, String)> {
    pyetwkit_core::ALL_CLASSES
        .iter()
        .map(|c| (c.name, c.guid.to_string()))
        .collect()
}

/// The kernel logger's flags and the class each enables: `[(flag, GUID)]`.
#[pyfunction]
fn kernel_flag_classes() -> Vec<(u32, String)> {
    pyetwkit_core::FLAG_CLASSES
        .iter()
        .map(|(flag, c)| (*flag, c.guid.to_string()))
        .collect()
}
