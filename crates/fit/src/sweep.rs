//! Loading the moments artifacts of a sweep, checking that they differ only in the swept parameter, and
//! precomputing everything the coupling chain needs at each sweep point.

use anyhow::{Context, Result, bail};
use nnqft_contract::fit::Estimator;
use nnqft_moments::tail::ess_min;
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
    /// The estimator whose rows `moments` holds (only those).
    pub estimator: Estimator,
    /// Value of the swept parameter (N, sigma_W, or 0).
    pub x: f64,
    pub cfg: Config,
    pub moments: Moments,
    /// Row indices of each order.
    pub rows2: Vec<usize>,
    pub rows4: Vec<usize>,
    pub rows6: Vec<usize>,
    pub rows8: Vec<usize>,
    /// N_K for each 4-point row (at the fit's cutoff for Erf/ReLU).
    pub nk4: Vec<f64>,
    /// int prod_6 K_W and sum_10 I for each 6-point row (GaussNet only).
    pub nk6: Vec<Option<f64>>,
    pub tree6: Vec<Option<f64>>,
    /// Disconnected legs of each 6-point row: (row of the 4-point rest, K of the pair), and the KKK sum.
    pub legs6: Vec<Vec<(usize, f64)>>,
    pub kkk6: Vec<f64>,
    pub scales: Scales,
    /// Orders (2, 4, 6, 8) whose estimates the tail rule marks unresolvable somewhere at this point.
    pub unresolvable: Vec<u8>,
    /// The tail diagnostics of each order present (2, 4, 6, 8), smallest over its combinations.
    pub tails: Vec<OrderTail>,
}

/// Smallest a-priori log-normal budget, (hidden units drawn) / exp(n^2 s_max / 2), for a GaussNet n-point
/// quantity to enter a fit: the fit's own, stricter, form of the moments stage's `TAIL_SAFETY` (3000). Measured
/// in `tests/coverage.rs` (10 bags, sigma_b = 0.5, points up to 0.3): the 95% intervals of G_c^(4) cover 0.86-0.91
/// at budgets 6.6e3-1.6e4 (the estimates sit low, the rare large products missing from most samples), 0.93-0.94
/// at 2.6e4-6.6e4. A rule on the sample's own effective sample size cannot do this: a sample without the rare
/// products has a high effective sample size and a low estimate, so selecting by it keeps the intervals that
/// miss (measured: coverage 0.78 at N = 2 among the points such a rule kept).
/// Applies from four points on (where it was measured); two-point quantities keep the moments stage's rule.
pub const TAIL_FIT_MIN: f64 = 2.0e4;

/// The tail diagnostics of the moments stage (PHYSICS.md 8) for one order at one sweep point: the smallest over
/// its combinations, with the thresholds the tail rule compares them with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderTail {
    pub n: u8,
    /// Smallest effective sample size of the pooled products.
    pub ess: f64,
    /// The threshold of the tail rule for this order (`ESS_MIN`, `ESS_MIN_6` from six points on, `ESS_MIN_8` from
    /// eight).
    pub ess_min: f64,
    /// GaussNet: the smallest (hidden units drawn) / exp(n^2 s_max / 2); `None` for light-tailed activations.
    /// The fit requires [`OrderTail::tail_min`].
    pub tail_ratio: Option<f64>,
}

impl OrderTail {
    /// The threshold of `tail_ratio` in the fit: [`TAIL_FIT_MIN`] from four points on, the moments stage's
    /// `TAIL_SAFETY` below; `None` without a `tail_ratio`.
    pub fn tail_min(&self) -> Option<f64> {
        self.tail_ratio.map(|_| {
            if self.n >= 4 {
                TAIL_FIT_MIN
            } else {
                nnqft_physics::moments::TAIL_SAFETY
            }
        })
    }

    /// How far the order is from failing the tail rule: the smaller of ess / ess_min and tail_ratio / tail_min.
    pub fn margin(&self) -> f64 {
        let r = self.ess / self.ess_min;
        match (self.tail_ratio, self.tail_min()) {
            (Some(t), Some(m)) => r.min(t / m),
            _ => r,
        }
    }
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
    /// Reads a moments artifact and prepares its sweep point, one per estimator the table holds (products
    /// first). The geometry (vertex and tree integrals, disconnected legs) is computed once where the estimators' rows
    /// are the same multisets in the same order.
    pub fn load(dir: &Path, cutoff: Option<f64>) -> Result<Vec<Self>> {
        let moments = read_moments(dir)?;
        let mut points: Vec<Self> = vec![];
        for e in estimators(&moments) {
            let mut rows = moments.clone();
            rows.rows.retain(|r| r.estimator == e);
            let point = match points.first() {
                Some(first) if first.same_geometry(&rows) => Point {
                    estimator: e,
                    ..first.with_rows(rows)
                },
                _ => Self::new(dir, rows, cutoff, e)?,
            };
            points.push(point);
        }
        Ok(points)
    }

    /// Whether `moments` holds the same multisets (n, combination, outputs) as this point, in the same order.
    fn same_geometry(&self, moments: &Moments) -> bool {
        moments.rows.len() == self.moments.rows.len()
            && moments
                .rows
                .iter()
                .zip(&self.moments.rows)
                .all(|(a, b)| a.n == b.n && a.combo == b.combo && a.outputs == b.outputs)
    }

    /// This point's geometry with the rows of `moments` (checked by the callers: [`Self::same_geometry`]).
    fn with_rows(&self, moments: Moments) -> Self {
        let (unresolvable, tails) = tail_summary(&moments);
        Point {
            moments,
            unresolvable,
            tails,
            ..self.clone()
        }
    }

    /// The same sweep point with another moments table of its configuration (another seed, say): the geometry
    /// (vertex and tree integrals, disconnected legs) is kept; the rows must be the same multisets in the same
    /// order, from the same estimator.
    pub fn with_moments(&self, moments: Moments) -> Result<Self> {
        let same = self.same_geometry(&moments)
            && moments
                .rows
                .iter()
                .zip(&self.moments.rows)
                .all(|(a, b)| a.estimator == b.estimator);
        if !same {
            bail!(
                "{}: the new moments table does not hold the same rows (n, combination) as the old one",
                self.dir.display()
            );
        }
        Ok(self.with_rows(moments))
    }

    /// Prepares the sweep point of one estimator's rows of a moments table held in memory (the other rows are
    /// dropped); `dir` names it in errors and provenance.
    pub fn new(dir: &Path, mut moments: Moments, cutoff: Option<f64>, estimator: Estimator) -> Result<Self> {
        moments.rows.retain(|r| r.estimator == estimator);
        if moments.rows.is_empty() {
            bail!("{}: the moments table has no {estimator} rows", dir.display());
        }
        let cfg = nnqft_sample::config_from_params(&moments.sample_params)
            .with_context(|| format!("{}: sample parameters", dir.display()))?;
        let order = |n: u8| -> Vec<usize> {
            (0..moments.rows.len())
                .filter(|&i| moments.rows[i].n == n)
                .collect()
        };
        let (rows2, rows4, rows6, rows8) = (order(2), order(4), order(6), order(8));
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
        let (unresolvable, tails) = tail_summary(&moments);
        let scales = Scales::new(cfg.sigma_w(), cfg.d());
        Ok(Point {
            dir: dir.into(),
            estimator,
            x: 0.0,
            cfg,
            moments,
            rows2,
            rows4,
            rows6,
            rows8,
            nk4,
            nk6,
            tree6,
            legs6,
            kkk6,
            scales,
            unresolvable,
            tails,
        })
    }
}

/// The orders the tail rule marks unresolvable somewhere, and every order's tail diagnostics.
fn tail_summary(moments: &Moments) -> (Vec<u8>, Vec<OrderTail>) {
    let tails: Vec<OrderTail> = [2u8, 4, 6, 8]
        .into_iter()
        .filter_map(|n| {
            let rows: Vec<_> = moments.rows.iter().filter(|r| r.n == n).collect();
            (!rows.is_empty()).then(|| OrderTail {
                n,
                ess: rows.iter().map(|r| r.ess).fold(f64::INFINITY, f64::min),
                ess_min: ess_min(n as usize),
                tail_ratio: rows.iter().filter_map(|r| r.tail_ratio).reduce(f64::min),
            })
        })
        .collect();
    // The moments stage's verdict per row, and the fit's stricter log-normal budget per order.
    let mut unresolvable: Vec<u8> = moments
        .rows
        .iter()
        .filter(|r| !r.resolvable)
        .map(|r| r.n)
        .chain(
            tails
                .iter()
                .filter(|t| matches!((t.tail_ratio, t.tail_min()), (Some(r), Some(m)) if r < m))
                .map(|t| t.n),
        )
        .collect();
    unresolvable.sort_unstable();
    unresolvable.dedup();
    (unresolvable, tails)
}

/// The estimators whose rows a moments table holds, products first.
pub fn estimators(moments: &Moments) -> Vec<Estimator> {
    Estimator::ALL
        .into_iter()
        .filter(|e| moments.rows.iter().any(|r| r.estimator.name() == e.name()))
        .collect()
}

/// Loads and validates a sweep: every input must share every sample parameter except the swept one (and the
/// seed), hold the same estimators, and there must be at least two distinct values of the swept parameter.
/// Returns one sweep per estimator (products first).
pub fn load(inputs: &[PathBuf], sweep: Sweep, cutoff: Option<f64>) -> Result<Vec<Vec<Point>>> {
    if inputs.is_empty() {
        bail!("no input given");
    }
    check_count(sweep, inputs.len())?;
    let loaded: Vec<Vec<Point>> = inputs
        .iter()
        .map(|d| Point::load(d, cutoff))
        .collect::<Result<_>>()?;
    let names = |ps: &[Point]| {
        ps.iter()
            .map(|p| p.estimator.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(i) = (1..loaded.len()).find(|&i| names(&loaded[i]) != names(&loaded[0])) {
        bail!(
            "the inputs hold different estimators: {} has {} rows, {} has {} rows; a fit compares one estimator \
             across its sweep (compute every input's moments with the same --estimator)",
            inputs[0].display(),
            names(&loaded[0]),
            inputs[i].display(),
            names(&loaded[i])
        );
    }
    let n_est = loaded[0].len();
    let mut by_estimator: Vec<Vec<Point>> = vec![Vec::new(); n_est];
    for ps in loaded {
        for (k, p) in ps.into_iter().enumerate() {
            by_estimator[k].push(p);
        }
    }
    by_estimator.into_iter().map(|ps| assemble(ps, sweep)).collect()
}

/// The sample parameters that vary between the points, besides the seed, the bag range and the covariance flag
/// (the estimators are compared instead), sorted.
fn varying(points: &[Point]) -> Vec<String> {
    let strip = |p: &Point| {
        let mut v = p.moments.sample_params.clone();
        if let Some(o) = v.as_object_mut() {
            for k in ["seed", "bags", "covariance"] {
                o.remove(k);
            }
        }
        v
    };
    let params: Vec<serde_json::Value> = points.iter().map(strip).collect();
    let mut keys: Vec<String> = params
        .iter()
        .flat_map(|v| v.as_object().into_iter().flatten().map(|(k, _)| k.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| {
        params
            .iter()
            .any(|v| v.get(k.as_str()) != params[0].get(k.as_str()))
    });
    keys
}

/// The sample parameters a sweep may vary (depth and unequal widths are recorded in `width`, `depth` and
/// `widths` together, so a widths sweep may vary all three).
fn swept_keys(sweep: Sweep) -> &'static [&'static str] {
    match sweep {
        Sweep::Width => &["width"],
        Sweep::SigmaW => &["sigma_w"],
        Sweep::SigmaB => &["sigma_b"],
        Sweep::D => &["d"],
        Sweep::Depth => &["depth"],
        Sweep::Widths => &["widths", "width", "depth"],
        Sweep::DOut => &["d_out"],
        Sweep::Cutoff | Sweep::None => &[],
    }
}

/// Validates a sweep of loaded points (as [`load`]) and sets and sorts their swept values: every parameter but
/// the swept one must be the same; otherwise the error names the parameters that vary (and the sweep that would
/// take them, when only one does).
pub fn assemble(mut points: Vec<Point>, sweep: Sweep) -> Result<Vec<Point>> {
    if points.is_empty() {
        bail!("no input given");
    }
    check_count(sweep, points.len())?;
    if sweep.key().is_some() {
        let vary = varying(&points);
        let others: Vec<&str> = vary
            .iter()
            .map(String::as_str)
            .filter(|k| !swept_keys(sweep).contains(k))
            .collect();
        if !others.is_empty() {
            let hint = match Sweep::of_key(others[0]).filter(|_| others.len() == 1) {
                Some(s) if vary.len() == 1 => format!(" (--sweep {} fits a sweep over it)", s.name()),
                _ => String::new(),
            };
            let first = strip_for(&points[0], sweep);
            let bad = points[1..]
                .iter()
                .find(|p| strip_for(p, sweep) != first)
                .expect("some point differs");
            bail!(
                "{} and {} differ in {} besides the swept parameter {}: a sweep varies one parameter only; the \
                 inputs vary in {}{hint}",
                points[0].dir.display(),
                bad.dir.display(),
                others.join(", "),
                sweep.name(),
                vary.join(", ")
            );
        }
    }
    for p in points.iter_mut() {
        p.x = match sweep {
            Sweep::Width => p.cfg.width() as f64,
            Sweep::SigmaW => p.cfg.sigma_w(),
            Sweep::SigmaB => p.cfg.sigma_b(),
            Sweep::D => p.cfg.d() as f64,
            Sweep::Depth => p.cfg.depth() as f64,
            Sweep::Widths => p.cfg.widths().last().copied().unwrap_or(0) as f64,
            Sweep::DOut => p.cfg.d_out() as f64,
            Sweep::Cutoff | Sweep::None => 0.0,
        };
    }
    if sweep.key().is_some() {
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
    Ok(points)
}

/// A point's sample parameters without those that may differ in `sweep`.
fn strip_for(p: &Point, sweep: Sweep) -> serde_json::Value {
    let mut v = p.moments.sample_params.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["seed", "bags", "covariance"].iter().chain(swept_keys(sweep)) {
            o.remove(*k);
        }
    }
    v
}

/// Whether `n` inputs suit the sweep: at least 2 for a sweep over a parameter, exactly 1 for a cutoff scan.
pub fn check_count(sweep: Sweep, n: usize) -> Result<()> {
    match sweep {
        _ if sweep.key().is_some() && n < 2 => {
            bail!("a {} sweep needs at least 2 sweep points, got {n}", sweep.name())
        }
        Sweep::Cutoff if n != 1 => bail!("a cutoff scan takes exactly one moments input, got {n}"),
        _ => Ok(()),
    }
}
