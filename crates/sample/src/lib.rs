//! The `sample` stage: draws `n_bags` bags of `n_nets` networks of one configuration and writes each
//! network's outputs at the input points (DESIGN.md "sample" contract).
//!
//! Work is split into blocks of [`BLOCK_NETS`] networks with one random stream each (see
//! [`nnqft_physics::sampler`]); blocks are computed in parallel waves and written in order, one row group per
//! bag, so memory stays flat and the bytes do not depend on the thread count or on sharding by bag range.

use anyhow::{Context, Result, bail};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt16Array, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use nnqft_physics::sampler::{BLOCK_NETS, Sampler, Scratch, check_counts, cov_len, cov_pairs};
use nnqft_physics::simd::Level;
use nnqft_physics::{Arch, Config};
use nnqft_store::{CHUNK_METADATA_BYTES, MAX_ROW_GROUP_ROWS, Meta, Staging, TableWriter};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the sample table inside the artifact directory.
pub const TABLE: &str = "samples.parquet";
/// Stage name recorded in the metadata.
pub const STAGE: &str = "sample";

/// Draw an ensemble of random networks (any depth, outputs and activation) and store their outputs at the
/// input points.
///
/// Parameters come from --params FILE (TOML or JSON, keys as the long flags with '_' for '-') and/or flags;
/// flags override the file. Output: DIR/samples.parquet (columns bag, net, f_0..f_{P-1}; with d_out > 1
/// f_<o>_<p> for output o at point p; then, unless --covariance false, s_<p>_<q> for p <= q), DIR/points.parquet
/// (columns point, x_0..x_{d-1}) and DIR/manifest.json. One hidden layer with one output (gaussnet, erf,
/// relu) is drawn with its weights; every other network layer by layer from the conditional Gaussian of each
/// layer (PHYSICS.md 10).
/// The environment variable NNQFT_SIMD=baseline|avx2|avx512 caps the vector extension the sampling loops use
/// (default: the CPU's widest); the output is the same bytes at every level.
#[derive(Debug, Clone, Default, clap::Parser, Serialize, Deserialize)]
#[command(name = "nnqft-sample", version)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// Parameter file (TOML or JSON) with any of the keys below, e.g. `arch = "gaussnet"`, `points = [0.1, 0.2]`.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub params: Option<PathBuf>,
    /// Output artifact directory; must not exist. Written atomically: it appears complete or not at all.
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub out: Option<PathBuf>,
    /// Activation: gaussnet (g = exp(z - s(x)), normalised with the current sigma_W, sigma_b, d; one hidden
    /// layer only), erf, relu, tanh, linear, gelu (z Phi(z)) or swish (z sigmoid(z)).
    #[arg(long)]
    pub arch: Option<String>,
    /// Input dimension d (>= 1). Default 1.
    #[arg(long)]
    pub d: Option<usize>,
    /// Hidden-layer width N (>= 1): one hidden layer (shorthand for --widths N).
    #[arg(long, short = 'N')]
    pub width: Option<u64>,
    /// Hidden widths n_1,n_2,...,n_L (each >= 1): L hidden layers, e.g. `--widths 50,50,50` or
    /// `widths = [50, 50, 50]` in a parameter file. Give either this or --width.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub widths: Option<Vec<u64>>,
    /// Number of hidden layers L, all of width --width (>= 1; default 1): `--width 100 --depth 3` is
    /// `--widths 100,100,100`, and a pipeline can sweep the width at fixed depth.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Number of outputs d_out (>= 1). Default 1.
    #[arg(long)]
    pub d_out: Option<usize>,
    /// Weight scale sigma_W (> 0): W^(0) ~ N(0, sigma_W^2/d), W^(l) ~ N(0, sigma_W^2/n_l).
    #[arg(long)]
    pub sigma_w: Option<f64>,
    /// Bias scale sigma_b (>= 0): b0, b1 ~ N(0, sigma_b^2).
    #[arg(long)]
    pub sigma_b: Option<f64>,
    /// Input points: d coordinates per point, separated by commas (or ';' between points for readability),
    /// e.g. `--points=-0.01,-0.006,-0.002,0.002,0.006,0.01` for d = 1.
    #[arg(long, allow_hyphen_values = true)]
    #[serde(default, deserialize_with = "points_de")]
    pub points: Option<String>,
    /// Number of bags (>= 1): independent sub-ensembles used for error bars.
    #[arg(long)]
    pub n_bags: Option<u64>,
    /// Networks per bag (>= 1).
    #[arg(long)]
    pub n_nets: Option<u64>,
    /// Master seed; each (configuration, bag, block of 1024 nets) gets its own stream derived from it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bag range START..END (END exclusive) to draw only a shard of the bags; default all. Shards are
    /// bit-identical to the same bags of a full run.
    #[arg(long)]
    pub bags: Option<String>,
    /// Also store each network's conditional covariance given its last hidden layer (PHYSICS.md 9), one column
    /// s_<p>_<q> per p <= q: S(p,q) = sigma_b^2 + (sigma_W^2/n_L) sum_i phi_i(x_p) phi_i(x_q), shared by all
    /// outputs (true or false; default true). With false the table is the f columns alone.
    #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
    pub covariance: Option<bool>,
    /// Hide the progress bar (it is shown only on a terminal anyway).
    #[arg(long)]
    #[serde(skip)]
    pub quiet: bool,
}

/// Accept points in a parameter file either as a string or as an array of numbers / arrays of numbers.
fn points_de<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        S(String),
        Flat(Vec<f64>),
        Nested(Vec<Vec<f64>>),
    }
    Ok(Some(match P::deserialize(de)? {
        P::S(s) => s,
        P::Flat(v) => v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(","),
        P::Nested(v) => v
            .iter()
            .map(|p| p.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join(";"),
    }))
}

/// A validated sampling job.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cfg: Config,
    pub n_bags: u64,
    pub n_nets: u64,
    pub seed: u64,
    pub bags: (u32, u32),
    /// Whether the table carries the conditional-covariance columns `s_<p>_<q>`.
    pub covariance: bool,
}

/// Parses `points` with `d` coordinates per point.
pub fn parse_points(s: &str, d: usize) -> Result<Vec<Vec<f64>>> {
    let mut nums = Vec::new();
    for tok in s.split([',', ';', ' ']).filter(|t| !t.trim().is_empty()) {
        let v: f64 = tok
            .trim()
            .parse()
            .with_context(|| format!("points: '{tok}' is not a number"))?;
        nums.push(v);
    }
    if d == 0 {
        bail!("input dimension d = 0 is invalid: d must be >= 1");
    }
    if nums.len() % d != 0 {
        bail!(
            "points: {} numbers are not a whole number of points of dimension d = {d}",
            nums.len()
        );
    }
    Ok(nums.chunks(d).map(|c| c.to_vec()).collect())
}

fn parse_range(s: &str, n_bags: u64) -> Result<(u32, u32)> {
    let (a, b) = s
        .split_once("..")
        .with_context(|| format!("bags: '{s}' is not a range START..END"))?;
    let a: u64 = a
        .trim()
        .parse()
        .with_context(|| format!("bags: start '{a}' is not a bag index"))?;
    let b: u64 = b
        .trim()
        .parse()
        .with_context(|| format!("bags: end '{b}' is not a bag index"))?;
    if a >= b || b > n_bags {
        bail!("bags = {s} is invalid: need START < END <= n_bags = {n_bags}");
    }
    Ok((a as u32, b as u32))
}

impl Args {
    /// Reads the parameter file (if any) and lets the flags override it.
    pub fn merged(&self) -> Result<Args> {
        let mut base = match &self.params {
            None => Args::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading parameter file {}", path.display()))?;
                if path.extension().is_some_and(|e| e == "json") {
                    serde_json::from_str(&text)
                        .with_context(|| format!("parameter file {}", path.display()))?
                } else {
                    toml::from_str(&text).with_context(|| format!("parameter file {}", path.display()))?
                }
            }
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if self.$f.is_some() { base.$f = self.$f.clone(); } )* };
        }
        over!(
            arch, d, width, widths, depth, d_out, sigma_w, sigma_b, points, n_bags, n_nets, seed, bags,
            covariance
        );
        base.out = self.out.clone();
        base.quiet = self.quiet;
        Ok(base)
    }

    /// Validates everything before anything is written.
    pub fn plan(&self) -> Result<Plan> {
        let a = self.merged()?;
        let need = |name: &str| {
            anyhow::anyhow!(
                "parameter {name} is required (flag --{} or the parameter file)",
                name.replace('_', "-")
            )
        };
        let arch = Arch::parse(a.arch.as_deref().ok_or_else(|| need("arch"))?).map_err(anyhow::Error::msg)?;
        let d = a.d.unwrap_or(1);
        let points = parse_points(a.points.as_deref().ok_or_else(|| need("points"))?, d)?;
        if let Some(depth) = a.depth {
            if depth == 0 || depth > nnqft_physics::params::MAX_DEPTH {
                bail!(
                    "depth = {depth} is invalid: a network has 1 to {} hidden layers",
                    nnqft_physics::params::MAX_DEPTH
                );
            }
            if let Some(ws) = &a.widths {
                bail!("depth = {depth} and widths = {ws:?} are both given: widths sets the depth (give one)");
            }
        }
        let widths = match (a.width, &a.widths) {
            (Some(w), None) => vec![w; a.depth.unwrap_or(1)],
            (None, Some(ws)) => ws.clone(),
            (Some(w), Some(ws)) => bail!(
                "width = {w} and widths = {ws:?} are both given: give either width (one hidden layer) or widths"
            ),
            (None, None) => bail!(
                "parameter width or widths is required (flag --width N or --widths N1,N2,..., or the parameter \
                 file)"
            ),
        };
        let cfg = Config::deep(
            arch,
            d,
            &widths,
            a.d_out.unwrap_or(1),
            a.sigma_w.ok_or_else(|| need("sigma_w"))?,
            a.sigma_b.ok_or_else(|| need("sigma_b"))?,
            &points,
        )?;
        let n_bags = a.n_bags.ok_or_else(|| need("n_bags"))?;
        let n_nets = a.n_nets.ok_or_else(|| need("n_nets"))?;
        check_counts(n_bags, n_nets)?;
        let bags = match &a.bags {
            Some(s) => parse_range(s, n_bags)?,
            None => (0, n_bags as u32),
        };
        let plan = Plan {
            cfg,
            n_bags,
            n_nets,
            seed: a.seed.unwrap_or(0),
            bags,
            covariance: a.covariance.unwrap_or(true),
        };
        plan.check_memory(rayon::current_num_threads())?;
        Ok(plan)
    }

    /// The plan and the output directory: every check that needs no output (the `--check-batch` validation).
    fn checked(&self) -> Result<(Plan, &Path)> {
        let plan = self.plan()?;
        let out = self
            .out
            .as_deref()
            .context("parameter out is required (--out DIR)")?;
        Ok((plan, out))
    }

    /// Validates the parameters (file and flags) and the work bound without writing anything.
    pub fn validate(&self) -> Result<()> {
        self.checked().map(|_| ())
    }
}

/// Blocks per worker thread in one wave of [`sample`].
const WAVE_BLOCKS_PER_THREAD: usize = 16;
/// Waves of outputs held at once: one being sampled, one in the channel, one being written.
const WAVES_IN_FLIGHT: f64 = 3.0;
/// Copies of the current row group the Parquet writer holds (Arrow columns and encoded pages).
const ROW_GROUP_COPIES: f64 = 2.0;

impl Plan {
    /// Estimated peak memory of [`sample`] with `threads` worker threads, in bytes: the Parquet metadata of every
    /// row group (kept until the file is closed), the waves of block outputs in flight, the writer's current row
    /// group and each thread's scratch buffers. Returns the total and a description of its parts.
    pub fn memory_bytes(&self, threads: usize) -> (f64, String) {
        // Value columns: d_out per point, and the covariance columns.
        let p = self.columns() as f64;
        let bags = (self.bags.1 - self.bags.0) as f64;
        let row_groups = bags * self.n_nets.div_ceil(MAX_ROW_GROUP_ROWS as u64) as f64;
        let footer = row_groups * (p + 2.0) * CHUNK_METADATA_BYTES as f64;
        let blocks = bags * self.n_nets.div_ceil(BLOCK_NETS as u64) as f64;
        let wave_blocks = ((WAVE_BLOCKS_PER_THREAD * threads) as f64).min(blocks);
        let block_values = p * self.n_nets.min(BLOCK_NETS as u64) as f64;
        let waves = WAVES_IN_FLIGHT * wave_blocks * block_values * 8.0;
        let row_group =
            ROW_GROUP_COPIES * self.n_nets.min(MAX_ROW_GROUP_ROWS as u64) as f64 * (p + 2.0) * 8.0;
        let width = self.cfg.width() as f64;
        let widest = self.cfg.widths().iter().copied().max().unwrap_or(1) as f64;
        // The sampler's own choice: one-layer tanh, linear, GELU and swish are drawn layer by layer too.
        let scratch = if nnqft_physics::sampler::direct(&self.cfg) {
            // With the covariance, every point's activations (P rows of N) too.
            let rows = if self.covariance {
                self.cfg.n_points() as f64
            } else {
                0.0
            };
            threads as f64 * 8.0 * (width * (self.cfg.d() as f64 + 5.0 + rows) + 5.0 * p)
        } else {
            // The layered sampler: activations and normals of the widest layer at every point.
            threads as f64 * 8.0 * (2.0 * widest * self.cfg.n_points() as f64 + 4.0 * p)
        };
        let total = footer + waves + row_group + scratch;
        let parts = format!(
            "Parquet metadata of {row_groups:.0} row groups x {} columns: {}; sample buffers of {threads} threads \
             at width {}: {}",
            p + 2.0,
            nnqft_store::cli::bytes(footer),
            self.cfg.width(),
            nnqft_store::cli::bytes(waves + row_group + scratch)
        );
        (total, parts)
    }

    /// Refuses a plan whose [`Plan::memory_bytes`] exceed the memory available.
    fn check_memory(&self, threads: usize) -> Result<()> {
        let (needed, parts) = self.memory_bytes(threads);
        nnqft_store::cli::check_memory(
            &format!(
                "sampling {} bags x {} networks at {} points x {} outputs ({parts})",
                self.bags.1 - self.bags.0,
                self.n_nets,
                self.cfg.n_points(),
                self.cfg.d_out()
            ),
            needed,
            "draw fewer bags per run (shards: --bags START..END), fewer networks or points, or a smaller width",
        )
    }

    /// Float64 columns of the table: d_out per point, then P(P+1)/2 covariance columns when recorded.
    pub fn columns(&self) -> usize {
        let p = self.cfg.n_points();
        p * self.cfg.d_out() + if self.covariance { cov_len(p) } else { 0 }
    }

    /// Canonical parameters recorded in the artifact (the configuration is everything but `bags`). One hidden
    /// layer records `width`, equal widths `width` and `depth` (so a width sweep at fixed depth differs in
    /// `width` alone), unequal widths `widths`; `d_out` appears when it is not 1; `covariance: true` when the
    /// covariance columns are written. So the parameters, and the bytes, of every one-hidden-layer one-output
    /// sample with `covariance = false` are what they were before depth existed.
    pub fn params(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "arch": self.cfg.arch().name(),
            "d": self.cfg.d(),
            "width": self.cfg.width(),
            "sigma_w": self.cfg.sigma_w(),
            "sigma_b": self.cfg.sigma_b(),
            "points": self.cfg.points(),
            "n_bags": self.n_bags,
            "n_nets": self.n_nets,
            "seed": self.seed,
            "bags": [self.bags.0, self.bags.1],
        });
        let o = v.as_object_mut().expect("an object");
        let ws = self.cfg.widths();
        if ws.iter().all(|&w| w == ws[0]) {
            if ws.len() > 1 {
                o.insert("depth".into(), serde_json::json!(ws.len()));
            }
        } else {
            o.remove("width");
            o.insert("widths".into(), serde_json::json!(ws));
        }
        if self.cfg.d_out() > 1 {
            o.insert("d_out".into(), serde_json::json!(self.cfg.d_out()));
        }
        if self.covariance {
            o.insert("covariance".into(), serde_json::json!(true));
        }
        v
    }
}

/// Name of the column of output `o` at point `p`: `f_<p>` with one output, `f_<o>_<p>` with several.
pub fn column_name(d_out: usize, o: usize, p: usize) -> String {
    if d_out == 1 {
        format!("f_{p}")
    } else {
        format!("f_{o}_{p}")
    }
}

/// Name of the conditional-covariance column of points p <= q: `s_<p>_<q>`.
pub fn cov_column_name(p: usize, q: usize) -> String {
    format!("s_{p}_{q}")
}

/// The covariance columns of P points in table order (s_0_0, s_0_1, ..., s_0_{P-1}, s_1_1, ...), with their
/// point pairs.
pub fn cov_columns(p: usize) -> Vec<((usize, usize), String)> {
    cov_pairs(p)
        .map(|(a, b)| ((a, b), cov_column_name(a, b)))
        .collect()
}

/// Whether a sample's recorded parameters say that its table has the covariance columns.
pub fn has_covariance(params: &serde_json::Value) -> bool {
    params.get("covariance").and_then(|v| v.as_bool()) == Some(true)
}

/// The sample table's schema for P points and `d_out` outputs (output-major: every point of output 0, then of
/// output 1, ...), then with `covariance` the columns of [`cov_columns`].
pub fn schema(p: usize, d_out: usize, covariance: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("bag", DataType::UInt32, false),
        Field::new("net", DataType::UInt32, false),
    ];
    for o in 0..d_out {
        fields.extend((0..p).map(|i| Field::new(column_name(d_out, o, i), DataType::Float64, false)));
    }
    if covariance {
        fields.extend(
            cov_columns(p)
                .into_iter()
                .map(|(_, name)| Field::new(name, DataType::Float64, false)),
        );
    }
    Arc::new(Schema::new(fields))
}

/// File name of the points table inside the artifact directory.
pub const POINTS_TABLE: &str = "points.parquet";

/// The points table's schema for dimension d: `point` (UInt16), `x_0` .. `x_{d-1}` (Float64).
pub fn points_schema(d: usize) -> SchemaRef {
    let mut fields = vec![Field::new("point", DataType::UInt16, false)];
    fields.extend((0..d).map(|j| Field::new(format!("x_{j}"), DataType::Float64, false)));
    Arc::new(Schema::new(fields))
}

/// Writes the points of `cfg` as a small table (one row per point) with the sample's provenance.
fn write_points(path: &Path, cfg: &Config, meta: &Meta) -> Result<()> {
    let (p, d) = (cfg.n_points(), cfg.d());
    let schema = points_schema(d);
    let mut cols: Vec<ArrayRef> = vec![Arc::new(UInt16Array::from_iter_values(0..p as u16))];
    cols.extend(
        (0..d).map(|j| Arc::new(Float64Array::from_iter_values((0..p).map(|i| cfg.point(i)[j]))) as ArrayRef),
    );
    let mut w = TableWriter::create(path, schema.clone(), meta)?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    Ok(())
}

/// Rebuilds the configuration recorded in a sample table's parameters.
pub fn config_from_params(v: &serde_json::Value) -> Result<Config> {
    let get = |k: &str| v.get(k).with_context(|| format!("sample parameters lack '{k}'"));
    let arch =
        Arch::parse(get("arch")?.as_str().context("arch is not a string")?).map_err(anyhow::Error::msg)?;
    let points: Vec<Vec<f64>> = serde_json::from_value(get("points")?.clone()).context("points")?;
    let widths: Vec<u64> = match v.get("widths") {
        Some(w) => serde_json::from_value(w.clone()).context("widths")?,
        None => {
            let depth = match v.get("depth") {
                Some(l) => l.as_u64().context("depth")? as usize,
                None => 1,
            };
            if depth == 0 || depth > nnqft_physics::params::MAX_DEPTH {
                bail!("sample parameters: depth = {depth} is invalid");
            }
            vec![get("width")?.as_u64().context("width")?; depth]
        }
    };
    let d_out = match v.get("d_out") {
        Some(k) => k.as_u64().context("d_out")? as usize,
        None => 1,
    };
    Ok(Config::deep(
        arch,
        get("d")?.as_u64().context("d")? as usize,
        &widths,
        d_out,
        get("sigma_w")?.as_f64().context("sigma_w")?,
        get("sigma_b")?.as_f64().context("sigma_b")?,
        &points,
    )?)
}

fn progress(total: u64, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("sample {bar:40} {pos}/{len} nets  {per_sec}  eta {eta}")
            .expect("template"),
    );
    pb
}

/// Draws the plan into the artifact directory `out` (atomically) and returns its content hash.
pub fn sample(plan: &Plan, out: &Path, show_progress: bool) -> Result<String> {
    let staging = Staging::new(out)?;
    // Value columns: d_out per point, output-major (the sampler's layout), then the covariance columns.
    let n_points = plan.cfg.n_points();
    if n_points > u16::MAX as usize + 1 {
        bail!("{n_points} points: the points table indexes them with 16 bits (at most 65536)");
    }
    let p_out = n_points * plan.cfg.d_out();
    let p = plan.columns();
    let schema = schema(n_points, plan.cfg.d_out(), plan.covariance);
    let meta = Meta::new(STAGE, plan.params(), vec![]);
    write_points(&staging.path().join(POINTS_TABLE), &plan.cfg, &meta)?;
    let mut writer = TableWriter::create(&staging.path().join(TABLE), schema.clone(), &meta)?;
    let sampler = Sampler::new(&plan.cfg);
    let blocks_per_bag = plan.n_nets.div_ceil(BLOCK_NETS as u64) as u32;
    // (bag, block) of task t, in the writing order; generated one wave at a time (a list of all tasks took 8
    // bytes per block: 34 GB for 2^32 bags).
    let n_tasks = (plan.bags.1 - plan.bags.0) as u64 * blocks_per_bag as u64;
    let task = |t: u64| {
        (
            plan.bags.0 + (t / blocks_per_bag as u64) as u32,
            (t % blocks_per_bag as u64) as u32,
        )
    };
    let pb = progress((plan.bags.1 - plan.bags.0) as u64 * plan.n_nets, show_progress);
    // Blocks are sampled in waves (one barrier each) so that memory stays bounded and the writer overlaps the
    // next wave; 16 blocks per thread keeps the idle time at the end of a wave small (a wave of 4 per thread
    // left one thread idle for most of a block at the end of every bag of 30000 networks: ~5%).
    let wave = (WAVE_BLOCKS_PER_THREAD * rayon::current_num_threads().max(1)) as u64;
    // Encoding and compressing Parquet runs on its own thread, overlapping the sampling of the next wave;
    // waves are sent in order, so the bytes do not depend on timing.
    type Wave = Vec<((u32, u32), Vec<f64>)>;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Wave>(1);
    let pb_writer = pb.clone();
    let written = std::thread::scope(|scope| -> Result<TableWriter> {
        let handle = scope.spawn(move || -> Result<TableWriter> {
            for wave in rx {
                for ((bag, block), data) in wave {
                    let n = block_len(plan.n_nets, block);
                    let start = block * BLOCK_NETS as u32;
                    let mut cols: Vec<ArrayRef> = vec![
                        Arc::new(UInt32Array::from(vec![bag; n])),
                        Arc::new(UInt32Array::from_iter_values(start..start + n as u32)),
                    ];
                    // One array over the block's buffer (no copy), each column a slice of it (no copy).
                    let all = Float64Array::from(data);
                    cols.extend((0..p).map(|c| Arc::new(all.slice(c * n, n)) as ArrayRef));
                    writer.write(&RecordBatch::try_new(schema.clone(), cols)?)?;
                    if block + 1 == blocks_per_bag {
                        writer.flush()?;
                    }
                    pb_writer.inc(n as u64);
                }
            }
            Ok(writer)
        });
        let mut bad = None;
        for start in (0..n_tasks).step_by(wave as usize) {
            let chunk: Vec<(u32, u32)> = (start..(start + wave).min(n_tasks)).map(task).collect();
            let results: Vec<(Vec<f64>, Option<usize>)> = chunk
                .par_iter()
                .map_init(Scratch::default, |scratch, &(bag, block)| {
                    let n = block_len(plan.n_nets, block);
                    let mut out = vec![0.0; p * n];
                    let (f, s) = out.split_at_mut(p_out * n);
                    let cov = plan.covariance.then_some(s);
                    sampler.block_with_covariance(plan.seed, bag, block, n, f, cov, scratch);
                    let first_bad = out.iter().position(|v| !v.is_finite());
                    (out, first_bad)
                })
                .collect();
            if let Some((&(bag, block), (out, Some(i)))) =
                chunk.iter().zip(&results).find(|(_, (_, b))| b.is_some())
            {
                let (n, i) = (block_len(plan.n_nets, block), *i);
                bad = Some((bag, block * BLOCK_NETS as u32 + (i % n) as u32, i / n, out[i]));
                break;
            }
            let wave_out = chunk
                .into_iter()
                .zip(results.into_iter().map(|(o, _)| o))
                .collect();
            if tx.send(wave_out).is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        drop(tx);
        let writer = handle
            .join()
            .map_err(|_| anyhow::anyhow!("the Parquet writer thread panicked"))??;
        if let Some((bag, net, c, v)) = bad {
            let d_out = plan.cfg.d_out();
            let (what, q) = if c < p_out {
                let (o, q) = (c / n_points, c % n_points);
                (format!("output {}", column_name(d_out, o, q)), q)
            } else {
                let ((a, b), name) = cov_columns(n_points).swap_remove(c - p_out);
                (format!("conditional covariance {name} (points {a} and {b})"), b)
            };
            // S is quadratic in the activations, so it overflows first (sigma_W = 1e100: outputs ~1e200).
            let hint = if c < p_out {
                ""
            } else {
                " (or --covariance false: the covariance, of the order of the outputs squared, overflows first)"
            };
            bail!(
                "network {net} of bag {bag} has the non-finite {what} = {v} at point {q} {:?}: the arithmetic \
                 overflowed; {}{hint}. Nothing was written",
                plan.cfg.point(q),
                overflow_suspect(&plan.cfg)
            );
        }
        Ok(writer)
    })?;
    let writer = written;
    writer.finish()?;
    pb.finish_and_clear();
    Ok(staging.publish()?)
}

/// The parameter that most likely made a network's output overflow: the largest of sigma_W, sigma_b and the
/// coordinates (pre-activations have variance s(x) = sigma_b^2 + sigma_W^2 |x|^2 / d, outputs scale with sigma_W).
fn overflow_suspect(cfg: &Config) -> String {
    let x_max = (0..cfg.n_points())
        .flat_map(|i| cfg.point(i).iter().map(|v| v.abs()))
        .fold(0.0, f64::max);
    let s_max = (0..cfg.n_points()).map(|i| cfg.s(i)).fold(0.0, f64::max);
    let (name, value) = [
        ("sigma_w", cfg.sigma_w()),
        ("sigma_b", cfg.sigma_b()),
        ("the largest |coordinate| of the points", x_max),
    ]
    .into_iter()
    .fold(("", f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
    format!(
        "{name} = {value:e} is likely too large (the pre-activation variance s(x) = sigma_b^2 + sigma_W^2 |x|^2 / d \
         reaches {s_max:e}, and outputs scale like sigma_W sqrt(s)); use a smaller value"
    )
}

/// Networks in block `block` of a bag of `n_nets` (the last block may be short).
pub fn block_len(n_nets: u64, block: u32) -> usize {
    (n_nets - block as u64 * BLOCK_NETS as u64).min(BLOCK_NETS as u64) as usize
}

/// Environment variable that caps the vector extension of the sampling loops (`baseline`, `avx2`, `avx512`).
/// The output is the same bits at every level; this is for measuring and testing that.
pub const SIMD_ENV: &str = "NNQFT_SIMD";

/// Applies [`SIMD_ENV`] if it is set.
pub fn simd_from_env() -> Result<()> {
    if let Ok(v) = std::env::var(SIMD_ENV) {
        let level = Level::parse(&v).map_err(|e| anyhow::anyhow!("{SIMD_ENV}: {e}"))?;
        Level::cap(Some(level));
    }
    Ok(())
}

/// Entry point of the binary: validate, then sample.
pub fn run(args: &Args) -> Result<String> {
    simd_from_env()?;
    let (plan, out) = args.checked()?;
    if out.exists() {
        bail!("--out {}: already exists; give a new directory", out.display());
    }
    let show = !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    sample(&plan, out, show)
}
