//! The `moments` stage (PHYSICS.md 3, 4, 8): reads sample artifacts (shards of bags of one configuration) and
//! writes, for n = 2, 4, 6 and every multiset of points, the per-bag Green functions, their mean, spread and
//! standard error, the free (Wick) value, the deviation and connected parts, exact values and a tail diagnostic.
//!
//! Per-bag sums are computed independently of how bags are sharded (one pass over each bag's row groups in
//! order), so moments of shards {0..9} + {10..19} equal the moments of {0..19} bit for bit.

mod compute;
mod table;
pub mod work;

pub use compute::{BagMoments, accumulate_inputs, summarise};
pub use table::{MomentRow, Moments, read_moments, write_moments};

/// File name of the moments table inside the artifact directory.
pub const TABLE: &str = "moments.parquet";
/// Stage name recorded in the metadata.
pub const STAGE: &str = "moments";

use anyhow::{Context, Result};
use std::path::PathBuf;

/// Compute Green functions (n = 2, 4, 6) over all multisets of the input points from sample artifacts.
///
/// Inputs are sample artifact directories of one configuration (any split of its bags into shards). Output:
/// DIR/moments.parquet, one row per (n, multiset), with per-bag values for resampling, and DIR/manifest.json.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "nnqft-moments", version)]
pub struct Args {
    /// Sample artifact directories (shards of bags of one configuration).
    #[arg(required = true, value_name = "SAMPLE_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Output artifact directory; must not exist. Written atomically.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl Args {
    /// Validation without inputs (`--check-batch`): moments has no parameters besides its inputs and --out, which
    /// clap checks; the work bound needs the inputs' metadata and is checked when the stage runs.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// Entry point of the binary.
pub fn run(args: &Args) -> Result<String> {
    if args.out.exists() {
        anyhow::bail!(
            "--out {}: already exists; give a new directory",
            args.out.display()
        );
    }
    let acc = accumulate_inputs(&args.inputs)?;
    let moments = summarise(&acc).context("computing Green functions")?;
    write_moments(&moments, &args.out)
}
