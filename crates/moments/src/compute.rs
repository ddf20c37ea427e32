//! Reading sample shards into per-bag sums, and turning those into Green functions.

use crate::table::{MomentRow, Moments};
use crate::work::{Progress, Work, announce_summary};
use anyhow::{Context, Result, bail};
use arrow_array::{Array, Float64Array, UInt32Array};
use arrow_schema::DataType;
use nnqft_physics::Config;
use nnqft_physics::combos::{Index, pair_and_rest6, pairings};
use nnqft_physics::exact::{self, Exact, wick};
use nnqft_physics::kernel;
use nnqft_physics::moments::{BagSums, TailStats, Tree};
use nnqft_physics::relu_exact::ReluExact;
use nnqft_store::{check_columns, column, open_table, read_all, verify};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Per-bag sums of one configuration, gathered from all its shards.
#[derive(Debug, Clone)]
pub struct BagMoments {
    pub cfg: Config,
    /// Sample parameters without the bag range (identical across shards).
    pub sample_params: serde_json::Value,
    /// Content hashes of the input artifacts, in the order given.
    pub inputs: Vec<String>,
    pub tree: Tree,
    /// Bag index -> sums, ordered by bag.
    pub bags: BTreeMap<u32, BagSums>,
}

fn config_key(params: &serde_json::Value) -> serde_json::Value {
    let mut p = params.clone();
    if let Some(o) = p.as_object_mut() {
        o.remove("bags");
    }
    p
}

/// Verifies, opens and accumulates every input; errors name the file and the problem.
pub fn accumulate_inputs(inputs: &[PathBuf]) -> Result<BagMoments> {
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
                let diff: Vec<String> = k0
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| key.get(k.as_str()) != Some(v))
                    .map(|(k, v)| {
                        format!(
                            "{k}: {v} vs {}",
                            key.get(k.as_str()).unwrap_or(&serde_json::Value::Null)
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
    let tasks: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, (_, _, n))| (0..*n).map(move |rg| (f, rg)))
        .collect();
    let work = Work::new(&cfg, tasks.len(), bag_count, bag_count * n_nets);
    work.check_memory()?;
    let progress = Progress::start(&work, rayon::current_num_threads());
    let tree = Tree::new(p);
    let partials: Vec<Vec<(u32, BagSums)>> = tasks
        .par_iter()
        .map(|&(f, rg)| {
            let sums = row_group_sums(&files[f].0, rg, &cfg, &tree);
            progress.tick();
            sums
        })
        .collect::<Result<_>>()?;
    let mut bags: BTreeMap<u32, BagSums> = BTreeMap::new();
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
        if s.count != n_nets {
            bail!(
                "bag {bag} of {} has {} networks but n_nets = {n_nets}",
                files[owner[bag]].0.display(),
                s.count
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
        bags,
    })
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
fn row_group_sums(path: &Path, rg: usize, cfg: &Config, tree: &Tree) -> Result<Vec<(u32, BagSums)>> {
    let p = cfg.n_points() * cfg.d_out();
    let (_, builder) = open_table(path, nnqft_sample::STAGE, &[])?;
    let reader = builder
        .with_row_groups(vec![rg])
        .with_batch_size(1 << 16)
        .build()?;
    let mut out: Vec<(u32, BagSums)> = Vec::new();
    for batch in read_all(path, reader)? {
        let bag = column::<UInt32Array>(path, &batch, "bag")?;
        let cols: Vec<&Float64Array> = (0..p)
            .map(|c| column::<Float64Array>(path, &batch, &column_name(cfg, c)))
            .collect::<Result<_, _>>()?;
        if cols.iter().any(|c| c.null_count() > 0) || bag.null_count() > 0 {
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
            let slices: Vec<&[f64]> = cols.iter().map(|c| &c.values()[start..end]).collect();
            if out.last().is_none_or(|(last, _)| *last != b) {
                out.push((b, BagSums::new(tree.combos().len())));
            }
            let sums = &mut out.last_mut().expect("pushed").1;
            tree.accumulate(&slices, sums);
            start = end;
        }
    }
    Ok(out)
}

/// The exact theory a configuration has (PHYSICS.md 4 and 10), if any.
enum Oracle {
    /// One hidden layer: every activation at d = 1, GaussNet at any d, any number of outputs.
    Shallow(Exact),
    /// ReLU without biases at points along one ray: any depth.
    Relu(ReluExact),
    None,
}

impl Oracle {
    /// (g_exact, delta_g_exact, connected_exact) of the legs (points, outputs); `g_free` is the Wick value.
    fn values(
        &self,
        points: &[usize],
        outs: &[usize],
        g_free: f64,
    ) -> (Option<f64>, Option<f64>, Option<f64>) {
        match self {
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

/// Turns per-bag sums into the moments table.
pub fn summarise(acc: &BagMoments) -> Result<Moments> {
    let cfg = &acc.cfg;
    announce_summary(&Work::new(cfg, 0, acc.bags.len() as u64, 0));
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
        Oracle::Shallow(Exact::new(cfg)?)
    } else if let Some(r) = ReluExact::new(cfg) {
        Oracle::Relu(r)
    } else {
        Oracle::None
    };
    // With two or more hidden layers the two-point function differs from the infinite-width K at O(1/n), as
    // much as G_c^(4) itself, so the connected parts subtract the measured two-point functions of the same bag.
    let measured_legs = cfg.depth() > 1;
    let index = Index::new(&combos.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>());
    let bag_list: Vec<u32> = acc.bags.keys().copied().collect();
    let sums: Vec<&BagSums> = acc.bags.values().collect();
    // Per-bag means of every slot.
    let per_bag: Vec<Vec<f64>> = (0..combos.len())
        .map(|s| sums.iter().map(|b| b.sum[s] / b.count as f64).collect())
        .collect();
    let pooled: Vec<BagSums> = acc.bags.values().cloned().collect();
    let n_nets = sums.first().map_or(0, |b| b.count);
    let mut rows = Vec::with_capacity(combos.len());
    let g2_slot = |a: u16, b: u16| index.get(&[a, b]).expect("2-point multiset");
    let pairs6 = pairings(6);
    for (slot, (n, combo)) in combos.iter().enumerate() {
        let idx: Vec<usize> = combo.iter().map(|&a| a as usize).collect();
        let points: Vec<usize> = idx.iter().map(|c| c % p).collect();
        let outs: Vec<usize> = idx.iter().map(|c| c / p).collect();
        let g_free = wick(*n, |a, b| k(idx[a], idx[b]));
        // Slot of the two-point function of legs (x, y), looked up once per multiset rather than once per bag.
        let s2: Vec<usize> = if measured_legs && *n > 2 {
            (0..n * n)
                .map(|xy| g2_slot(combo[xy / n], combo[xy % n]))
                .collect()
        } else {
            Vec::new()
        };
        // Connected part per bag (linear in the bag's G's, so its mean is the connected part of the means).
        let conn_bag: Vec<f64> = match n {
            2 => per_bag[slot].clone(),
            4 if measured_legs => (0..bag_list.len())
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
                (0..bag_list.len())
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
                (0..bag_list.len())
                    .map(|b| {
                        let g4k: f64 = legs.iter().map(|&(s4, kk)| per_bag[s4][b] * kk).sum();
                        per_bag[slot][b] - g4k + 2.0 * kkk
                    })
                    .collect()
            }
            _ => unreachable!("orders are 2, 4, 6"),
        };
        let (g_exp, bag_std) = mean_std(&per_bag[slot]);
        let (connected, conn_std) = mean_std(&conn_bag);
        let nb = (bag_list.len() as f64).sqrt();
        let tail = TailStats::pooled(&pooled, slot);
        let hidden = bag_list.len() as f64 * n_nets as f64 * cfg.width() as f64;
        let point_combo: Vec<u16> = points.iter().map(|&q| q as u16).collect();
        let budget = nnqft_physics::moments::lognormal_budget(cfg, &point_combo, hidden);
        let resolvable =
            tail.resolvable(*n) && budget.is_none_or(|b| b >= nnqft_physics::moments::TAIL_SAFETY);
        let delta_g = g_exp - g_free;
        let (g_exact, delta_g_exact, connected_exact) = exact.values(&points, &outs, g_free);
        rows.push(MomentRow {
            n: *n as u8,
            combo: point_combo,
            outputs: outs.iter().map(|&o| o as u16).collect(),
            g_exp,
            g_free,
            delta_g,
            m: delta_g / g_free,
            bag_std,
            stderr: bag_std / nb,
            connected,
            connected_stderr: conn_std / nb,
            g_exact,
            delta_g_exact,
            connected_exact,
            ess: tail.ess,
            max_share: tail.max_share,
            tail_ratio: budget,
            resolvable,
            g_bag: per_bag[slot].clone(),
        });
    }
    Ok(Moments {
        sample_params: acc.sample_params.clone(),
        inputs: acc.inputs.clone(),
        bags: bag_list,
        rows,
    })
}
