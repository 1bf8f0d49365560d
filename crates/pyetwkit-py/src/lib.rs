//! pyetwkit._core: Python bindings over pyetwkit-core. Bindings only; the logic
//! lives in the core crate where Rust tests reach it.

mod event;
mod exceptions;
mod manifest;
mod names;
mod reader;
mod session;

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
    m.add_class::<session::PySession>()?;
    m.add_class::<session::PySessionStats>()?;
    m.add_function(wrap_pyfunction!(session::check_filter, m)?)?;
    m.add_function(wrap_pyfunction!(session::live_sessions_supported, m)?)?;
    Ok(())
}
