//! The `fit` stage (PHYSICS.md 5, 6, 8): couplings u_4 and u_6 at every sweep point in the raw, canonical and
//! dimensionless normalisations, and the scaling fits across a sweep (over N, over sigma_W, or over the cutoff
//! Lambda), each with a 95% percentile-bootstrap interval that resamples bags and recomputes the whole chain
//! (Gbar, DeltaG, connected parts, couplings, averages, fit) on every replicate.
//!
//! Sweep points whose estimates the tail rule of the moments stage marks unresolvable are excluded from the
//! fits of the quantities that use them, and listed in the `excluded` column; they are never silently used.

pub mod chain;
pub mod sweep;

use anyhow::{Context, Result, bail};
use chain::{QUANTITIES, evaluate, lambda_at, q};
use nnqft_physics::couplings::vertex_integral;
use nnqft_physics::stats::{log_slope, quantile, two_term};
use nnqft_store::{Col, Meta, Staging, write_columns};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::PathBuf;
use sweep::{Point, Sweep};

pub const STAGE: &str = "fit";
pub const FITS: &str = "fits.parquet";
pub const POINTS: &str = "points.parquet";
pub const COMBOS: &str = "combos.parquet";

/// Extract couplings from moments artifacts and fit their scaling across a sweep.
///
/// Output: DIR/fits.parquet (one row per fitted quantity: estimate, 95% bootstrap interval, exact value,
/// prediction, points used and excluded), DIR/points.parquet (every quantity at every sweep point, with
/// intervals, exact values and the per-bag background) and DIR/combos.parquet (m_n, u_4, u_6, lambda per
/// combination).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "nnqft-fit", version)]
pub struct Args {
    /// Moments artifact directories, one per sweep point.
    #[arg(required = true, value_name = "MOMENTS_DIR")]
    pub inputs: Vec<PathBuf>,
    /// What the inputs sweep: width (N), sigma-w, cutoff (one input, --cutoffs), none (couplings only).
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

/// What one fit computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Slope of log |y| against log x.
    Slope,
    /// a of y = a/N + b/N^2.
    CoefA,
    /// b of y = a/N + b/N^2.
    CoefB,
    /// Mean over the sweep points.
    Mean,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Slope => "slope",
            Kind::CoefA => "coef_a",
            Kind::CoefB => "coef_b",
            Kind::Mean => "mean",
        }
    }
}

/// One fitted quantity.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: String,
    pub quantity: &'static str,
    pub kind: Kind,
    pub x_max: Option<f64>,
    pub predicted: Option<f64>,
    pub note: String,
}

fn spec(
    id: &str,
    quantity: &'static str,
    kind: Kind,
    x_max: Option<f64>,
    predicted: Option<f64>,
    note: &str,
) -> Spec {
    Spec {
        id: id.into(),
        quantity,
        kind,
        x_max,
        predicted,
        note: note.into(),
    }
}

/// The fits of each sweep.
pub fn specs(sweep: Sweep, d: usize, ranges: &[f64]) -> Vec<Spec> {
    let df = d as f64;
    match sweep {
        Sweep::Width => vec![
            spec(
                "m2_abs_vs_N",
                "m2_abs",
                Kind::Slope,
                None,
                None,
                "noise floor of m_2; E[m_2] = 0 exactly",
            ),
            spec(
                "m4_abs_vs_N",
                "m4_abs",
                Kind::Slope,
                None,
                Some(-1.0),
                "m_4 = kappa_4/G_0 is exactly 1/N",
            ),
            spec(
                "m6_abs_vs_N",
                "m6_abs",
                Kind::Slope,
                None,
                None,
                "m_6 = a/N + b/N^2 exactly, not a power law",
            ),
            spec(
                "gc4_abs_vs_N",
                "gc4_mean",
                Kind::Slope,
                None,
                Some(-1.0),
                "|G_c^(4)| averaged over combinations (signed, then |.|): kappa_4 is exactly 1/N",
            ),
            spec(
                "gc6_abs_vs_N",
                "gc6_mean",
                Kind::Slope,
                None,
                Some(-2.0),
                "G_c^(6) = kappa_6 is exactly 1/N^2",
            ),
            spec(
                "u4_abs_vs_N",
                "u4_mean",
                Kind::Slope,
                None,
                Some(-1.0),
                "raw u_4 = -DeltaG^(4)/N_K",
            ),
            spec(
                "u6_abs_vs_N",
                "u6_mean",
                Kind::Slope,
                None,
                Some(-2.0),
                "raw u_6 with the u_4^2 tree subtraction",
            ),
            spec(
                "m6_two_term_a",
                "m6_mean",
                Kind::CoefA,
                None,
                None,
                "a of <m_6> = a/N + b/N^2",
            ),
            spec(
                "m6_two_term_b",
                "m6_mean",
                Kind::CoefB,
                None,
                None,
                "b of <m_6> = a/N + b/N^2",
            ),
            spec(
                "m2_mean",
                "m2_mean",
                Kind::Mean,
                None,
                Some(0.0),
                "signed m_2 averaged over combinations and N",
            ),
            spec(
                "u4_sign",
                "u4_mean",
                Kind::Mean,
                None,
                None,
                "u_4 averaged over combinations and N (sign)",
            ),
            spec(
                "u6_sign",
                "u6_mean",
                Kind::Mean,
                None,
                None,
                "u_6 averaged over combinations and N (sign)",
            ),
            spec(
                "u4_spread",
                "u4_spread",
                Kind::Mean,
                None,
                None,
                "relative spread of u_4 over combinations",
            ),
        ],
        Sweep::SigmaW => {
            let mut v = Vec::new();
            let mut rs: Vec<Option<f64>> = ranges.iter().map(|r| Some(*r)).collect();
            rs.push(None);
            for r in rs {
                let tag = r.map_or("all".to_string(), |x| format!("le{x}"));
                v.push(spec(
                    &format!("u4_raw_vs_sigma_w_{tag}"),
                    "u4_mean",
                    Kind::Slope,
                    r,
                    Some(df - 4.0),
                    "raw u_4: slope d-4 from the rescaling identity",
                ));
                v.push(spec(
                    &format!("u4_canonical_vs_sigma_w_{tag}"),
                    "u4_canon_abs",
                    Kind::Slope,
                    r,
                    Some(4.0 - df),
                    "canonical u_4^phi: slope 4-d",
                ));
                v.push(spec(
                    &format!("u6_raw_vs_sigma_w_{tag}"),
                    "u6_mean",
                    Kind::Slope,
                    r,
                    Some(df - 6.0),
                    "raw u_6: slope d-6",
                ));
                v.push(spec(
                    &format!("u6_canonical_vs_sigma_w_{tag}"),
                    "u6_canon_abs",
                    Kind::Slope,
                    r,
                    Some(6.0 - 2.0 * df),
                    "canonical u_6^phi: slope 6-2d",
                ));
            }
            v.push(spec(
                "u4_sign",
                "u4_mean",
                Kind::Mean,
                None,
                None,
                "u_4 averaged over combinations and sigma_W (sign)",
            ));
            v.push(spec(
                "u6_sign",
                "u6_mean",
                Kind::Mean,
                None,
                None,
                "u_6 averaged over combinations and sigma_W (sign)",
            ));
            v
        }
        Sweep::Cutoff => vec![spec(
            "lambda_vs_cutoff",
            "lambda_abs",
            Kind::Slope,
            None,
            Some(-(df + 4.0)),
            "HMS lambda of ReLU vs cutoff",
        )],
        Sweep::None => vec![],
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

    fn evaluate(&self, gs: &[Vec<f64>]) -> Evaluation {
        let mut values = Vec::new();
        let mut combos = Vec::new();
        for (p, g) in self.points.iter().zip(gs) {
            let (v, c) = evaluate(p, g);
            combos.push(c);
            if self.sweep == Sweep::Cutoff {
                for nk in &self.nk_by_cutoff {
                    // Every quantity at the default cutoff (the signed companions), lambda at this one.
                    let mut w = v.clone();
                    w[q("lambda_abs")] = lambda_at(p, g, nk);
                    values.push(w);
                }
            } else {
                values.push(v);
            }
        }
        Evaluation { values, combos }
    }

    /// Whether the quantity at (virtual) point j passes the tail rule of the moments stage.
    fn tail_ok(&self, j: usize, quantity: &str) -> bool {
        let p = if self.sweep == Sweep::Cutoff {
            &self.points[0]
        } else {
            &self.points[j]
        };
        let orders = QUANTITIES[q(quantity)].1;
        !orders.iter().any(|o| p.unresolvable.contains(o))
    }

    /// Resolvable: passes the tail rule and stands above the noise.
    fn resolvable(&self, j: usize, quantity: &str) -> bool {
        self.tail_ok(j, quantity) && self.above_noise[j][q(quantity)]
    }

    /// Points used by a spec, and those excluded with the reason ("tail" or "noise").
    fn used(&self, s: &Spec) -> (Vec<usize>, Vec<(usize, &'static str)>) {
        let xs = self.xs();
        let mut used = Vec::new();
        let mut excluded = Vec::new();
        for j in (0..xs.len()).filter(|&j| s.x_max.is_none_or(|m| xs[j] <= m)) {
            if !self.tail_ok(j, s.quantity) {
                excluded.push((j, "tail"));
            } else if !self.above_noise[j][q(s.quantity)] {
                excluded.push((j, "noise"));
            } else {
                used.push(j);
            }
        }
        (used, excluded)
    }

    fn fit(&self, s: &Spec, values: &[Vec<f64>], used: &[usize]) -> Option<f64> {
        let xs = self.xs();
        let x: Vec<f64> = used.iter().map(|&j| xs[j]).collect();
        let y: Vec<f64> = used.iter().map(|&j| values[j][q(s.quantity)]).collect();
        if y.iter().any(|v| !v.is_finite()) || y.is_empty() {
            return None;
        }
        match s.kind {
            Kind::Slope => log_slope(&x, &y.iter().map(|v| v.abs()).collect::<Vec<_>>()),
            Kind::CoefA => two_term(&x, &y).map(|(a, _)| a),
            Kind::CoefB => two_term(&x, &y).map(|(_, b)| b),
            Kind::Mean => Some(y.iter().sum::<f64>() / y.len() as f64),
        }
    }
}

/// Full n-point functions per row from a choice of bags (indices into the per-bag values).
fn resampled(p: &Point, bags: &[usize]) -> Vec<f64> {
    p.moments
        .rows
        .iter()
        .map(|r| bags.iter().map(|&b| r.g_bag[b]).sum::<f64>() / bags.len() as f64)
        .collect()
}

/// Exact full n-point functions, if the architecture has them.
fn exact(p: &Point) -> Option<Vec<f64>> {
    p.moments.rows.iter().map(|r| r.g_exact).collect()
}

/// Bytes held per bootstrap replicate and sweep point: the values of every quantity and their list.
const REPLICATE_POINT_BYTES: usize = 24 + 8 * QUANTITIES.len();
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
        if self.bootstrap < 20 {
            bail!(
                "--bootstrap = {} is too few replicates for a 95% interval (use >= 20, default 400)",
                self.bootstrap
            );
        }
        if let Some(r) = self.ranges.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            bail!("--ranges contains {r}: every upper end of a sigma_W range must be finite and > 0");
        }
        Ok(())
    }
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
    let cutoff = args.cutoff.or(args.cutoffs.first().copied());
    let points = sweep::load(&args.inputs, args.sweep, cutoff)?;
    let nk_by_cutoff = if args.sweep == Sweep::Cutoff {
        let p = &points[0];
        args.cutoffs
            .iter()
            .map(|&c| {
                p.rows4
                    .iter()
                    .map(|&r| {
                        let idx: Vec<usize> = p.moments.rows[r].combo.iter().map(|&a| a as usize).collect();
                        vertex_integral(&p.cfg, &idx, Some(c))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![]
    };
    let mut setup = Setup {
        points,
        sweep: args.sweep,
        cutoffs: args.cutoffs.clone(),
        nk_by_cutoff,
        above_noise: vec![],
    };
    let d = setup.points[0].cfg.d();
    let specs = specs(args.sweep, d, &args.ranges);

    // Point estimate, exact values, bootstrap.
    let all_bags: Vec<Vec<usize>> = setup
        .points
        .iter()
        .map(|p| (0..p.moments.bags.len()).collect())
        .collect();
    let g_hat: Vec<Vec<f64>> = setup
        .points
        .iter()
        .zip(&all_bags)
        .map(|(p, b)| resampled(p, b))
        .collect();
    let est = setup.evaluate(&g_hat);
    let g_exact: Option<Vec<Vec<f64>>> = setup.points.iter().map(exact).collect();
    let ex = g_exact.as_ref().map(|g| setup.evaluate(g));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(args.seed);
    let mut reps: Vec<Vec<Vec<f64>>> = Vec::with_capacity(args.bootstrap);
    for _ in 0..args.bootstrap {
        let gs: Vec<Vec<f64>> = setup
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
    setup.above_noise = (0..est.values.len())
        .map(|j| {
            QUANTITIES
                .iter()
                .map(|(name, _, _)| match chain::signed_companion(name) {
                    None => true,
                    Some(c) => {
                        let boot: Vec<f64> = reps.iter().map(|r| r[j][q(c)]).collect();
                        match (quantile(&boot, 0.025), quantile(&boot, 0.975)) {
                            (Some(lo), Some(hi)) => lo > 0.0 || hi < 0.0,
                            _ => false,
                        }
                    }
                })
                .collect()
        })
        .collect();
    let setup = setup;

    let staging = Staging::new(&args.out)?;
    let params = serde_json::json!({
        "sweep": args.sweep.name(), "cutoff": args.cutoff, "cutoffs": args.cutoffs, "ranges": args.ranges,
        "bootstrap": args.bootstrap, "seed": args.seed,
        "sample": setup.points.iter().map(|p| p.moments.sample_params.clone()).collect::<Vec<_>>(),
    });
    let inputs: Vec<String> = setup
        .points
        .iter()
        .map(|p| nnqft_store::content_hash(&p.dir))
        .collect::<Result<_, _>>()?;
    let meta = Meta::new(STAGE, params, inputs);

    // fits.parquet
    let mut f = FitCols::default();
    for s in &specs {
        let (used, excluded) = setup.used(s);
        let xs = setup.xs();
        let estimate = setup.fit(s, &est.values, &used);
        let boot: Vec<f64> = reps.iter().filter_map(|r| setup.fit(s, r, &used)).collect();
        let ok = boot.len() * 10 >= reps.len() * 9;
        // The exact value over the same points as the estimate, so that the two compare (a mean over other
        // widths differs, e.g. u_4 ~ 1/N); over all points in range only when none is resolvable.
        let exact_v = ex.as_ref().and_then(|e| {
            let all: Vec<usize> = (0..xs.len())
                .filter(|&j| s.x_max.is_none_or(|m| xs[j] <= m))
                .collect();
            setup.fit(s, &e.values, if used.is_empty() { &all } else { &used })
        });
        f.id.push(s.id.clone());
        f.quantity.push(s.quantity.to_string());
        f.kind.push(s.kind.name().to_string());
        f.x_max.push(s.x_max);
        f.estimate.push(estimate);
        f.ci_low.push(if ok { quantile(&boot, 0.025) } else { None });
        f.ci_high.push(if ok { quantile(&boot, 0.975) } else { None });
        f.exact.push(exact_v);
        f.predicted.push(s.predicted);
        f.n_used.push(used.len() as u64);
        f.excluded.push(
            excluded
                .iter()
                .map(|&(j, why)| format!("{} ({why})", xs[j]))
                .collect::<Vec<_>>()
                .join(", "),
        );
        f.note.push(s.note.clone());
    }
    let sweep_name = args.sweep.name().to_string();
    write_columns(
        &staging.path().join(FITS),
        vec![
            ("id", Col::Str(f.id)),
            ("quantity", Col::Str(f.quantity)),
            ("sweep", Col::Str(vec![sweep_name; specs.len()])),
            ("kind", Col::Str(f.kind)),
            ("x_max", Col::F64(f.x_max)),
            ("estimate", Col::F64(f.estimate)),
            ("ci_low", Col::F64(f.ci_low)),
            ("ci_high", Col::F64(f.ci_high)),
            ("exact", Col::F64(f.exact)),
            ("predicted", Col::F64(f.predicted)),
            ("n_used", Col::U64(f.n_used)),
            ("excluded", Col::Str(f.excluded)),
            ("note", Col::Str(f.note)),
        ],
        &meta,
    )?;

    // points.parquet
    let xs = setup.xs();
    let mut pc = PointCols::default();
    for (j, &x) in xs.iter().enumerate() {
        let p = if args.sweep == Sweep::Cutoff {
            &setup.points[0]
        } else {
            &setup.points[j]
        };
        for (k, (name, _, _)) in QUANTITIES.iter().enumerate() {
            let y = est.values[j][k];
            // A cutoff scan's virtual points carry the other quantities only as noise references.
            if !y.is_finite() || (args.sweep == Sweep::Cutoff && *name != "lambda_abs") {
                continue;
            }
            let boot: Vec<f64> = reps.iter().map(|r| r[j][k]).collect();
            pc.quantity.push(name.to_string());
            pc.x.push(Some(x));
            pc.y.push(Some(y));
            pc.lo.push(quantile(&boot, 0.025));
            pc.hi.push(quantile(&boot, 0.975));
            pc.exact
                .push(ex.as_ref().map(|e| e.values[j][k]).filter(|v| v.is_finite()));
            pc.background.push(background(p, name));
            pc.resolvable.push(setup.resolvable(j, name));
            pc.width.push(p.cfg.width());
            pc.sigma_w.push(Some(p.cfg.sigma_w()));
        }
    }
    write_columns(
        &staging.path().join(POINTS),
        vec![
            ("quantity", Col::Str(pc.quantity)),
            ("x", Col::F64(pc.x)),
            ("y", Col::F64(pc.y)),
            ("ci_low", Col::F64(pc.lo)),
            ("ci_high", Col::F64(pc.hi)),
            ("exact", Col::F64(pc.exact)),
            ("background", Col::F64(pc.background)),
            ("resolvable", Col::Bool(pc.resolvable)),
            ("width", Col::U64(pc.width)),
            ("sigma_w", Col::F64(pc.sigma_w)),
        ],
        &meta,
    )?;

    // combos.parquet
    let mut cc = ComboCols::default();
    for (i, p) in setup.points.iter().enumerate() {
        let ce = ex.as_ref().map(|e| &e.combos[i]);
        let c = &est.combos[i];
        for (k, &r) in p.rows2.iter().chain(&p.rows4).chain(&p.rows6).enumerate() {
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
            cc.x.push(Some(p.x));
            cc.n.push(row.n as u64);
            cc.combo.push(
                row.combo
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
            cc.m.push(Some(row.m));
            cc.m_exact.push(row.delta_g_exact.map(|d| d / row.g_free));
            cc.u.push(u);
            cc.u_exact.push(ue);
            cc.lambda.push(lam);
            cc.resolvable.push(row.resolvable);
        }
    }
    write_columns(
        &staging.path().join(COMBOS),
        vec![
            ("x", Col::F64(cc.x)),
            ("n", Col::U64(cc.n)),
            ("combo", Col::Str(cc.combo)),
            ("m", Col::F64(cc.m)),
            ("m_exact", Col::F64(cc.m_exact)),
            ("u", Col::F64(cc.u)),
            ("u_exact", Col::F64(cc.u_exact)),
            ("lambda", Col::F64(cc.lambda)),
            ("resolvable", Col::Bool(cc.resolvable)),
        ],
        &meta,
    )
    .context("writing combos table")?;
    Ok(staging.publish()?)
}

/// The papers' background for <|m_n|>: mean over combinations of std_bags(G_exp) / |G_0|.
fn background(p: &Point, quantity: &str) -> Option<f64> {
    let rows = match quantity {
        "m2_abs" => &p.rows2,
        "m4_abs" => &p.rows4,
        "m6_abs" => &p.rows6,
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

#[derive(Default)]
struct FitCols {
    id: Vec<String>,
    quantity: Vec<String>,
    kind: Vec<String>,
    x_max: Vec<Option<f64>>,
    estimate: Vec<Option<f64>>,
    ci_low: Vec<Option<f64>>,
    ci_high: Vec<Option<f64>>,
    exact: Vec<Option<f64>>,
    predicted: Vec<Option<f64>>,
    n_used: Vec<u64>,
    excluded: Vec<String>,
    note: Vec<String>,
}

#[derive(Default)]
struct PointCols {
    quantity: Vec<String>,
    x: Vec<Option<f64>>,
    y: Vec<Option<f64>>,
    lo: Vec<Option<f64>>,
    hi: Vec<Option<f64>>,
    exact: Vec<Option<f64>>,
    background: Vec<Option<f64>>,
    resolvable: Vec<bool>,
    width: Vec<u64>,
    sigma_w: Vec<Option<f64>>,
}

#[derive(Default)]
struct ComboCols {
    x: Vec<Option<f64>>,
    n: Vec<u64>,
    combo: Vec<String>,
    m: Vec<Option<f64>>,
    m_exact: Vec<Option<f64>>,
    u: Vec<Option<f64>>,
    u_exact: Vec<Option<f64>>,
    lambda: Vec<Option<f64>>,
    resolvable: Vec<bool>,
}
