//! Errors of the core crate. Each names the file; format errors also name the
//! byte offset where reading stopped, so a user can look at the bytes.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EtlError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file does not start like an .etl file; nothing was delivered.
    #[error("{path}: not an .etl file: {reason}")]
    NotEtl { path: PathBuf, reason: String },
    /// The file is an .etl file, but it is corrupt or truncated at `offset`.
    #[error("{path}: corrupt .etl data at byte offset {offset:#x} ({offset}): {reason}")]
    Format {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

impl EtlError {
    pub fn path(&self) -> &PathBuf {
        match self {
            EtlError::Io { path, .. }
            | EtlError::NotEtl { path, .. }
            | EtlError::Format { path, .. } => path,
        }
    }

    /// The byte offset of a format error, if this is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            EtlError::Format { offset, .. } => Some(*offset),
            EtlError::NotEtl { .. } => Some(0),
            EtlError::Io { .. } => None,
        }
    }
}

/// An instrumentation manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a usable instrumentation manifest: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter spec: {0}")]
    Spec(String),
    #[error("invalid provider GUID {0:?}")]
    Guid(String),
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regex { pattern: String, reason: String },
    #[error("invalid glob pattern {pattern:?}: {reason}")]
    Glob { pattern: String, reason: String },
}

/// Every error the core reports, one variant per kind of cause, so that the
/// bindings turn each into the right Python exception in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a recording failed: I/O, not an .etl file, or corrupt data.
    #[error(transparent)]
    Etl(#[from] EtlError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// An argument out of its range (`ValueError` in Python).
    #[error("{0}")]
    InvalidArgument(String),
    /// The session was closed, or is consumed the other way (sync / async).
    #[error("{0}")]
    Closed(String),
    /// A source failed for a reason of its own.
    #[error("{0}")]
    Source(String),
    /// A bug: a panic was caught before it could cross into Python or ETW.
    #[error("internal error: {0}")]
    Panicked(String),
    /// The operating system refused a thread.
    #[error("cannot start a thread: {0}")]
    Thread(#[source] io::Error),
    /// Live sessions: the caller lacks the privileges (Win32 error 5).
    #[error("{0}")]
    AccessDenied(String),
    /// Live sessions: a session of that name exists (183).
    #[error("{0}")]
    SessionExists(String),
    /// Live sessions: the system's or a provider's session limit (1450).
    #[error("{0}")]
    SessionLimit(String),
    /// Live sessions: no session of that name (4201).
    #[error("{0}")]
    SessionNotFound(String),
    /// Live sessions where there are none (not Windows).
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// The message of a caught panic's payload.
    pub fn from_panic(context: &str, payload: &(dyn std::any::Any + Send)) -> Error {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::Panicked(format!("{context} panicked: {what}"))
    }
}

pub type Result<T, E = EtlError> = std::result::Result<T, E>;
