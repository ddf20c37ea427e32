//! Helpers for small result tables: build a batch from named columns, read columns back by name.

use crate::{Meta, StoreError, TableWriter, open_table, read_all};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt8Array, UInt32Array,
    UInt64Array,
};
use arrow_schema::{Field, Schema};
use std::path::Path;
use std::sync::Arc;

/// Column `name` of a batch read from `path`, as Arrow array type `T`; an error names the file, the column and
/// what was found.
pub fn column<'a, T: Array + 'static>(
    path: &Path,
    b: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, StoreError> {
    let a = b.column_by_name(name).ok_or_else(|| StoreError::WrongSchema {
        path: path.into(),
        detail: format!("column {name} is missing"),
    })?;
    a.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| StoreError::WrongSchema {
            path: path.into(),
            detail: format!("column {name} has type {}", a.data_type()),
        })
}

/// A column under construction.
#[derive(Debug)]
pub enum Col {
    F64(Vec<Option<f64>>),
    Str(Vec<String>),
    Bool(Vec<bool>),
    U64(Vec<u64>),
}

impl Col {
    fn array(self) -> ArrayRef {
        match self {
            Col::F64(v) => Arc::new(v.into_iter().collect::<Float64Array>()),
            Col::Str(v) => Arc::new(StringArray::from(v)),
            Col::Bool(v) => Arc::new(BooleanArray::from(v)),
            Col::U64(v) => Arc::new(UInt64Array::from(v)),
        }
    }
}

/// Writes one table of named columns (all nullable) with provenance `meta`.
pub fn write_columns(path: &Path, cols: Vec<(&str, Col)>, meta: &Meta) -> Result<(), StoreError> {
    let arrays: Vec<(String, ArrayRef)> = cols
        .into_iter()
        .map(|(n, c)| (n.to_string(), c.array()))
        .collect();
    let schema = Arc::new(Schema::new(
        arrays
            .iter()
            .map(|(n, a)| Field::new(n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), arrays.into_iter().map(|(_, a)| a).collect()).map_err(|e| {
            StoreError::WrongSchema {
                path: path.into(),
                detail: e.to_string(),
            }
        })?;
    let mut w = TableWriter::create(path, schema, meta)?;
    w.write(&batch)?;
    w.finish()
}

/// A table read back whole, with typed access to its columns by name.
#[derive(Debug)]
pub struct Table {
    pub path: std::path::PathBuf,
    pub meta: Meta,
    batches: Vec<RecordBatch>,
}

impl Table {
    /// Reads `path`, which must be a table of `stage`.
    pub fn read(path: &Path, stage: &str) -> Result<Self, StoreError> {
        let (meta, builder) = open_table(path, stage, &[])?;
        let reader = builder.build().map_err(|e| StoreError::Corrupt {
            path: path.into(),
            detail: e.to_string(),
        })?;
        Ok(Table {
            path: path.into(),
            meta,
            batches: read_all(path, reader)?,
        })
    }

    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    fn typed<T: Array + 'static, R>(
        &self,
        name: &str,
        f: impl Fn(&T, usize) -> R,
    ) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::new();
        for b in &self.batches {
            let t = column::<T>(&self.path, b, name)?;
            out.extend((0..t.len()).map(|i| f(t, i)));
        }
        Ok(out)
    }

    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>, StoreError> {
        self.typed::<Float64Array, _>(name, |a, i| if a.is_null(i) { None } else { Some(a.value(i)) })
    }
    pub fn str(&self, name: &str) -> Result<Vec<String>, StoreError> {
        self.typed::<StringArray, _>(name, |a, i| a.value(i).to_string())
    }
    pub fn bool(&self, name: &str) -> Result<Vec<bool>, StoreError> {
        self.typed::<BooleanArray, _>(name, |a, i| a.value(i))
    }
    pub fn u64(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        self.typed::<UInt64Array, _>(name, |a, i| a.value(i))
    }
    pub fn u32(&self, name: &str) -> Result<Vec<u32>, StoreError> {
        self.typed::<UInt32Array, _>(name, |a, i| a.value(i))
    }
    pub fn u8(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        self.typed::<UInt8Array, _>(name, |a, i| a.value(i))
    }
}
