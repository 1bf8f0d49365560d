//! The whole Python exception hierarchy, and the one conversion from core errors.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError,
};
use pyo3::prelude::*;

use pyetwkit_core::EtlError;

create_exception!(
    pyetwkit._core,
    EtwError,
    PyException,
    "Base class of every pyetwkit error."
);
create_exception!(
    pyetwkit._core,
    EtlFormatError,
    EtwError,
    "An .etl file is corrupt or truncated. `path` and `offset` say where; every event before the fault was delivered."
);
create_exception!(
    pyetwkit._core,
    NotAnEtlFileError,
    EtlFormatError,
    "The file does not start like an .etl file; raised when it is opened."
);

create_exception!(
    pyetwkit._core,
    EtwUnsupportedPlatformError,
    EtwError,
    "Live ETW sessions need Windows; reading .etl files works on every OS."
);

create_exception!(
    pyetwkit._core,
    ManifestError,
    EtwError,
    "An instrumentation manifest could not be parsed; the message names the file and why."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EtwError", py.get_type::<EtwError>())?;
    m.add("EtlFormatError", py.get_type::<EtlFormatError>())?;
    m.add("NotAnEtlFileError", py.get_type::<NotAnEtlFileError>())?;
    m.add("ManifestError", py.get_type::<ManifestError>())?;
    m.add(
        "EtwUnsupportedPlatformError",
        py.get_type::<EtwUnsupportedPlatformError>(),
    )?;
    Ok(())
}

/// Core errors become Python exceptions: I/O errors the matching `OSError`
/// subclass (with errno and filename), format errors `EtlFormatError`.
pub fn to_py_err(err: EtlError) -> PyErr {
    Python::attach(|py| {
        let path = err.path().to_string_lossy().into_owned();
        let message = err.to_string();
        match err {
            EtlError::Io { source, .. } => io_error_to_py(source, std::path::Path::new(&path)),
            EtlError::NotEtl { .. } => {
                with_location(py, NotAnEtlFileError::new_err(message), path, 0)
            }
            EtlError::Format { offset, .. } => {
                with_location(py, EtlFormatError::new_err(message), path, offset)
            }
        }
    })
}

/// An I/O error as the matching `OSError` subclass, with errno and filename.
pub fn io_error_to_py(source: std::io::Error, path: &std::path::Path) -> PyErr {
    let args = (
        source.raw_os_error().unwrap_or(0),
        source.to_string(),
        path.to_string_lossy().into_owned(),
    );
    match source.kind() {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(args),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(args),
        std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(args),
        _ => PyOSError::new_err(args),
    }
}

/// A pipeline source's failure: file errors as above, anything else as `EtwError`.
pub fn source_error_to_py(err: pyetwkit_core::pipeline::SourceError) -> PyErr {
    match err {
        pyetwkit_core::pipeline::SourceError::Etl(e) => to_py_err(e),
        pyetwkit_core::pipeline::SourceError::Other(message) => EtwError::new_err(message),
    }
}

fn with_location(py: Python<'_>, err: PyErr, path: String, offset: u64) -> PyErr {
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail in practice;
    // if it did, the message still names the file and offset.
    let _ = value.setattr("path", path);
    let _ = value.setattr("offset", offset);
    err
}
