//! Artifacts of nnqft (DESIGN.md "Artifact contracts", invariants 3-5).
//!
//! An artifact is a directory holding Parquet tables and a `manifest.json` that lists every file with its size
//! and blake3 hash. The artifact's *content hash* is the blake3 hash of its manifest, so it covers every byte.
//! Tables carry self-describing key-value metadata ([`Meta`]); their bytes are deterministic (pinned
//! `created_by`, no timestamps). [`Staging`] writes into a temporary sibling directory and publishes with
//! fsync + rename, so nothing is ever visible half-written.
//!
//! This crate knows nothing about the store layout of `xtask`; it handles one artifact directory at a time.
//! [`cli`] holds what the stage binaries share besides artifacts (error reporting, memory bound, `--check-batch`).

pub mod cli;
mod columns;
mod error;
mod manifest;
mod staging;
mod table;

pub use columns::{Col, Table, column, write_columns};
pub use error::{StoreError, is_disk_full};
pub use manifest::{MANIFEST, Manifest, ManifestEntry, content_hash, hash_file, verify};
pub use staging::Staging;
pub use table::{
    CHUNK_METADATA_BYTES, MAX_ROW_GROUP_ROWS, Meta, TableWriter, check_columns, open_table, read_all,
};

/// Version of the artifact layout and metadata keys; bump on incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// Tool version recorded in every table.
pub const TOOL_VERSION: &str = concat!("nnqft ", env!("CARGO_PKG_VERSION"));
