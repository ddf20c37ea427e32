//! Writing and reading the contract's tables with list columns (a combination's point indices, a fit's excluded
//! sweep values), which the store's plain-column writer does not hold: the same Parquet writer (provenance
//! metadata, pinned `created_by`), every field nullable as there.

use anyhow::{Context, Result};
use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder, UInt16Builder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, RecordBatch, StringArray, UInt16Array,
    UInt64Array,
};
use arrow_schema::{Field, Schema};
use nnqft_store::{Meta, TableWriter, column, open_table, read_all};
use std::path::Path;
use std::sync::Arc;

/// One column of a table to write.
pub(crate) enum Column {
    F64(Vec<Option<f64>>),
    Str(Vec<String>),
    Bool(Vec<bool>),
    U64(Vec<u64>),
    ListU16(Vec<Vec<u16>>),
    ListF64(Vec<Vec<f64>>),
    ListStr(Vec<Vec<String>>),
}

impl Column {
    fn array(self) -> ArrayRef {
        match self {
            Column::F64(v) => Arc::new(v.into_iter().collect::<Float64Array>()),
            Column::Str(v) => Arc::new(StringArray::from(v)),
            Column::Bool(v) => Arc::new(BooleanArray::from(v)),
            Column::U64(v) => Arc::new(UInt64Array::from(v)),
            Column::ListU16(v) => {
                let mut b = ListBuilder::new(UInt16Builder::new());
                for row in v {
                    b.values().append_slice(&row);
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            Column::ListF64(v) => {
                let mut b = ListBuilder::new(Float64Builder::new());
                for row in v {
                    b.values().append_slice(&row);
                    b.append(true);
                }
                Arc::new(b.finish())
            }
            Column::ListStr(v) => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for row in v {
                    for s in row {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                Arc::new(b.finish())
            }
        }
    }
}

/// Writes one table of named columns with provenance `meta`.
pub(crate) fn write_table(path: &Path, cols: Vec<(&str, Column)>, meta: &Meta) -> Result<()> {
    let arrays: Vec<(&str, ArrayRef)> = cols.into_iter().map(|(n, c)| (n, c.array())).collect();
    let schema = Arc::new(Schema::new(
        arrays
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(schema.clone(), arrays.into_iter().map(|(_, a)| a).collect())
        .with_context(|| format!("building {}", path.display()))?;
    let mut w = TableWriter::create(path, schema, meta)?;
    w.write(&batch)?;
    w.finish()?;
    Ok(())
}

/// The rows of list column `name` of the table at `path` (a `stage` table), each row's values converted by `f`.
fn list<T: Array + 'static, R>(
    path: &Path,
    stage: &str,
    name: &str,
    f: impl Fn(&T) -> Vec<R>,
) -> Result<Vec<Vec<R>>> {
    let (_, builder) = open_table(path, stage, &[])?;
    let mut out = Vec::new();
    for b in read_all(path, builder.build()?)? {
        let l = column::<ListArray>(path, &b, name)?;
        for i in 0..l.len() {
            let v = l.value(i);
            let items = v.as_any().downcast_ref::<T>().with_context(|| {
                format!(
                    "{}: column {name} holds lists of {}",
                    path.display(),
                    v.data_type()
                )
            })?;
            out.push(f(items));
        }
    }
    Ok(out)
}

pub(crate) fn list_u16(path: &Path, stage: &str, name: &str) -> Result<Vec<Vec<u16>>> {
    list::<UInt16Array, _>(path, stage, name, |a| a.values().to_vec())
}

pub(crate) fn list_f64(path: &Path, stage: &str, name: &str) -> Result<Vec<Vec<f64>>> {
    list::<Float64Array, _>(path, stage, name, |a| a.values().to_vec())
}

pub(crate) fn list_str(path: &Path, stage: &str, name: &str) -> Result<Vec<Vec<String>>> {
    list::<StringArray, _>(path, stage, name, |a| {
        (0..a.len()).map(|i| a.value(i).to_string()).collect()
    })
}
