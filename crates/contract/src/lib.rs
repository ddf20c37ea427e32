//! The contract between the stages downstream of `moments` (DESIGN.md "Artifact contracts", STYLE.md 11):
//! each output table of `fit` and `flow` is declared here once (file name, typed row, column names, read and
//! write), with the enums that name what the tables hold ([`fit::Quantity`], [`fit::FitId`], [`fit::FitKind`],
//! [`fit::Sweep`]) and the predictions the data are compared with ([`predict`]). `fit` and `flow` write through
//! it, `flow` and `report` read through it: a renamed column or quantity breaks the build, not a run, and a
//! table or metadata that does not hold what the contract says fails loudly with the file and the column.

pub mod fit;
pub mod flow;
pub mod predict;

/// Characters of a content hash shown where a short reference is enough (notes, Markdown tables).
pub const SHORT_HASH: usize = 16;

/// The first [`SHORT_HASH`] characters of a content hash.
pub fn short_hash(h: &str) -> &str {
    &h[..SHORT_HASH.min(h.len())]
}
