//! The whole Python exception hierarchy, and the one conversion from core errors.

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyIsADirectoryError, PyOSError, PyPermissionError,
    PyValueError,
};
use pyo3::prelude::*;

use pyetwkit_core::{Error, EtlError, ManifestError as CoreManifestError};

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

create_exception!(
    pyetwkit._core,
    SessionClosedError,
    EtwError,
    "The session is closed, or is being consumed the other way (sync or async)."
);

create_exception!(
    pyetwkit._core,
    SessionExistsError,
    EtwError,
    "A live session of that name already exists (Win32 error 183); see on_conflict."
);
create_exception!(
    pyetwkit._core,
    SessionLimitError,
    EtwError,
    "The system's 64 ETW sessions, or a provider's sessions, are all in use (Win32 error 1450)."
);
create_exception!(
    pyetwkit._core,
    SessionNotFoundError,
    EtwError,
    "No live session of that name is running (Win32 error 4201)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EtwError", py.get_type::<EtwError>())?;
    m.add("EtlFormatError", py.get_type::<EtlFormatError>())?;
    m.add("NotAnEtlFileError", py.get_type::<NotAnEtlFileError>())?;
    m.add("ManifestError", py.get_type::<ManifestError>())?;
    m.add("SessionClosedError", py.get_type::<SessionClosedError>())?;
    m.add("SessionExistsError", py.get_type::<SessionExistsError>())?;
    m.add("SessionLimitError", py.get_type::<SessionLimitError>())?;
    m.add(
        "SessionNotFoundError",
        py.get_type::<SessionNotFoundError>(),
    )?;
    m.add(
        "EtwUnsupportedPlatformError",
        py.get_type::<EtwUnsupportedPlatformError>(),
    )?;
    Ok(())
}

/// The one conversion of core errors into Python exceptions: I/O errors become
/// the matching `OSError` subclass (with errno and filename), format errors
/// `EtlFormatError` with `path` and `offset`, bad arguments `ValueError`, and
/// everything else an `EtwError` subclass.
pub fn to_py_err(err: impl Into<Error>) -> PyErr {
    let err = err.into();
    let message = err.to_string();
    match err {
        Error::Etl(e) => etl_error_to_py(e),
        Error::Manifest(CoreManifestError::Io { path, source }) => io_error_to_py(source, &path),
        Error::Manifest(CoreManifestError::Invalid { .. }) => ManifestError::new_err(message),
        Error::Filter(_) | Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::Closed(_) => SessionClosedError::new_err(message),
        Error::Source(_) | Error::Panicked(_) | Error::Thread(_) => EtwError::new_err(message),
        // EACCES, as Python's own PermissionError carries.
        Error::AccessDenied(_) => PyPermissionError::new_err((13, message)),
        Error::SessionExists(_) => SessionExistsError::new_err(message),
        Error::SessionLimit(_) => SessionLimitError::new_err(message),
        Error::SessionNotFound(_) => SessionNotFoundError::new_err(message),
        Error::Unsupported(_) => EtwUnsupportedPlatformError::new_err(message),
    }
}

fn etl_error_to_py(err: EtlError) -> PyErr {
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
    // Python's own OSError text: the OS's message, without Rust's "(os error N)".
    let code = source.raw_os_error();
    let text = source.to_string();
    let message = code
        .and_then(|c| text.strip_suffix(&format!(" (os error {c})")))
        .unwrap_or(&text)
        .to_string();
    let args = (
        code.unwrap_or(0),
        message,
        path.to_string_lossy().into_owned(),
    );
    match source.kind() {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(args),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(args),
        std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(args),
        _ => PyOSError::new_err(args),
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
