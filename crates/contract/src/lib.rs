//! The contract between the stages downstream of `moments` (DESIGN.md "Artifact contracts", STYLE.md 11):
//! each output table of `fit` and `flow` is declared here once (file name, typed row, column names, read and
//! write), with the enums that name what the tables hold ([`fit::Quantity`], [`fit::FitId`], [`fit::FitKind`],
//! [`fit::Sweep`]) and the predictions the data are compared with ([`predict`]). `fit` and `flow` write through
//! it, `flow` and `report` read through it: a renamed column or quantity breaks the build, not a run, and a
//! table or metadata that does not hold what the contract says fails loudly with the file and the column.

pub mod fit;
pub mod flow;
pub mod predict;
mod table;

/// Characters of a content hash shown where a short reference is enough (notes, Markdown tables).
pub const SHORT_HASH: usize = 16;

/// The first [`SHORT_HASH`] characters of a content hash.
pub fn short_hash(h: &str) -> &str {
    &h[..SHORT_HASH.min(h.len())]
}

/// A Float64 column that must have no nulls; an error names the file, the column and the row.
fn required(t: &nnqft_store::Table, col: &str) -> anyhow::Result<Vec<f64>> {
    use anyhow::Context;
    t.f64(col)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.with_context(|| format!("{}: column {col} is null in row {i}", t.path.display())))
        .collect()
}

/// A string column parsed into an enum; an error names the file, the column, the row and the unknown value.
fn parsed<T>(t: &nnqft_store::Table, col: &str, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<Vec<T>> {
    use anyhow::Context;
    t.str(col)?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse(s)
                .with_context(|| format!("{}: column {col}, row {i}: unknown value {s:?}", t.path.display()))
        })
        .collect()
}
