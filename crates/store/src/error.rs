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
    /// The disk (or the user's quota) is full: ENOSPC / EDQUOT while writing.
    #[error("disk full while writing {path}: free space and re-run ({detail})")]
    DiskFull { path: PathBuf, detail: String },
    /// Encoding or writing a Parquet table failed for another reason than a full disk.
    #[error("{path}: writing the Parquet table failed: {detail}")]
    Write { path: PathBuf, detail: String },
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

/// Whether an I/O error means that the disk or the quota is full (ENOSPC, raw OS error 28, or EDQUOT).
pub fn is_disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded) || e.raw_os_error() == Some(ENOSPC)
}

/// Linux's ENOSPC, for errors whose kind the standard library did not classify.
const ENOSPC: i32 = 28;

impl StoreError {
    /// An I/O error at `path`; a full disk becomes [`StoreError::DiskFull`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if is_disk_full(&source) {
            return StoreError::DiskFull {
                path: path.into(),
                detail: source.to_string(),
            };
        }
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// A failure of the Parquet writer at `path`; one caused by a full disk becomes [`StoreError::DiskFull`].
    pub fn write(path: impl Into<PathBuf>, e: parquet::errors::ParquetError) -> Self {
        if let parquet::errors::ParquetError::External(inner) = &e
            && let Some(io) = inner.downcast_ref::<std::io::Error>()
            && is_disk_full(io)
        {
            return StoreError::DiskFull {
                path: path.into(),
                detail: io.to_string(),
            };
        }
        StoreError::Write {
            path: path.into(),
            detail: e.to_string(),
        }
    }
}
