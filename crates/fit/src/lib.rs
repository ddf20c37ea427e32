//! The `fit` stage (PHYSICS.md 5, 6, 8): couplings u_4 and u_6 at every sweep point in the raw, canonical and
//! dimensionless normalisations, and the scaling fits across a sweep (over N, over sigma_W, or over the cutoff
//! Lambda), each with a 95% bootstrap interval (expanded percentile, `stats::ci95`) that resamples bags and
//! recomputes the whole chain (Gbar, DeltaG, connected parts, couplings, averages, fit) on every replicate.
//!
//! Sweep points whose estimates the tail rule marks unresolvable (the moments stage's, and the fit's stricter
//! log-normal budget `sweep::TAIL_FIT_MIN`) are excluded from the fits of the quantities that use them, and
//! listed in the `excluded` column; they are never silently used.

pub mod chain;
pub mod stats;
pub mod sweep;

use anyhow::{Context, Result, bail};
use chain::{evaluate, lambda_at};
use nnqft_contract::fit::{
    self as contract, ComboRow, Coupling, Exclusion, FitId, FitKind, FitRow, Norm, PointRow, Quantity, Range,
    Reason, STAGE, Sweep, WidthSlope,
};
use nnqft_contract::predict;
use nnqft_store::{Meta, Staging};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use stats::{ci95, log_slope, two_term};
use std::path::PathBuf;
use sweep::Point;

/// Fewest bootstrap replicates accepted for a 95% interval.
pub const MIN_REPLICATES: usize = 20;
/// Bootstrap replicates that must give a value for a fit to have an interval: this many tenths of them.
const MIN_VALID_REPLICATE_TENTHS: usize = 9;

/// Extract couplings from moments artifacts and fit their scaling across a sweep.
///
/// Every quantity is computed for each estimator the moments hold (products, and conditional where the samples
/// carried the last layer's covariance); inputs holding different estimators are refused. Output:
/// DIR/fits.parquet (one row per fitted quantity and estimator: estimate, 95% bootstrap interval, exact value,
/// prediction, points used and excluded), DIR/points.parquet (every quantity at every sweep point, with
/// intervals, exact values, the per-bag background and the tail diagnostics) and DIR/combos.parquet (m_n, u_4,
/// u_6, lambda per combination).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "nnqft-fit", version)]
pub struct Args {
    /// Moments artifact directories, one per sweep point.
    #[arg(required = true, value_name = "MOMENTS_DIR")]
    pub inputs: Vec<PathBuf>,
    /// What the inputs sweep: width (N), sigma-w, cutoff (one input, --cutoffs), none (couplings only), or any
    /// other sample parameter that alone varies between the inputs: sigma-b, d, depth, widths (the last hidden
    /// width is the swept value), d-out (slopes without predictions, and the couplings' means).
    #[arg(long, value_enum)]
    pub sweep: Sweep,
    /// Cutoff Lambda of the vertex integrals x in [-Lambda, Lambda] for Erf and ReLU (GaussNet has closed forms).
    #[arg(long)]
    pub cutoff: Option<f64>,
    /// Cutoffs of a cutoff scan, comma separated (e.g. 7,10,15,20).
    #[arg(long, value_delimiter = ',')]
    pub cutoffs: Vec<f64>,
    /// Upper ends of the sigma_W ranges fitted besides the whole range, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20")]
    pub ranges: Vec<f64>,
    /// Bootstrap replicates (each resamples the bags of every sweep point).
    #[arg(long, default_value_t = 400)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output artifact directory; must not exist. Written atomically.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// One fitted number: what it is ([`FitId`] gives its quantity, kind and range) and the note written beside it.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: FitId,
    pub note: &'static str,
}

impl Spec {
    fn quantity(&self) -> Quantity {
        self.id.quantity()
    }
}

/// The fits of each sweep; `eight`: the inputs have eight-point rows.
pub fn specs(sweep: Sweep, ranges: &[f64], eight: bool) -> Vec<Spec> {
    let spec = |id: FitId, note: &'static str| Spec { id, note };
    match sweep {
        Sweep::Width => [
            spec(
                FitId::VsWidth(WidthSlope::M2),
                "noise floor of m_2; E[m_2] = 0 exactly",
            ),
            spec(FitId::VsWidth(WidthSlope::M4), "m_4 = kappa_4/G_0 is exactly 1/N"),
            spec(
                FitId::VsWidth(WidthSlope::M6),
                "m_6 = a/N + b/N^2 exactly, not a power law",
            ),
            spec(
                FitId::VsWidth(WidthSlope::Gc4),
                "|G_c^(4)| averaged over combinations (signed, then |.|): kappa_4 is exactly 1/N",
            ),
            spec(
                FitId::VsWidth(WidthSlope::Gc6),
                "G_c^(6) = kappa_6 is exactly 1/N^2",
            ),
            spec(FitId::VsWidth(WidthSlope::U4), "raw u_4 = -DeltaG^(4)/N_K"),
            spec(
                FitId::VsWidth(WidthSlope::U6),
                "raw u_6 with the u_4^2 tree subtraction",
            ),
            spec(FitId::M6TwoTermA, "a of <m_6> = a/N + b/N^2"),
            spec(FitId::M6TwoTermB, "b of <m_6> = a/N + b/N^2"),
            spec(FitId::M2Mean, "signed m_2 averaged over combinations and N"),
            spec(
                FitId::Sign(Coupling::U4),
                "u_4 averaged over combinations and N (sign)",
            ),
            spec(
                FitId::Sign(Coupling::U6),
                "u_6 averaged over combinations and N (sign)",
            ),
            spec(FitId::U4Spread, "relative spread of u_4 over combinations"),
        ]
        .into_iter()
        .chain(eight.then(|| {
            spec(
                FitId::VsWidth(WidthSlope::Gc8),
                "G_c^(8) = kappa_8 is exactly 1/N^3",
            )
        }))
        .collect(),
        Sweep::SigmaW => {
            let mut v = Vec::new();
            let rs = ranges.iter().map(|r| Range::UpTo(*r)).chain([Range::All]);
            for range in rs {
                for (coupling, norm, note) in [
                    (
                        Coupling::U4,
                        Norm::Raw,
                        "raw u_4: slope d-4 from the rescaling identity",
                    ),
                    (Coupling::U4, Norm::Canonical, "canonical u_4^phi: slope 4-d"),
                    (Coupling::U6, Norm::Raw, "raw u_6: slope d-6"),
                    (Coupling::U6, Norm::Canonical, "canonical u_6^phi: slope 6-2d"),
                ] {
                    v.push(spec(
                        FitId::VsSigmaW {
                            coupling,
                            norm,
                            range,
                        },
                        note,
                    ));
                }
            }
            v.push(spec(
                FitId::Sign(Coupling::U4),
                "u_4 averaged over combinations and sigma_W (sign)",
            ));
            v.push(spec(
                FitId::Sign(Coupling::U6),
                "u_6 averaged over combinations and sigma_W (sign)",
            ));
            v
        }
        Sweep::Cutoff => vec![spec(FitId::LambdaVsCutoff, "HMS lambda of ReLU vs cutoff")],
        Sweep::None => vec![],
        // Any other swept parameter: the slopes of a width sweep against the swept value (over positive values;
        // no prediction), and the couplings' means.
        generic => [
            WidthSlope::M4,
            WidthSlope::Gc4,
            WidthSlope::Gc6,
            WidthSlope::U4,
            WidthSlope::U6,
        ]
        .into_iter()
        .chain(eight.then_some(WidthSlope::Gc8))
        .map(|slope| {
            spec(
                FitId::VsSweep {
                    slope,
                    sweep: generic,
                },
                "slope of log |y| against log of the swept parameter; no prediction",
            )
        })
        .chain([
            spec(
                FitId::Sign(Coupling::U4),
                "u_4 averaged over combinations and the sweep (sign)",
            ),
            spec(
                FitId::Sign(Coupling::U6),
                "u_6 averaged over combinations and the sweep (sign)",
            ),
        ])
        .collect(),
    }
}

/// Values of every quantity at every sweep point (for a cutoff scan: one virtual point per cutoff).
struct Evaluation {
    values: Vec<Vec<f64>>,
    combos: Vec<chain::PerCombo>,
}

struct Setup {
    points: Vec<Point>,
    sweep: Sweep,
    cutoffs: Vec<f64>,
    /// N_K of every 4-point row at each cutoff of a scan.
    nk_by_cutoff: Vec<Vec<f64>>,
    /// [point][quantity]: the signed companion's 95% bootstrap interval excludes 0 (see `signed_companion`).
    above_noise: Vec<Vec<bool>>,
}

impl Setup {
    fn xs(&self) -> Vec<f64> {
        match self.sweep {
            Sweep::Cutoff => self.cutoffs.clone(),
            _ => self.points.iter().map(|p| p.x).collect(),
        }
    }

    /// The swept value of (virtual) point j, without building [`Setup::xs`] (the fit runs once per replicate).
    fn x(&self, j: usize) -> f64 {
        match self.sweep {
            Sweep::Cutoff => self.cutoffs[j],
            _ => self.points[j].x,
        }
    }

    fn evaluate(&self, gs: &[Gs]) -> Evaluation {
        let mut values = Vec::new();
        let mut combos = Vec::new();
        for (i, g) in gs.iter().enumerate() {
            let (v, c) = self.evaluate_one(i, g);
            combos.push(c);
            values.extend(v);
        }
        Evaluation { values, combos }
    }

    /// The values at the (virtual) points of sweep point i from its full n-point functions `g`.
    fn evaluate_one(&self, i: usize, g: &Gs) -> (Vec<Vec<f64>>, chain::PerCombo) {
        let p = &self.points[i];
        let (v, c) = evaluate(p, &g.g, &g.c);
        if self.sweep == Sweep::Cutoff {
            let rows = self
                .nk_by_cutoff
                .iter()
                .map(|nk| {
                    // Every quantity at the default cutoff (the signed companions), lambda at this one.
                    let mut w = v.clone();
                    w[Quantity::LambdaAbs as usize] = lambda_at(p, &g.g, &g.c, nk);
                    w
                })
                .collect();
            (rows, c)
        } else {
            (vec![v], c)
        }
    }

    /// The sweep point behind (virtual) point j.
    fn real_of(&self, j: usize) -> usize {
        if self.sweep == Sweep::Cutoff { 0 } else { j }
    }

    /// The sweep point behind (virtual) point j.
    fn point(&self, j: usize) -> &Point {
        &self.points[self.real_of(j)]
    }

    /// Bags of (virtual) point j.
    fn bags(&self, j: usize) -> usize {
        self.point(j).moments.bags.len()
    }

    /// Whether the quantity at (virtual) point j passes the tail rule of the moments stage.
    fn tail_ok(&self, j: usize, quantity: Quantity) -> bool {
        let p = self.point(j);
        !quantity.orders().iter().any(|o| p.unresolvable.contains(o))
    }

    /// Resolvable: passes the tail rule and stands above the noise.
    fn resolvable(&self, j: usize, quantity: Quantity) -> bool {
        self.tail_ok(j, quantity) && self.above_noise[j][quantity as usize]
    }

    /// Points used by a spec, and those excluded with the reason.
    fn used(&self, s: &Spec) -> (Vec<usize>, Vec<(usize, Reason)>) {
        let xs = self.xs();
        let mut used = Vec::new();
        let mut excluded = Vec::new();
        for j in (0..xs.len()).filter(|&j| s.id.x_max().is_none_or(|m| xs[j] <= m)) {
            if !self.tail_ok(j, s.quantity()) {
                excluded.push((j, Reason::Tail));
            } else if !self.above_noise[j][s.quantity() as usize] {
                excluded.push((j, Reason::Noise));
            } else {
                used.push(j);
            }
        }
        (used, excluded)
    }

    fn fit(&self, s: &Spec, values: &[Vec<f64>], used: &[usize]) -> Option<f64> {
        let x: Vec<f64> = used.iter().map(|&j| self.x(j)).collect();
        let y: Vec<f64> = used.iter().map(|&j| values[j][s.quantity() as usize]).collect();
        if y.iter().any(|v| !v.is_finite()) || y.is_empty() {
            return None;
        }
        match s.id.kind() {
            FitKind::Slope => log_slope(&x, &y.iter().map(|v| v.abs()).collect::<Vec<_>>()),
            FitKind::CoefA => two_term(&x, &y).map(|(a, _)| a),
            FitKind::CoefB => two_term(&x, &y).map(|(_, b)| b),
            FitKind::Mean => Some(y.iter().sum::<f64>() / y.len() as f64),
        }
    }
}

/// Full n-point functions `g` and connected parts `c` per row of one sweep point.
struct Gs {
    g: Vec<f64>,
    c: Vec<f64>,
}

/// The means over a choice of bags (indices into the per-bag values).
fn resampled(p: &Point, bags: &[usize]) -> Gs {
    let mean = |v: &[f64]| bags.iter().map(|&b| v[b]).sum::<f64>() / bags.len() as f64;
    Gs {
        g: p.moments.rows.iter().map(|r| mean(&r.g_bag)).collect(),
        c: p.moments.rows.iter().map(|r| mean(&r.connected_bag)).collect(),
    }
}

/// Standard error of a mean over bags from the per-bag values: their standard deviation over sqrt(bags); `None`
/// with fewer than two bags or a value that is not finite (two-point rows have no G_c).
fn stderr_over_bags(v: &[f64]) -> Option<f64> {
    let n = v.len() as f64;
    if v.len() < 2 || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    Some((var / n).sqrt())
}

/// Exact full n-point functions and connected parts, if the architecture has them.
fn exact(p: &Point) -> Option<Gs> {
    Some(Gs {
        g: p.moments.rows.iter().map(|r| r.g_exact).collect::<Option<_>>()?,
        c: p.moments
            .rows
            .iter()
            .map(|r| r.connected_exact)
            .collect::<Option<_>>()?,
    })
}

/// Bytes held per bootstrap replicate and sweep point: the values of every quantity and their list.
const REPLICATE_POINT_BYTES: usize = 24 + 8 * Quantity::ALL.len();
/// Bytes per bootstrap replicate besides its points: the list of points and one value in each interval's sample.
const REPLICATE_BYTES: usize = 24 + 16;

impl Args {
    /// Every check that needs no input (`--check-batch`, and the start of [`run`]): cutoffs, replicates, ranges,
    /// the number of inputs a sweep needs, and the memory of the bootstrap.
    pub fn validate(&self) -> Result<()> {
        self.check_values()?;
        sweep::check_count(self.sweep, self.inputs.len())?;
        let points = if self.sweep == Sweep::Cutoff {
            self.cutoffs.len()
        } else {
            self.inputs.len()
        };
        let per_replicate = (REPLICATE_BYTES + points * REPLICATE_POINT_BYTES) as f64;
        nnqft_store::cli::check_memory(
            &format!(
                "--bootstrap {} over {points} sweep points ({per_replicate} bytes per replicate, the inputs not \
                 counted)",
                self.bootstrap
            ),
            self.bootstrap as f64 * per_replicate,
            "use fewer replicates (400, the default, gives 95% intervals; a few thousand are plenty)",
        )
    }

    fn check_values(&self) -> Result<()> {
        if let Some(c) = self.cutoff.filter(|c| !(c.is_finite() && *c > 0.0)) {
            bail!("--cutoff = {c} is invalid: the cutoff Lambda must be finite and > 0");
        }
        if self.sweep == Sweep::Cutoff {
            if self.cutoffs.len() < 2 {
                bail!(
                    "--sweep cutoff needs at least 2 values in --cutoffs, got {}",
                    self.cutoffs.len()
                );
            }
            if let Some(c) = self.cutoffs.iter().find(|c| !(c.is_finite() && **c > 0.0)) {
                bail!("--cutoffs contains {c}: every cutoff must be finite and > 0");
            }
        }
        if self.bootstrap < MIN_REPLICATES {
            bail!(
                "--bootstrap = {} is too few replicates for a 95% interval (use >= {MIN_REPLICATES}, default 400)",
                self.bootstrap
            );
        }
        if let Some(r) = self.ranges.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            bail!("--ranges contains {r}: every upper end of a sigma_W range must be finite and > 0");
        }
        Ok(())
    }
}

/// What a fit computes besides its inputs: [`Args`] without the paths.
#[derive(Debug, Clone)]
pub struct Options {
    pub sweep: Sweep,
    pub cutoff: Option<f64>,
    pub cutoffs: Vec<f64>,
    pub ranges: Vec<f64>,
    pub bootstrap: usize,
    pub seed: u64,
}

impl Options {
    /// The cutoff of the vertex integrals: --cutoff, else the first of --cutoffs.
    pub fn cutoff(&self) -> Option<f64> {
        self.cutoff.or(self.cutoffs.first().copied())
    }
}

impl From<&Args> for Options {
    fn from(a: &Args) -> Self {
        Options {
            sweep: a.sweep,
            cutoff: a.cutoff,
            cutoffs: a.cutoffs.clone(),
            ranges: a.ranges.clone(),
            bootstrap: a.bootstrap,
            seed: a.seed,
        }
    }
}

/// The three tables of a fit artifact and its parameters, before they are written.
#[derive(Debug, Clone)]
pub struct Tables {
    pub fits: Vec<FitRow>,
    pub points: Vec<PointRow>,
    pub combos: Vec<ComboRow>,
    /// The fit's parameters (`nnqft.params`).
    pub params: serde_json::Value,
}

/// Runs the fit and writes the artifact; returns its content hash.
pub fn run(args: &Args) -> Result<String> {
    if args.out.exists() {
        bail!(
            "--out {}: already exists; give a new directory",
            args.out.display()
        );
    }
    args.validate()?;
    let opts = Options::from(args);
    let sweeps = sweep::load(&args.inputs, args.sweep, opts.cutoff())?;
    let inputs: Vec<String> = sweeps[0]
        .iter()
        .map(|p| nnqft_store::content_hash(&p.dir))
        .collect::<Result<_, _>>()?;
    let tables = compute_all(sweeps, &opts)?;
    let staging = Staging::new(&args.out)?;
    let meta = Meta::new(STAGE, tables.params.clone(), inputs);
    contract::write_fits(staging.path(), &tables.fits, &meta)?;
    contract::write_points(staging.path(), &tables.points, &meta)?;
    contract::write_combos(staging.path(), &tables.combos, &meta)?;
    Ok(staging.publish()?)
}

/// Computes the fits of every estimator's sweep ([`sweep::load`]) and puts their rows together, the products
/// estimator's first; each estimator's bootstrap starts from the same seed (the same bags are drawn for both).
pub fn compute_all(sweeps: Vec<Vec<Point>>, opts: &Options) -> Result<Tables> {
    let mut all: Option<Tables> = None;
    let mut estimators = Vec::new();
    for points in sweeps {
        estimators.push(points[0].estimator.name());
        let t = compute(points, opts)?;
        match &mut all {
            None => all = Some(t),
            Some(a) => {
                a.fits.extend(t.fits);
                a.points.extend(t.points);
                a.combos.extend(t.combos);
            }
        }
    }
    let mut all = all.context("no sweep to fit")?;
    all.params["estimators"] = serde_json::json!(estimators);
    Ok(all)
}

/// Computes the fit of one estimator's validated sweep ([`sweep::assemble`]) in memory.
pub fn compute(points: Vec<Point>, opts: &Options) -> Result<Tables> {
    let estimator = points.first().context("no sweep point")?.estimator;
    let nk_by_cutoff = if opts.sweep == Sweep::Cutoff {
        let p = &points[0];
        opts.cutoffs
            .iter()
            .map(|&c| sweep::nk4_at(&p.cfg, &p.moments, &p.rows4, Some(c)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![]
    };
    let mut setup = Setup {
        points,
        sweep: opts.sweep,
        cutoffs: opts.cutoffs.clone(),
        nk_by_cutoff,
        above_noise: vec![],
    };
    let d = setup.points[0].cfg.d() as f64;
    let eight = setup.points.iter().all(|p| !p.rows8.is_empty());
    let specs = specs(opts.sweep, &opts.ranges, eight);

    // Point estimate, exact values, bootstrap.
    let all_bags: Vec<Vec<usize>> = setup
        .points
        .iter()
        .map(|p| (0..p.moments.bags.len()).collect())
        .collect();
    let g_hat: Vec<Gs> = setup
        .points
        .iter()
        .zip(&all_bags)
        .map(|(p, b)| resampled(p, b))
        .collect();
    let est = setup.evaluate(&g_hat);
    let g_exact: Option<Vec<Gs>> = setup.points.iter().map(exact).collect();
    let ex = g_exact.as_ref().map(|g| setup.evaluate(g));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed);
    let mut reps: Vec<Vec<Vec<f64>>> = Vec::with_capacity(opts.bootstrap);
    for _ in 0..opts.bootstrap {
        let gs: Vec<Gs> = setup
            .points
            .iter()
            .map(|p| {
                let nb = p.moments.bags.len();
                let pick: Vec<usize> = (0..nb).map(|_| rng.random_range(0..nb)).collect();
                resampled(p, &pick)
            })
            .collect();
        reps.push(setup.evaluate(&gs).values);
    }
    // The 95% interval of quantity k at virtual point j.
    let point_ci = |setup: &Setup, j: usize, k: usize| {
        let boot: Vec<f64> = reps.iter().map(|r| r[j][k]).collect();
        ci95(&boot, setup.bags(j))
    };
    setup.above_noise = (0..est.values.len())
        .map(|j| {
            Quantity::ALL
                .iter()
                .map(|quantity| match quantity.signed_companion() {
                    None => true,
                    Some(c) => match point_ci(&setup, j, c as usize) {
                        (Some(lo), Some(hi)) => lo > 0.0 || hi < 0.0,
                        _ => false,
                    },
                })
                .collect()
        })
        .collect();
    let setup = setup;

    let params = serde_json::json!({
        "sweep": opts.sweep.name(), "cutoff": opts.cutoff, "cutoffs": opts.cutoffs, "ranges": opts.ranges,
        "bootstrap": opts.bootstrap, "seed": opts.seed,
        "sample": setup.points.iter().map(|p| p.moments.sample_params.clone()).collect::<Vec<_>>(),
    });

    // fits.parquet
    let xs = setup.xs();
    let mut fits = Vec::new();
    for s in &specs {
        let (used, excluded) = setup.used(s);
        let exclusions: Vec<Exclusion> = excluded
            .iter()
            .map(|&(j, reason)| Exclusion { x: xs[j], reason })
            .collect();
        let estimate = setup.fit(s, &est.values, &used);
        let boot: Vec<f64> = reps.iter().filter_map(|r| setup.fit(s, r, &used)).collect();
        let ok = boot.len() * 10 >= reps.len() * MIN_VALID_REPLICATE_TENTHS;
        // The exact value over the same points as the estimate, so that the two compare (a mean over other
        // widths differs, e.g. u_4 ~ 1/N); over all points in range only when none is resolvable.
        let exact_v = ex.as_ref().and_then(|e| {
            let all: Vec<usize> = (0..xs.len())
                .filter(|&j| s.id.x_max().is_none_or(|m| xs[j] <= m))
                .collect();
            setup.fit(s, &e.values, if used.is_empty() { &all } else { &used })
        });
        // The fewest bags among the points used sets the degrees of freedom of the interval.
        let bags = used.iter().map(|&j| setup.bags(j)).min().unwrap_or(0);
        let (lo, hi) = if ok && estimate.is_some() {
            ci95(&boot, bags)
        } else {
            (None, None)
        };
        fits.push(FitRow {
            id: s.id,
            estimator,
            quantity: s.quantity(),
            sweep: opts.sweep,
            kind: s.id.kind(),
            x_max: s.id.x_max(),
            estimate,
            lo,
            hi,
            exact: exact_v,
            predicted: predict::predicted(s.id, d),
            n_used: used.len() as u64,
            excluded: Exclusion::text(&exclusions),
            exclusions,
            note: s.note.into(),
        });
    }

    // points.parquet
    let mut points = Vec::new();
    for (j, &x) in xs.iter().enumerate() {
        let p = setup.point(j);
        for (k, &quantity) in Quantity::ALL.iter().enumerate() {
            let y = est.values[j][k];
            // A cutoff scan's virtual points carry the other quantities only as noise references.
            if !y.is_finite() || (opts.sweep == Sweep::Cutoff && quantity != Quantity::LambdaAbs) {
                continue;
            }
            let (lo, hi) = point_ci(&setup, j, k);
            let tail = binding_tail(p, quantity);
            points.push(PointRow {
                quantity,
                estimator,
                x,
                y,
                lo,
                hi,
                exact: ex.as_ref().map(|e| e.values[j][k]).filter(|v| v.is_finite()),
                background: background(p, quantity),
                resolvable: setup.resolvable(j, quantity),
                width: p.cfg.width(),
                sigma_w: Some(p.cfg.sigma_w()),
                ess: tail.map(|t| t.ess),
                ess_min: tail.map(|t| t.ess_min),
                tail_ratio: tail.and_then(|t| t.tail_ratio),
                tail_min: tail.and_then(|t| t.tail_min()),
            });
        }
    }

    // combos.parquet
    let mut combos = Vec::new();
    for (i, p) in setup.points.iter().enumerate() {
        let ce = ex.as_ref().map(|e| &e.combos[i]);
        let c = &est.combos[i];
        // Each combination's G_c and its standard error over bags (the same chain on one bag at a time).
        let gc_hat = chain::connected_rows(p, &g_hat[i].g, &g_hat[i].c);
        let per_bag: Vec<Vec<f64>> = (0..p.moments.bags.len())
            .map(|b| {
                let one = resampled(p, &[b]);
                chain::connected_rows(p, &one.g, &one.c)
            })
            .collect();
        let gc_stderr = |r: usize| {
            let v: Vec<f64> = per_bag.iter().map(|b| b[r]).collect();
            stderr_over_bags(&v)
        };
        for (k, &r) in p
            .rows2
            .iter()
            .chain(&p.rows4)
            .chain(&p.rows6)
            .chain(&p.rows8)
            .enumerate()
        {
            let row = &p.moments.rows[r];
            let (u, ue, lam) = match row.n {
                4 => {
                    let j = k - p.rows2.len();
                    (Some(c.u4[j]), ce.map(|e| e.u4[j]), Some(c.lambda[j]))
                }
                6 => {
                    let j = k - p.rows2.len() - p.rows4.len();
                    (c.u6[j], ce.and_then(|e| e.u6[j]), None)
                }
                _ => (None, None, None),
            };
            combos.push(ComboRow {
                estimator,
                x: p.x,
                n: row.n as u64,
                combo: row.combo.clone(),
                m: Some(row.m),
                m_exact: row.delta_g_exact.map(|d| d / row.g_free),
                u,
                u_exact: ue,
                lambda: lam,
                gc: Some(gc_hat[r]).filter(|v| v.is_finite()),
                gc_stderr: gc_stderr(r),
                resolvable: row.resolvable,
            });
        }
    }
    Ok(Tables {
        fits,
        points,
        combos,
        params,
    })
}

/// The tail diagnostics that decide a quantity at a point: of the orders it is computed from, the one closest to
/// failing the tail rule (`None` for a quantity of no order present).
fn binding_tail(p: &Point, quantity: Quantity) -> Option<sweep::OrderTail> {
    p.tails
        .iter()
        .filter(|t| quantity.orders().contains(&t.n))
        .copied()
        .min_by(|a, b| a.margin().total_cmp(&b.margin()))
}

/// The papers' background for <|m_n|>: mean over combinations of std_bags(G_exp) / |G_0|.
fn background(p: &Point, quantity: Quantity) -> Option<f64> {
    let rows = match quantity {
        Quantity::M2Abs => &p.rows2,
        Quantity::M4Abs => &p.rows4,
        Quantity::M6Abs => &p.rows6,
        _ => return None,
    };
    let r = &p.moments.rows;
    Some(
        rows.iter()
            .map(|&i| r[i].bag_std / r[i].g_free.abs())
            .sum::<f64>()
            / rows.len() as f64,
    )
}
