//! The `moments` stage (PHYSICS.md 3, 4, 8): reads sample artifacts (shards of bags of one configuration) and
//! writes, for n = 2, 4, 6 and every multiset of points, the per-bag Green functions, their mean, spread and
//! standard error, the free (Wick) value, the deviation and connected parts, exact values and a tail diagnostic.
//!
//! Per-bag sums are computed independently of how bags are sharded (one pass over each bag's row groups in
//! order), so moments of shards {0..9} + {10..19} equal the moments of {0..19} bit for bit.

mod compute;
mod table;
pub mod tail;
pub mod work;

pub use compute::{
    BagMoments, Choice, DEFAULT_MAX_N, MAX_N_CHOICES, Options, Sums, accumulate, accumulate_inputs, s_column,
    summarise,
};
pub use table::{Estimator, MomentRow, Moments, read_moments, write_moments};

/// File name of the moments table inside the artifact directory.
pub const TABLE: &str = "moments.parquet";
/// File name of the points table (`point`, `x_0` ... `x_{d-1}`) inside the artifact directory.
pub const POINTS: &str = "points.parquet";
/// Stage name recorded in the metadata.
pub const STAGE: &str = "moments";

use anyhow::{Context, Result};
use std::path::PathBuf;

/// Compute Green functions (n = 2, 4, 6, and 8 with --max-n 8) over all multisets of the input points from sample
/// artifacts, by two estimators: averages of products of f, and the conditional-Gaussian estimator from the
/// last layer's covariance S_h (the sample's s_<p>_<q> columns; PHYSICS.md 9).
///
/// Inputs are sample artifact directories of one configuration (any split of its bags into shards). Output:
/// DIR/moments.parquet, one row per (estimator, n, multiset), with per-bag values for resampling,
/// DIR/points.parquet (the points' coordinates) and DIR/manifest.json.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "nnqft-moments", version)]
pub struct Args {
    /// Sample artifact directories (shards of bags of one configuration).
    #[arg(required = true, value_name = "SAMPLE_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Output artifact directory; must not exist. Written atomically.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Estimator: products (averages of products of f), conditional (the conditional-Gaussian estimator, which
    /// needs the sample's s_<p>_<q> columns) or both [default: both where every input has the s columns,
    /// products where none has].
    #[arg(long, value_enum)]
    pub estimator: Option<Choice>,
    /// Largest order n: 6, or 8 for the eight-point functions (C(P+7, 8) multisets: 1287 at P = 6, 75582 at
    /// P = 12; at P = 6 the cost per network grows about 3x with either estimator).
    #[arg(long, default_value_t = DEFAULT_MAX_N, value_parser = parse_max_n, value_name = "N")]
    pub max_n: usize,
}

fn parse_max_n(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if MAX_N_CHOICES.contains(&n) => Ok(n),
        _ => Err(format!("{s}: must be one of {MAX_N_CHOICES:?}")),
    }
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
    let opts = Options {
        estimator: args.estimator,
        max_n: args.max_n,
    };
    let acc = accumulate(&args.inputs, &opts)?;
    let moments = summarise(&acc).context("computing Green functions")?;
    write_moments(&moments, &args.out)
}
