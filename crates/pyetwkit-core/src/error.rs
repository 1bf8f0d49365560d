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

pub type Result<T, E = EtlError> = std::result::Result<T, E>;
