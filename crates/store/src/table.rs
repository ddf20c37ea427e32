//! Deterministic, self-describing Parquet tables.

use crate::{SCHEMA_VERSION, StoreError, TOOL_VERSION};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Provenance carried in every table's key-value metadata (DESIGN.md invariant 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Stage that wrote the table (`sample`, `moments`, ...).
    pub stage: String,
    /// The stage's parameters, canonical JSON (sorted keys).
    pub params: serde_json::Value,
    /// Content hashes of the input artifacts.
    pub inputs: Vec<String>,
    pub schema_version: u32,
    pub tool_version: String,
}

impl Meta {
    pub fn new(stage: &str, params: serde_json::Value, inputs: Vec<String>) -> Self {
        Meta {
            stage: stage.into(),
            params,
            inputs,
            schema_version: SCHEMA_VERSION,
            tool_version: TOOL_VERSION.into(),
        }
    }

    fn key_values(&self) -> Vec<KeyValue> {
        vec![
            KeyValue::new("nnqft.stage".into(), self.stage.clone()),
            KeyValue::new("nnqft.params".into(), self.params.to_string()),
            KeyValue::new(
                "nnqft.inputs".into(),
                serde_json::to_string(&self.inputs).expect("json"),
            ),
            KeyValue::new("nnqft.schema_version".into(), self.schema_version.to_string()),
            KeyValue::new("nnqft.tool_version".into(), self.tool_version.clone()),
        ]
    }
}

/// Streams record batches into a Parquet file with pinned, deterministic properties.
pub struct TableWriter {
    path: PathBuf,
    inner: ArrowWriter<File>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter").field("path", &self.path).finish()
    }
}

/// Rows per row group unless the caller flushes earlier.
pub const MAX_ROW_GROUP_ROWS: usize = 1 << 16;

/// Memory the Parquet writer keeps per column chunk (one column of one row group) until the file is closed:
/// the chunk's metadata and page indexes. Measured: 1.0 KB (100000 one-row row groups of 3 columns: 306 MB peak
/// resident; of 9 columns: 876 MB).
pub const CHUNK_METADATA_BYTES: u64 = 1024;

impl TableWriter {
    pub fn create(path: &Path, schema: SchemaRef, meta: &Meta) -> Result<Self, StoreError> {
        let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
        // zstd for integer and text columns; Float64 columns are stored plain: sampled outputs have random
        // mantissas that zstd hardly shrinks (a 900k-row sample: 43.7 MB compressed, 45.4 MB plain) and compressing them made
        // the writer the slowest part of small-width sampling (0.39 s -> 0.22 s for N = 10, 30 x 30000 nets).
        let mut builder = WriterProperties::builder()
            .set_created_by("nnqft (parquet-rs)".into())
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("valid zstd level"),
            ));
        for f in schema.fields() {
            if f.data_type() == &DataType::Float64 {
                builder = builder.set_column_compression(
                    parquet::schema::types::ColumnPath::from(f.name().as_str()),
                    Compression::UNCOMPRESSED,
                );
            }
        }
        let props = builder
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(meta.key_values()))
            .build();
        // The same key-value metadata in the Arrow schema too, so that readers that show the schema's metadata
        // (pyarrow's `read_table(p).schema.metadata`, pandas' `attrs`) see the parameters, not only readers of the
        // Parquet footer.
        let schema_meta: std::collections::HashMap<String, String> = meta
            .key_values()
            .into_iter()
            .map(|kv| (kv.key, kv.value.unwrap_or_default()))
            .collect();
        let schema = std::sync::Arc::new(schema.as_ref().clone().with_metadata(schema_meta));
        let inner =
            ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| StoreError::write(path, e))?;
        Ok(TableWriter {
            path: path.into(),
            inner,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        self.inner
            .write(batch)
            .map_err(|e| StoreError::write(&self.path, e))
    }

    /// Ends the current row group (so row groups can be aligned with bags).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush().map_err(|e| StoreError::write(&self.path, e))
    }

    pub fn finish(self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let file = self.inner.into_inner().map_err(|e| StoreError::write(&path, e))?;
        file.sync_all().map_err(|e| StoreError::io(&path, e))
    }
}

/// Opens a table, checks its stage and its required columns, and returns its metadata and a reader builder.
pub fn open_table(
    path: &Path,
    stage: &str,
    required: &[(&str, DataType)],
) -> Result<(Meta, ParquetRecordBatchReaderBuilder<File>), StoreError> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::Missing {
                path: path.into(),
                what: format!("{stage} table"),
            }
        } else {
            StoreError::io(path, e)
        }
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::Corrupt {
        path: path.into(),
        detail: e.to_string(),
    })?;
    let kv: std::collections::HashMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|v| {
            v.iter()
                .filter_map(|k| k.value.clone().map(|val| (k.key.clone(), val)))
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str| {
        kv.get(k).cloned().ok_or_else(|| StoreError::WrongSchema {
            path: path.into(),
            detail: format!("metadata key {k} is missing (not an nnqft table?)"),
        })
    };
    let bad = |detail: String| StoreError::WrongSchema {
        path: path.into(),
        detail,
    };
    let meta = Meta {
        stage: get("nnqft.stage")?,
        params: serde_json::from_str(&get("nnqft.params")?).map_err(|e| bad(format!("nnqft.params: {e}")))?,
        inputs: serde_json::from_str(&get("nnqft.inputs")?).map_err(|e| bad(format!("nnqft.inputs: {e}")))?,
        schema_version: get("nnqft.schema_version")?
            .parse()
            .map_err(|e| bad(format!("schema_version: {e}")))?,
        tool_version: get("nnqft.tool_version")?,
    };
    if meta.stage != stage {
        return Err(bad(format!(
            "this is a '{}' table, expected a '{stage}' table",
            meta.stage
        )));
    }
    if meta.schema_version != SCHEMA_VERSION {
        return Err(bad(format!(
            "schema version {} but this tool reads {SCHEMA_VERSION}",
            meta.schema_version
        )));
    }
    check_columns(path, builder.schema(), required)?;
    Ok((meta, builder))
}

/// Checks that the table at `path` (whose Arrow schema is `schema`) has the `required` columns and types.
pub fn check_columns(
    path: &Path,
    schema: &SchemaRef,
    required: &[(&str, DataType)],
) -> Result<(), StoreError> {
    let bad = |detail: String| StoreError::WrongSchema {
        path: path.into(),
        detail,
    };
    for (name, ty) in required {
        match schema.field_with_name(name) {
            Ok(f) if f.data_type() == ty => {}
            Ok(f) => {
                return Err(bad(format!(
                    "column {name} has type {} but {ty} is expected",
                    f.data_type()
                )));
            }
            Err(_) => return Err(bad(format!("column {name} ({ty}) is missing"))),
        }
    }
    Ok(())
}

/// Reads every batch of a reader, mapping decoding errors to [`StoreError::Corrupt`].
pub fn read_all(path: &Path, reader: ParquetRecordBatchReader) -> Result<Vec<RecordBatch>, StoreError> {
    reader
        .map(|b| {
            b.map_err(|e| StoreError::Corrupt {
                path: path.into(),
                detail: e.to_string(),
            })
        })
        .collect()
}
