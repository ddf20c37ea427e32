//! Loading the moments artifacts of a sweep, checking that they differ only in the swept parameter, and
//! precomputing everything the coupling chain needs at each sweep point.

use anyhow::{Context, Result, bail};
use nnqft_moments::{Moments, read_moments};
use nnqft_physics::combos::{Index, pair_and_rest6};
use nnqft_physics::couplings::{Scales, tree_sum, vertex_integral};
use nnqft_physics::exact::wick;
use nnqft_physics::{Arch, Config, kernel};
use std::path::{Path, PathBuf};

pub use nnqft_contract::fit::Sweep;

/// One sweep point with its precomputed geometry.
#[derive(Debug, Clone)]
pub struct Point {
    pub dir: PathBuf,
    /// Value of the swept parameter (N, sigma_W, or 0).
    pub x: f64,
    pub cfg: Config,
    pub moments: Moments,
    /// Row indices of each order.
    pub rows2: Vec<usize>,
    pub rows4: Vec<usize>,
    pub rows6: Vec<usize>,
    /// N_K for each 4-point row (at the fit's cutoff for Erf/ReLU).
    pub nk4: Vec<f64>,
    /// int prod_6 K_W and sum_10 I for each 6-point row (GaussNet only).
    pub nk6: Vec<Option<f64>>,
    pub tree6: Vec<Option<f64>>,
    /// Disconnected legs of each 6-point row: (row of the 4-point rest, K of the pair), and the KKK sum.
    pub legs6: Vec<Vec<(usize, f64)>>,
    pub kkk6: Vec<f64>,
    pub scales: Scales,
    /// Orders (2, 4, 6) whose estimates the tail rule marks unresolvable somewhere at this point.
    pub unresolvable: Vec<u8>,
}

fn as_idx(c: &[u16]) -> Vec<usize> {
    c.iter().map(|&a| a as usize).collect()
}

/// N_K of every 4-point row (`rows4`) at a cutoff (`None`: the closed form of GaussNet).
pub fn nk4_at(
    cfg: &Config,
    moments: &Moments,
    rows4: &[usize],
    cutoff: Option<f64>,
) -> Result<Vec<f64>, nnqft_physics::Error> {
    rows4
        .iter()
        .map(|&r| vertex_integral(cfg, &as_idx(&moments.rows[r].combo), cutoff))
        .collect()
}

impl Point {
    pub fn load(dir: &Path, cutoff: Option<f64>) -> Result<Self> {
        let moments = read_moments(dir)?;
        let cfg = nnqft_sample::config_from_params(&moments.sample_params)
            .with_context(|| format!("{}: sample parameters", dir.display()))?;
        let order = |n: u8| -> Vec<usize> {
            (0..moments.rows.len())
                .filter(|&i| moments.rows[i].n == n)
                .collect()
        };
        let (rows2, rows4, rows6) = (order(2), order(4), order(6));
        let cut = if cfg.arch() == Arch::GaussNet {
            None
        } else {
            cutoff
        };
        let nk4 = nk4_at(&cfg, &moments, &rows4, cut).with_context(|| {
            format!(
                "{}: vertex integrals (give --cutoff for Erf and ReLU)",
                dir.display()
            )
        })?;
        let gauss = cfg.arch() == Arch::GaussNet;
        let nk6 = rows6
            .iter()
            .map(|&r| {
                if gauss {
                    vertex_integral(&cfg, &as_idx(&moments.rows[r].combo), None).ok()
                } else {
                    None
                }
            })
            .collect();
        let tree6 = rows6
            .iter()
            .map(|&r| tree_sum(&cfg, &as_idx(&moments.rows[r].combo)).ok())
            .collect();
        let combos4: Vec<Vec<u16>> = rows4.iter().map(|&r| moments.rows[r].combo.clone()).collect();
        let index4 = Index::new(&combos4);
        let p = cfg.n_points();
        let kmat = kernel::k_matrix(&cfg);
        let mut legs6 = Vec::new();
        let mut kkk6 = Vec::new();
        for &r in &rows6 {
            let c = &moments.rows[r].combo;
            let idx = as_idx(c);
            kkk6.push(wick(6, |a, b| kmat[idx[a] * p + idx[b]]));
            legs6.push(
                pair_and_rest6()
                    .into_iter()
                    .map(|((a, b), rest)| {
                        let sub = [c[rest[0]], c[rest[1]], c[rest[2]], c[rest[3]]];
                        let k4 = index4
                            .get(&sub)
                            .map(|i| rows4[i])
                            .context("four-point rest of a six-point combination")?;
                        Ok((k4, kmat[idx[a] * p + idx[b]]))
                    })
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        let mut unresolvable: Vec<u8> = moments
            .rows
            .iter()
            .filter(|r| !r.resolvable)
            .map(|r| r.n)
            .collect();
        unresolvable.sort_unstable();
        unresolvable.dedup();
        let scales = Scales::new(cfg.sigma_w(), cfg.d());
        Ok(Point {
            dir: dir.into(),
            x: 0.0,
            cfg,
            moments,
            rows2,
            rows4,
            rows6,
            nk4,
            nk6,
            tree6,
            legs6,
            kkk6,
            scales,
            unresolvable,
        })
    }
}

/// Loads and validates a sweep: every input must share every sample parameter except the swept one (and the
/// seed), and there must be at least two distinct values of it.
pub fn load(inputs: &[PathBuf], sweep: Sweep, cutoff: Option<f64>) -> Result<Vec<Point>> {
    if inputs.is_empty() {
        bail!("no input given");
    }
    check_count(sweep, inputs.len())?;
    let mut points: Vec<Point> = inputs
        .iter()
        .map(|d| Point::load(d, cutoff))
        .collect::<Result<_>>()?;
    let strip = |p: &Point| {
        let mut v = p.moments.sample_params.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("seed");
            o.remove("bags");
            if let Some(k) = sweep.key() {
                o.remove(k);
            }
        }
        v
    };
    let first = strip(&points[0]);
    for p in &points[1..] {
        let other = strip(p);
        if other != first && matches!(sweep, Sweep::Width | Sweep::SigmaW) {
            let diff: Vec<String> = first
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| other.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.clone())
                .collect();
            bail!(
                "{} and {} differ in {} besides the swept parameter {}: a sweep varies one parameter only",
                points[0].dir.display(),
                p.dir.display(),
                diff.join(", "),
                sweep.name()
            );
        }
    }
    for p in points.iter_mut() {
        p.x = match sweep {
            Sweep::Width => p.cfg.width() as f64,
            Sweep::SigmaW => p.cfg.sigma_w(),
            _ => 0.0,
        };
    }
    match sweep {
        Sweep::Width | Sweep::SigmaW => {
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            if let Some(w) = points.windows(2).find(|w| w[0].x == w[1].x) {
                bail!(
                    "{} and {} have the same {} = {}; give each sweep value once",
                    w[0].dir.display(),
                    w[1].dir.display(),
                    sweep.name(),
                    w[0].x
                );
            }
        }
        Sweep::Cutoff | Sweep::None => {}
    }
    Ok(points)
}

/// Whether `n` inputs suit the sweep: at least 2 for a width or sigma_W sweep, exactly 1 for a cutoff scan.
pub fn check_count(sweep: Sweep, n: usize) -> Result<()> {
    match sweep {
        Sweep::Width | Sweep::SigmaW if n < 2 => {
            bail!("a {} sweep needs at least 2 sweep points, got {n}", sweep.name())
        }
        Sweep::Cutoff if n != 1 => bail!("a cutoff scan takes exactly one moments input, got {n}"),
        _ => Ok(()),
    }
}
