//! Reading sample shards into per-bag sums, and turning those into Green functions.

use crate::table::{Estimator, MomentRow, Moments};
use crate::work::{Progress, Work, announce_summary};
use anyhow::{Context, Result, bail};
use arrow_array::{Array, Float64Array, UInt32Array};
use arrow_schema::{DataType, SchemaRef};
use nnqft_physics::Config;
use nnqft_physics::combos::{Index, even_partitions, pair_and_rest6, pairings};
use nnqft_physics::conditional::{Conditional, entry_points, n_entries};
use nnqft_physics::exact::{self, Exact, wick};
use nnqft_physics::kernel;
use nnqft_physics::moments::{BagSums, TailStats, Tree};
use nnqft_physics::relu_exact::ReluExact;
use nnqft_store::{check_columns, column, open_table, read_all, verify};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which estimators a moments run computes (`--estimator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// Averages of products of f (the papers' "experimental" Green functions).
    Products,
    /// The conditional-Gaussian estimator from the sample's `s_<p>_<q>` columns (PHYSICS.md 9).
    Conditional,
    /// Both, one row each per (n, multiset).
    Both,
}

impl Choice {
    pub fn name(self) -> &'static str {
        match self {
            Choice::Products => "products",
            Choice::Conditional => "conditional",
            Choice::Both => "both",
        }
    }

    fn products(self) -> bool {
        self != Choice::Conditional
    }

    fn conditional(self) -> bool {
        self != Choice::Products
    }
}

/// What a moments run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `None`: both estimators where the samples carry the covariance columns, products where they do not.
    pub estimator: Option<Choice>,
    /// Largest order n (6 or 8).
    pub max_n: usize,
}

/// Orders a moments run can stop at.
pub const MAX_N_CHOICES: [usize; 2] = [6, 8];
/// The default largest order: six-point functions (eight cost about 3 times as much per network at 6 points,
/// with either estimator; `--max-n 8`).
pub const DEFAULT_MAX_N: usize = 6;

impl Default for Options {
    fn default() -> Self {
        Options {
            estimator: None,
            max_n: DEFAULT_MAX_N,
        }
    }
}

/// Per-bag sums of one bag: of products of f, and of products of the centred conditional covariance entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Sums {
    pub f: Option<BagSums>,
    pub s: Option<BagSums>,
}

impl Sums {
    fn merge(&mut self, other: &Sums) {
        if let (Some(a), Some(b)) = (&mut self.f, &other.f) {
            a.merge(b);
        }
        if let (Some(a), Some(b)) = (&mut self.s, &other.s) {
            a.merge(b);
        }
    }

    /// Networks in the bag.
    pub fn count(&self) -> u64 {
        self.f.as_ref().or(self.s.as_ref()).map_or(0, |b| b.count)
    }
}

/// Per-bag sums of one configuration, gathered from all its shards.
#[derive(Debug, Clone)]
pub struct BagMoments {
    pub cfg: Config,
    /// Sample parameters without the bag range (identical across shards).
    pub sample_params: serde_json::Value,
    /// Content hashes of the input artifacts, in the order given.
    pub inputs: Vec<String>,
    /// The product tree over (output, point) legs, orders 2..=max_n.
    pub tree: Tree,
    /// The conditional estimator's tree over S entries (when it is computed).
    pub conditional: Option<Conditional>,
    /// The estimators computed (resolved: never `None`).
    pub choice: Choice,
    pub max_n: usize,
    /// Bag index -> sums, ordered by bag.
    pub bags: BTreeMap<u32, Sums>,
}

/// Name of the conditional covariance column of points p <= q (DESIGN.md "Artifact contracts").
pub fn s_column(p: usize, q: usize) -> String {
    format!("s_{p}_{q}")
}

/// Which of the covariance columns `s_<p>_<q>` a sample schema has: `Ok(true)` all, `Ok(false)` none, an error
/// naming the missing ones when some are.
fn has_s_columns(path: &Path, schema: &SchemaRef, p: usize) -> Result<bool> {
    let names: Vec<String> = (0..n_entries(p))
        .map(|e| {
            let (a, b) = entry_points(p, e);
            s_column(a, b)
        })
        .collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| schema.field_with_name(n).is_err())
        .collect();
    if missing.len() == names.len() {
        return Ok(false);
    }
    if !missing.is_empty() {
        bail!(
            "{}: the conditional covariance columns are incomplete: {} of {} missing ({})",
            path.display(),
            missing.len(),
            names.len(),
            missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let required: Vec<(&str, DataType)> = names.iter().map(|n| (n.as_str(), DataType::Float64)).collect();
    check_columns(path, schema, &required)?;
    Ok(true)
}

/// "s_0_0 ... s_5_5" for P points.
fn s_range(p: usize) -> String {
    format!("{} ... {}", s_column(0, 0), s_column(p - 1, p - 1))
}

fn config_key(params: &serde_json::Value) -> serde_json::Value {
    let mut p = params.clone();
    if let Some(o) = p.as_object_mut() {
        o.remove("bags");
    }
    p
}

/// Verifies, opens and accumulates every input with the default [`Options`]; errors name the file and the problem.
pub fn accumulate_inputs(inputs: &[PathBuf]) -> Result<BagMoments> {
    accumulate(inputs, &Options::default())
}

/// Verifies, opens and accumulates every input; errors name the file and the problem.
pub fn accumulate(inputs: &[PathBuf], opts: &Options) -> Result<BagMoments> {
    if !MAX_N_CHOICES.contains(&opts.max_n) {
        bail!("--max-n {}: must be one of {MAX_N_CHOICES:?}", opts.max_n);
    }
    let mut first: Option<(PathBuf, serde_json::Value)> = None;
    let mut hashes = Vec::new();
    let mut files = Vec::new();
    let mut bag_count = 0;
    for dir in inputs {
        verify(dir).with_context(|| format!("input {}", dir.display()))?;
        hashes.push(nnqft_store::content_hash(dir)?);
        let path = dir.join(nnqft_sample::TABLE);
        let (meta, builder) = open_table(&path, nnqft_sample::STAGE, &[])?;
        let key = config_key(&meta.params);
        match &first {
            None => first = Some((path.clone(), key)),
            Some((p0, k0)) if *k0 != key => {
                // Every key either side has (a key one side lacks shows as null there).
                let mut keys: Vec<&String> = k0
                    .as_object()
                    .into_iter()
                    .chain(key.as_object())
                    .flat_map(|o| o.keys())
                    .collect();
                keys.sort();
                keys.dedup();
                let null = serde_json::Value::Null;
                let differ: Vec<&String> = keys
                    .into_iter()
                    .filter(|k| k0.get(k.as_str()) != key.get(k.as_str()))
                    .collect();
                if differ.len() == 1 && differ[0] == "covariance" {
                    let (with, without) = if nnqft_sample::has_covariance(k0) {
                        (p0, &path)
                    } else {
                        (&path, p0)
                    };
                    bail!(
                        "inputs mix samples with the conditional covariance columns ({}: {}) and without them ({}); \
                         the shards of one moments call must be sampled alike (--covariance)",
                        s_range(nnqft_sample::config_from_params(k0)?.n_points()),
                        with.display(),
                        without.display()
                    );
                }
                let diff: Vec<String> = differ
                    .iter()
                    .map(|k| {
                        format!(
                            "{k}: {} vs {}",
                            k0.get(k.as_str()).unwrap_or(&null),
                            key.get(k.as_str()).unwrap_or(&null)
                        )
                    })
                    .collect();
                bail!(
                    "inputs {} and {} come from different configurations ({}); one moments call takes shards of \
                     one configuration",
                    p0.display(),
                    path.display(),
                    diff.join(", ")
                );
            }
            _ => {}
        }
        let n_rg = builder.metadata().num_row_groups();
        bag_count += shard_bags(&meta.params);
        files.push((path, builder.schema().clone(), n_rg));
    }
    let (_, sample_params) = first.context("no input given")?;
    let cfg = nnqft_sample::config_from_params(&sample_params)?;
    let n_nets = sample_params["n_nets"].as_u64().context("n_nets")?;
    // One column per (output, point), output-major: column c is output c / P at point c % P.
    let p = cfg.n_points() * cfg.d_out();
    let mut required = vec![
        ("bag".to_string(), DataType::UInt32),
        ("net".to_string(), DataType::UInt32),
    ];
    required.extend((0..p).map(|c| (column_name(&cfg, c), DataType::Float64)));
    let required_ref: Vec<(&str, DataType)> = required.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    for (path, schema, _) in &files {
        check_columns(path, schema, &required_ref)?;
    }
    let mut with_s = Vec::new();
    let mut without_s = Vec::new();
    for (path, schema, _) in &files {
        if has_s_columns(path, schema, cfg.n_points())? {
            with_s.push(path.display().to_string());
        } else {
            without_s.push(path.display().to_string());
        }
    }
    let names = s_range(cfg.n_points());
    let choice = match opts.estimator {
        Some(Choice::Products) => Choice::Products,
        asked if !with_s.is_empty() && !without_s.is_empty() => bail!(
            "inputs mix samples with the conditional covariance columns ({names}: {}) and without them ({}); \
             the {} estimator needs them in every shard: sample the shards alike, or give --estimator products",
            with_s.join(", "),
            without_s.join(", "),
            asked.unwrap_or(Choice::Both).name()
        ),
        Some(c) if without_s.is_empty() => c,
        None if without_s.is_empty() => Choice::Both,
        None => Choice::Products,
        Some(c) => bail!(
            "--estimator {}: the conditional-Gaussian estimator needs the conditional covariance columns {names} \
             (PHYSICS.md 9), which {} lack(s); sample with --covariance true (the default), or give --estimator \
             products",
            c.name(),
            without_s.join(", ")
        ),
    };
    let max_n = opts.max_n;
    let tasks: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, (_, _, n))| (0..*n).map(move |rg| (f, rg)))
        .collect();
    let work = Work::new(
        &cfg,
        max_n,
        choice.products(),
        choice.conditional(),
        tasks.len(),
        bag_count,
        bag_count * n_nets,
    );
    work.check_memory()?;
    if choice.conditional() && n_nets < (max_n / 2) as u64 {
        bail!(
            "n_nets = {n_nets}: the conditional estimator's k-statistics of order {} need at least {} networks per \
             bag (or give --estimator products)",
            max_n / 2,
            max_n / 2
        );
    }
    let progress = Progress::start(&work, rayon::current_num_threads());
    let orders: Vec<usize> = (1..=max_n / 2).map(|m| 2 * m).collect();
    let tree = Tree::with_orders(p, &orders);
    let conditional = choice
        .conditional()
        .then(|| Conditional::new(cfg.n_points(), cfg.d_out(), max_n, &kernel::k_matrix(&cfg)));
    let trees = Trees {
        f: choice.products().then_some(&tree),
        s: conditional.as_ref(),
    };
    let partials: Vec<Vec<(u32, Sums)>> = tasks
        .par_iter()
        .map(|&(f, rg)| {
            let sums = row_group_sums(&files[f].0, rg, &cfg, &trees);
            progress.tick();
            sums
        })
        .collect::<Result<_>>()?;
    let mut bags: BTreeMap<u32, Sums> = BTreeMap::new();
    let mut owner: BTreeMap<u32, usize> = BTreeMap::new();
    for (&(f, _), part) in tasks.iter().zip(partials) {
        for (bag, sums) in part {
            match owner.get(&bag) {
                Some(&g) if g != f => bail!(
                    "bag {bag} appears in both {} and {}; shards must hold disjoint bags",
                    files[g].0.display(),
                    files[f].0.display()
                ),
                _ => {
                    owner.insert(bag, f);
                }
            }
            match bags.get_mut(&bag) {
                Some(b) => b.merge(&sums),
                None => {
                    bags.insert(bag, sums);
                }
            }
        }
    }
    for (bag, s) in &bags {
        if s.count() != n_nets {
            bail!(
                "bag {bag} of {} has {} networks but n_nets = {n_nets}",
                files[owner[bag]].0.display(),
                s.count()
            );
        }
    }
    if bags.len() < 2 {
        bail!(
            "only {} bag(s) in the inputs: at least 2 bags are needed for error bars",
            bags.len()
        );
    }
    Ok(BagMoments {
        cfg,
        sample_params,
        inputs: hashes,
        tree,
        conditional,
        choice,
        max_n,
        bags,
    })
}

impl BagMoments {
    /// Sums of products of f gathered elsewhere (in memory, say): the products estimator alone, up to the largest
    /// order of `tree` (whose orders must be 2, 4, ..., max).
    pub fn products(
        cfg: Config,
        sample_params: serde_json::Value,
        inputs: Vec<String>,
        tree: Tree,
        bags: BTreeMap<u32, BagSums>,
    ) -> Self {
        let max_n = tree.max_order();
        BagMoments {
            cfg,
            sample_params,
            inputs,
            tree,
            conditional: None,
            choice: Choice::Products,
            max_n,
            bags: bags
                .into_iter()
                .map(|(b, f)| (b, Sums { f: Some(f), s: None }))
                .collect(),
        }
    }

    /// The products sums of every bag, in bag order (empty without the products estimator).
    pub fn product_sums(&self) -> Vec<&BagSums> {
        self.bags.values().filter_map(|s| s.f.as_ref()).collect()
    }
}

/// The trees a run accumulates.
struct Trees<'a> {
    f: Option<&'a Tree>,
    s: Option<&'a Conditional>,
}

/// The sample column of column index `c` (output c / P at point c % P).
fn column_name(cfg: &Config, c: usize) -> String {
    nnqft_sample::column_name(cfg.d_out(), c / cfg.n_points(), c % cfg.n_points())
}

/// Bags in a sample shard: the length of its `bags` range (all `n_bags` when it has none).
fn shard_bags(params: &serde_json::Value) -> u64 {
    let range = params["bags"]
        .as_array()
        .and_then(|r| Some((r.first()?.as_u64()?, r.get(1)?.as_u64()?)));
    match range {
        Some((a, b)) => b.saturating_sub(a),
        None => params["n_bags"].as_u64().unwrap_or(0),
    }
}

/// Sums of one row group, split by bag (runs of equal `bag` values, in row order).
fn row_group_sums(path: &Path, rg: usize, cfg: &Config, trees: &Trees<'_>) -> Result<Vec<(u32, Sums)>> {
    let p = if trees.f.is_some() {
        cfg.n_points() * cfg.d_out()
    } else {
        0
    };
    let s_names: Vec<String> = match trees.s {
        Some(_) => (0..n_entries(cfg.n_points()))
            .map(|e| {
                let (a, b) = entry_points(cfg.n_points(), e);
                s_column(a, b)
            })
            .collect(),
        None => Vec::new(),
    };
    let (_, builder) = open_table(path, nnqft_sample::STAGE, &[])?;
    // Only the columns this run uses (a products run skips the covariance columns, 21 of 29 at 6 points).
    let f_names: Vec<String> = (0..p).map(|c| column_name(cfg, c)).collect();
    let used = std::iter::once("bag")
        .chain(f_names.iter().map(|s| s.as_str()))
        .chain(s_names.iter().map(|s| s.as_str()));
    let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), used);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(vec![rg])
        .with_batch_size(1 << 16)
        .build()?;
    let mut out: Vec<(u32, Sums)> = Vec::new();
    let mut centred: Vec<Vec<f64>> = vec![Vec::new(); s_names.len()];
    for batch in read_all(path, reader)? {
        let bag = column::<UInt32Array>(path, &batch, "bag")?;
        let cols: Vec<&Float64Array> = f_names
            .iter()
            .map(|c| column::<Float64Array>(path, &batch, c))
            .collect::<Result<_, _>>()?;
        let s_cols: Vec<&Float64Array> = s_names
            .iter()
            .map(|c| column::<Float64Array>(path, &batch, c))
            .collect::<Result<_, _>>()?;
        if cols.iter().chain(&s_cols).any(|c| c.null_count() > 0) || bag.null_count() > 0 {
            bail!("{}: null values in the sample table", path.display());
        }
        let bags = bag.values();
        let mut start = 0;
        while start < bags.len() {
            let b = bags[start];
            let mut end = start;
            while end < bags.len() && bags[end] == b {
                end += 1;
            }
            if out.last().is_none_or(|(last, _)| *last != b) {
                out.push((
                    b,
                    Sums {
                        f: trees.f.map(|t| BagSums::new(t.combos().len())),
                        s: trees.s.map(|c| BagSums::new(c.n_slots())),
                    },
                ));
            }
            let sums = &mut out.last_mut().expect("pushed").1;
            if let (Some(tree), Some(f)) = (trees.f, &mut sums.f) {
                let slices: Vec<&[f64]> = cols.iter().map(|c| &c.values()[start..end]).collect();
                tree.accumulate(&slices, f);
            }
            if let (Some(cond), Some(s)) = (trees.s, &mut sums.s) {
                for (e, (col, buf)) in s_cols.iter().zip(&mut centred).enumerate() {
                    buf.clear();
                    buf.extend_from_slice(&col.values()[start..end]);
                    cond.centred(e, buf);
                }
                let slices: Vec<&[f64]> = centred.iter().map(|c| c.as_slice()).collect();
                cond.accumulate(&slices, s);
            }
            start = end;
        }
    }
    Ok(out)
}

/// The exact theory a configuration has (PHYSICS.md 4 and 10), if any.
enum Oracle {
    /// One hidden layer: every activation at d = 1, GaussNet at any d, any number of outputs.
    Shallow(Box<Exact>),
    /// ReLU without biases at points along one ray: any depth.
    Relu(ReluExact),
    None,
}

/// Largest order of the deep ReLU exact values (nnqft_physics::relu_exact has n <= 6; its eight-point rows have
/// null exact columns). One hidden layer has every order up to 8 (nnqft_physics::exact8).
const RELU_EXACT_MAX_N: usize = 6;

impl Oracle {
    /// (g_exact, delta_g_exact, connected_exact) of the legs (points, outputs); `g_free` is the Wick value.
    fn values(
        &self,
        points: &[usize],
        outs: &[usize],
        g_free: f64,
    ) -> (Option<f64>, Option<f64>, Option<f64>) {
        match self {
            // Eight legs: all four functions by one set-partition sum (nnqft_physics::exact8).
            Oracle::Shallow(e) if points.len() > 6 => {
                let f = e.functions_legs(points, outs);
                (Some(f.g), Some(f.delta_g), Some(f.connected))
            }
            Oracle::Relu(_) if points.len() > RELU_EXACT_MAX_N => (None, None, None),
            // One output: the original calls, so that the bytes of one-output artifacts stay what they were.
            Oracle::Shallow(e) if outs.iter().all(|&o| o == 0) => (
                Some(e.g(points)),
                Some(e.delta_g(points)),
                Some(e.connected(points)),
            ),
            Oracle::Shallow(e) => (
                Some(e.g_legs(points, outs)),
                Some(e.delta_g_legs(points, outs)),
                Some(e.connected_legs(points, outs)),
            ),
            Oracle::Relu(r) => {
                let g = r.g_legs(points, outs);
                (Some(g), Some(g - g_free), Some(r.connected_legs(points, outs)))
            }
            Oracle::None => (None, None, None),
        }
    }
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var.sqrt())
}

/// What both estimators' rows of one (n, multiset) share.
struct Legs {
    n: usize,
    /// Leg columns c = o * P + p.
    idx: Vec<usize>,
    points: Vec<usize>,
    outs: Vec<usize>,
    g_free: f64,
    exact: (Option<f64>, Option<f64>, Option<f64>),
    /// The a-priori log-normal rule (GaussNet), [`nnqft_physics::moments::lognormal_budget`].
    budget: Option<f64>,
}

impl Legs {
    fn row(&self, estimator: Estimator, g_bag: Vec<f64>, conn_bag: Vec<f64>, tail: TailStats) -> MomentRow {
        let (g_exp, bag_std) = mean_std(&g_bag);
        let (connected, conn_std) = mean_std(&conn_bag);
        let nb = (g_bag.len() as f64).sqrt();
        let resolvable = crate::tail::ess_ok(&tail, self.n)
            && self
                .budget
                .is_none_or(|b| b >= nnqft_physics::moments::TAIL_SAFETY);
        let delta_g = g_exp - self.g_free;
        MomentRow {
            estimator,
            n: self.n as u8,
            combo: self.points.iter().map(|&q| q as u16).collect(),
            outputs: self.outs.iter().map(|&o| o as u16).collect(),
            g_exp,
            g_free: self.g_free,
            delta_g,
            m: delta_g / self.g_free,
            bag_std,
            stderr: bag_std / nb,
            connected,
            connected_stderr: conn_std / nb,
            g_exact: self.exact.0,
            delta_g_exact: self.exact.1,
            connected_exact: self.exact.2,
            ess: tail.ess,
            max_share: tail.max_share,
            tail_ratio: self.budget,
            resolvable,
            g_bag,
            connected_bag: conn_bag,
        }
    }
}

/// One term of the moment-cumulant formula of an eight-point function per bag: coefficient times constant
/// factors (K) times measured per-bag functions (slots); `pair` is a 4|4 split, whose product of two measured
/// four-point functions of the same bag is taken unbiased, (n mu_A mu_B - mu_8) / (n - 1).
struct Term8 {
    coef: f64,
    k: f64,
    slots: Vec<usize>,
    pair: Option<(usize, usize)>,
}

/// Turns per-bag sums into the moments table.
pub fn summarise(acc: &BagMoments) -> Result<Moments> {
    let cfg = &acc.cfg;
    let (products, conditional) = (acc.choice.products(), acc.choice.conditional());
    announce_summary(&Work::new(
        cfg,
        acc.max_n,
        products,
        conditional,
        0,
        acc.bags.len() as u64,
        0,
    ));
    let combos = acc.tree.combos();
    let kmat = kernel::k_matrix(cfg);
    let p = cfg.n_points();
    // Legs are columns c = o * P + p (output o at point p); K between legs is delta_(o o') K(x_p, x_q).
    let k = |a: usize, b: usize| {
        if a / p == b / p {
            kmat[(a % p) * p + b % p]
        } else {
            0.0
        }
    };
    let exact = if exact::supported(cfg) {
        Oracle::Shallow(Box::new(Exact::new(cfg)?))
    } else if let Some(r) = ReluExact::new(cfg) {
        Oracle::Relu(r)
    } else {
        Oracle::None
    };
    let bag_list: Vec<u32> = acc.bags.keys().copied().collect();
    let n_nets = acc.bags.values().next().map_or(0, |b| b.count());
    let hidden = bag_list.len() as f64 * n_nets as f64 * cfg.width() as f64;
    let legs: Vec<Legs> = combos
        .iter()
        .map(|(n, combo)| {
            let idx: Vec<usize> = combo.iter().map(|&a| a as usize).collect();
            let points: Vec<usize> = idx.iter().map(|c| c % p).collect();
            let outs: Vec<usize> = idx.iter().map(|c| c / p).collect();
            let g_free = wick(*n, |a, b| k(idx[a], idx[b]));
            let point_combo: Vec<u16> = points.iter().map(|&q| q as u16).collect();
            let budget = nnqft_physics::moments::lognormal_budget(cfg, &point_combo, hidden);
            let exact = exact.values(&points, &outs, g_free);
            Legs {
                n: *n,
                idx,
                points,
                outs,
                g_free,
                exact,
                budget,
            }
        })
        .collect();
    let mut rows = Vec::with_capacity(combos.len() * (products as usize + conditional as usize));
    if products {
        rows.extend(product_rows(acc, &legs, &k)?);
    }
    if let Some(cond) = &acc.conditional {
        let sums: Vec<&BagSums> = acc
            .bags
            .values()
            .map(|b| b.s.as_ref().context("conditional sums of a bag"))
            .collect::<Result<_>>()?;
        // A row whose every pairing crosses outputs is exactly 0 whatever the sample: no tail to speak of.
        let zero = TailStats {
            ess: bag_list.len() as f64 * n_nets as f64,
            max_share: 0.0,
        };
        // Rows are independent: summarised in parallel, collected in order.
        let cond_rows: Vec<MomentRow> = legs
            .par_iter()
            .enumerate()
            .map(|(slot, l)| {
                let plan = cond.plan(slot);
                let (g_bag, conn_bag) = cond.row(&plan, &sums);
                let tail = cond.tail(&plan, &sums).unwrap_or(zero);
                l.row(Estimator::Conditional, g_bag, conn_bag, tail)
            })
            .collect();
        rows.extend(cond_rows);
    }
    Ok(Moments {
        sample_params: acc.sample_params.clone(),
        inputs: acc.inputs.clone(),
        bags: bag_list,
        estimator: acc.choice.name().to_string(),
        max_n: acc.max_n,
        rows,
    })
}

/// The rows of the products estimator: averages of products of f per bag, connected parts by the
/// moment-cumulant formula.
fn product_rows(acc: &BagMoments, legs: &[Legs], k: &dyn Fn(usize, usize) -> f64) -> Result<Vec<MomentRow>> {
    let cfg = &acc.cfg;
    let combos = acc.tree.combos();
    // With two or more hidden layers the two-point function differs from the infinite-width K at O(1/n), as
    // much as G_c^(4) itself, so the connected parts subtract the measured two-point functions of the same bag.
    let measured_legs = cfg.depth() > 1;
    let index = Index::new(&combos.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>());
    let sums: Vec<&BagSums> = acc
        .bags
        .values()
        .map(|b| b.f.as_ref().context("product sums of a bag"))
        .collect::<Result<_>>()?;
    let n_bags = sums.len();
    // Per-bag means of every slot.
    let per_bag: Vec<Vec<f64>> = (0..combos.len())
        .map(|s| sums.iter().map(|b| b.sum[s] / b.count as f64).collect())
        .collect();
    let n_nets = sums.first().map_or(0, |b| b.count) as f64;
    let mut rows = Vec::with_capacity(combos.len());
    let g2_slot = |a: u16, b: u16| index.get(&[a, b]).expect("2-point multiset");
    let pairs6 = pairings(6);
    let parts8: Vec<Vec<Vec<usize>>> = if acc.max_n >= 8 {
        even_partitions(8)
    } else {
        Vec::new()
    };
    for (slot, ((n, combo), l)) in combos.iter().zip(legs).enumerate() {
        let idx = &l.idx;
        let g_free = l.g_free;
        // Slot of the two-point function of legs (x, y), looked up once per multiset rather than once per bag.
        let s2: Vec<usize> = if measured_legs && *n > 2 {
            (0..n * n)
                .map(|xy| g2_slot(combo[xy / n], combo[xy % n]))
                .collect()
        } else {
            Vec::new()
        };
        // Connected part per bag (linear in the bag's G's for n <= 6 with one layer, so its mean is the
        // connected part of the means).
        let conn_bag: Vec<f64> = match n {
            2 => per_bag[slot].clone(),
            4 if measured_legs => (0..n_bags)
                .map(|b| per_bag[slot][b] - wick(4, |x, y| per_bag[s2[x * 4 + y]][b]))
                .collect(),
            6 if measured_legs => {
                let legs: Vec<(usize, usize)> = pair_and_rest6()
                    .into_iter()
                    .map(|((a, b), r)| {
                        let sub = [combo[r[0]], combo[r[1]], combo[r[2]], combo[r[3]]];
                        (index.get(&sub).expect("4-point multiset"), s2[a * 6 + b])
                    })
                    .collect();
                (0..n_bags)
                    .map(|b| {
                        let g2 = |x: usize, y: usize| per_bag[s2[x * 6 + y]][b];
                        let g4g2: f64 = legs.iter().map(|&(s4, t2)| per_bag[s4][b] * per_bag[t2][b]).sum();
                        let g222: f64 = pairs6
                            .iter()
                            .map(|pr| pr.iter().map(|&(x, y)| g2(x, y)).product::<f64>())
                            .sum();
                        per_bag[slot][b] - g4g2 + 2.0 * g222
                    })
                    .collect()
            }
            4 => per_bag[slot].iter().map(|g| g - g_free).collect(),
            6 => {
                let kkk: f64 = wick(6, |a, b| k(idx[a], idx[b]));
                let legs: Vec<(usize, f64)> = pair_and_rest6()
                    .into_iter()
                    .map(|((a, b), r)| {
                        let sub = [combo[r[0]], combo[r[1]], combo[r[2]], combo[r[3]]];
                        (index.get(&sub).expect("4-point multiset"), k(idx[a], idx[b]))
                    })
                    .collect();
                (0..n_bags)
                    .map(|b| {
                        let g4k: f64 = legs.iter().map(|&(s4, kk)| per_bag[s4][b] * kk).sum();
                        per_bag[slot][b] - g4k + 2.0 * kkk
                    })
                    .collect()
            }
            8 => {
                // kappa_8 = sum over the even set partitions pi of (-1)^(|pi|-1) (|pi|-1)! prod_B mu_B, with
                // mu_2 = K (one layer) or the bag's measured two-point function (deep).
                let terms: Vec<Term8> = parts8
                    .iter()
                    .map(|pi| {
                        let blocks = pi.len();
                        let coef = [1.0, -1.0, 2.0, -6.0][blocks - 1];
                        let mut t = Term8 {
                            coef,
                            k: 1.0,
                            slots: Vec::new(),
                            pair: None,
                        };
                        let sub_slot = |blk: &[usize]| {
                            let sub: Vec<u16> = blk.iter().map(|&x| combo[x]).collect();
                            index.get(&sub).expect("sub-multiset of an 8-point multiset")
                        };
                        if blocks == 2 && pi[0].len() == 4 {
                            t.pair = Some((sub_slot(&pi[0]), sub_slot(&pi[1])));
                            return t;
                        }
                        for blk in pi {
                            if blk.len() == 2 && !measured_legs {
                                t.k *= k(idx[blk[0]], idx[blk[1]]);
                            } else {
                                t.slots.push(sub_slot(blk));
                            }
                        }
                        t
                    })
                    .collect();
                (0..n_bags)
                    .map(|b| {
                        terms
                            .iter()
                            .map(|t| {
                                let measured = match t.pair {
                                    Some((a, c)) => {
                                        (n_nets * per_bag[a][b] * per_bag[c][b] - per_bag[slot][b])
                                            / (n_nets - 1.0)
                                    }
                                    None => t.slots.iter().map(|&s| per_bag[s][b]).product::<f64>(),
                                };
                                t.coef * t.k * measured
                            })
                            .sum()
                    })
                    .collect()
            }
            _ => unreachable!("orders are 2, 4, 6, 8"),
        };
        let tail = TailStats::pooled_refs(&sums, slot);
        rows.push(l.row(Estimator::Products, per_bag[slot].clone(), conn_bag, tail));
    }
    Ok(rows)
}
