//! Errors that name the file and the problem.

use std::path::PathBuf;

/// What can be wrong with an artifact on disk.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or directory does not exist.
    #[error("{path}: missing ({what})")]
    Missing { path: PathBuf, what: String },
    /// An operating-system error while reading or writing.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's bytes do not match the hash recorded in the manifest.
    #[error("{path}: corrupted: blake3 {found} but the manifest records {expected} (size {size} bytes)")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        found: String,
        size: u64,
    },
    /// The file is not a readable Parquet file (truncated, overwritten, not Parquet).
    #[error("{path}: not a readable Parquet table: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// The table is readable but not the table that was expected.
    #[error("{path}: wrong schema: {detail}")]
    WrongSchema { path: PathBuf, detail: String },
    /// The manifest is malformed.
    #[error("{path}: malformed manifest: {detail}")]
    Manifest { path: PathBuf, detail: String },
    /// The output directory already exists.
    #[error("{path}: output directory already exists; choose a new path or remove it")]
    Exists { path: PathBuf },
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
