//! The `flow` stage (PHYSICS.md 6).
//!
//! Passive RG: integrates the LPA flow of (ubar_2, ubar_4, ubar_6) from k_0 = sqrt(2 sigma_W^2 / d) toward the
//! IR, starting from m_0^2 = 2 sigma_W^2 / d (so ubar_2(k_0) = 1) and the measured canonical couplings of a fit
//! artifact (or couplings given as parameters); lists the fixed points of the truncated flow with their
//! stability exponents. Active RG: for a sigma_W sweep, the predicted sigma_W dependence of the raw, canonical
//! and dimensionless couplings from the reference point, beside the exact values, for `report` to overlay.

use anyhow::{Context, Result, bail};
use nnqft_contract::fit::{PointRow, Quantity, Sweep};
use nnqft_contract::flow::{self as contract, ActiveRow, FixedPointRow, STAGE, TrajectoryRow};
use nnqft_contract::predict;
use nnqft_physics::couplings::Scales;
use nnqft_rg::lpa::{GAUSSIAN_ABS, Lpa, Tolerance, fixed_points, integrate};
use nnqft_store::{Meta, Staging};
use std::path::PathBuf;

/// Default end of the flow as a fraction of k_0.
pub const DEFAULT_K_END_RATIO: f64 = 1e-2;
/// Default relative tolerance of the solver.
pub const DEFAULT_RTOL: f64 = 1e-10;
/// Loosest relative tolerance accepted.
pub const MAX_RTOL: f64 = 1e-8;
/// The absolute tolerance is the relative one times this.
pub const ATOL_PER_RTOL: f64 = 1e-2;
/// Points of the dense sigma_W grid of the active-RG lines (log-spaced; plus one).
pub const ACTIVE_GRID: usize = 60;

/// Integrate RG flows and produce the predictions the data are compared with.
///
/// Initial couplings come from a fit artifact (its first sweep point, or --at) and/or from --sigma-w, --d,
/// --u4, --u6 (raw couplings; flags override the fit). Output: DIR/trajectories.parquet, DIR/fixed_points.parquet
/// and, for sigma_W sweeps, DIR/active.parquet.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "nnqft-flow", version)]
pub struct Args {
    /// Fit artifact directory to take the measured couplings from.
    #[arg(value_name = "FIT_DIR")]
    pub fit: Option<PathBuf>,
    /// Sweep value of the fit to start from (default: the first).
    #[arg(long)]
    pub at: Option<f64>,
    /// Input dimension d (>= 1) of the flow.
    #[arg(long)]
    pub d: Option<f64>,
    /// sigma_W of the starting point (sets k_0 and m_0^2).
    #[arg(long)]
    pub sigma_w: Option<f64>,
    /// Raw quartic coupling u_4 at the starting point.
    #[arg(long, allow_hyphen_values = true)]
    pub u4: Option<f64>,
    /// Raw sextic coupling u_6 at the starting point.
    #[arg(long, allow_hyphen_values = true)]
    pub u6: Option<f64>,
    /// End of the flow as a fraction of k_0 (must be in (0, 1): the flow runs toward the IR).
    #[arg(long, default_value_t = DEFAULT_K_END_RATIO)]
    pub k_end_ratio: f64,
    /// Relative tolerance of the adaptive solver (1e-8 or tighter).
    #[arg(long, default_value_t = DEFAULT_RTOL)]
    pub rtol: f64,
    /// Samples recorded along the trajectory (log-spaced in k).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Output artifact directory; must not exist. Written atomically.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Start of the flow.
#[derive(Debug, Clone)]
pub struct Start {
    pub d: f64,
    pub sigma_w: f64,
    pub u4: f64,
    pub u6: f64,
    /// Couplings taken from a fit that marks them unresolvable (flagged in the artifact and the report).
    pub unresolved: Vec<&'static str>,
}

/// The sweep points of a fit artifact (read through the contract).
struct FitPoints {
    points: Vec<PointRow>,
    sweep: Sweep,
    d: f64,
    hash: String,
}

fn read_fit(dir: &std::path::Path) -> Result<FitPoints> {
    nnqft_store::verify(dir).with_context(|| format!("input {}", dir.display()))?;
    let (points, params) = nnqft_contract::fit::read_points(dir)?;
    Ok(FitPoints {
        points,
        sweep: params.sweep,
        d: params.d,
        hash: nnqft_store::content_hash(dir)?,
    })
}

impl FitPoints {
    fn row(&self, quantity: Quantity, x: f64) -> Option<&PointRow> {
        self.points.iter().find(|p| p.quantity == quantity && p.x == x)
    }
    fn value(&self, quantity: Quantity, x: f64) -> Option<f64> {
        self.row(quantity, x).map(|p| p.y)
    }
    /// Whether the fit marks the quantity at x resolvable (tail rule and noise).
    fn resolvable(&self, quantity: Quantity, x: f64) -> bool {
        self.points
            .iter()
            .any(|p| p.quantity == quantity && p.x == x && p.resolvable)
    }
    fn xs(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.points.iter().map(|p| p.x).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    }
}

fn start(args: &Args, fit: Option<&FitPoints>) -> Result<Start> {
    let mut s = Start {
        d: f64::NAN,
        sigma_w: f64::NAN,
        u4: f64::NAN,
        u6: f64::NAN,
        unresolved: vec![],
    };
    if let Some(f) = fit {
        let x = match args.at {
            Some(x) => x,
            None => *f.xs().first().context("the fit artifact has no sweep points")?,
        };
        let p = f
            .points
            .iter()
            .find(|p| p.x == x)
            .with_context(|| format!("--at {x}: not a sweep value of the fit"))?;
        s.d = f.d;
        s.sigma_w = p
            .sigma_w
            .with_context(|| format!("the fit's points table has no sigma_w at x = {x}"))?;
        s.u4 = f.value(Quantity::U4Mean, x).unwrap_or(f64::NAN);
        s.u6 = f.value(Quantity::U6Mean, x).unwrap_or(f64::NAN);
        for (name, q) in [("u4", Quantity::U4Mean), ("u6", Quantity::U6Mean)] {
            if !f.resolvable(q, x) {
                s.unresolved.push(name);
            }
        }
    }
    if let Some(v) = args.d {
        s.d = v;
    }
    if let Some(v) = args.sigma_w {
        s.sigma_w = v;
    }
    if let Some(v) = args.u4 {
        s.u4 = v;
        s.unresolved.retain(|n| *n != "u4");
    }
    if let Some(v) = args.u6 {
        s.u6 = v;
        s.unresolved.retain(|n| *n != "u6");
    }
    check_start(&[
        ("d", Some(s.d)),
        ("sigma_w", Some(s.sigma_w)),
        ("u4", Some(s.u4)),
        ("u6", Some(s.u6)),
    ])?;
    Ok(s)
}

/// Checks the starting values that are known (`None`: to come from the fit): finite, d >= 1, sigma_W > 0.
fn check_start(values: &[(&str, Option<f64>)]) -> Result<()> {
    for &(name, v) in values {
        let Some(v) = v else { continue };
        if !v.is_finite() {
            bail!(
                "{name} = {v} is invalid: the flow needs a finite {name} (give --{} or a fit artifact that has it)",
                name.replace('_', "-")
            );
        }
        if name == "d" && v < 1.0 {
            bail!("d = {v} is invalid: d must be >= 1");
        }
        if name == "sigma_w" && v <= 0.0 {
            bail!("sigma_w = {v} is invalid: sigma_W must be > 0");
        }
    }
    Ok(())
}

/// Bytes per trajectory sample: its target, k and three couplings, and nine table columns (as built and as
/// Arrow arrays).
const SAMPLE_BYTES: f64 = 400.0;

impl Args {
    /// Every check that needs no input (`--check-batch`, and the start of [`run`]): the solver settings, the
    /// memory of the trajectory, and the starting values given as flags (all four when there is no fit).
    pub fn validate(&self) -> Result<()> {
        if !(self.k_end_ratio > 0.0 && self.k_end_ratio < 1.0) {
            bail!(
                "--k-end-ratio = {} is invalid: the flow runs from k_0 toward the IR, so it must lie in (0, 1)",
                self.k_end_ratio
            );
        }
        if !(self.rtol > 0.0 && self.rtol <= MAX_RTOL) {
            bail!(
                "--rtol = {} is invalid: use a relative tolerance in (0, {MAX_RTOL:e}]",
                self.rtol
            );
        }
        if let Some(x) = self.at.filter(|x| !x.is_finite()) {
            bail!("--at = {x} is invalid: give a sweep value of the fit");
        }
        nnqft_store::cli::check_memory(
            &format!("--samples {} along the trajectory", self.samples),
            self.samples as f64 * SAMPLE_BYTES,
            "record fewer samples (200, the default, draws smooth curves)",
        )?;
        match self.fit {
            None => start(self, None).map(|_| ()),
            Some(_) => check_start(&[
                ("d", self.d),
                ("sigma_w", self.sigma_w),
                ("u4", self.u4),
                ("u6", self.u6),
            ]),
        }
    }
}

/// Runs the stage; returns the content hash.
pub fn run(args: &Args) -> Result<String> {
    if args.out.exists() {
        bail!(
            "--out {}: already exists; give a new directory",
            args.out.display()
        );
    }
    args.validate()?;
    let fit = args.fit.as_deref().map(read_fit).transpose()?;
    let s = start(args, fit.as_ref())?;
    let d_int = s.d.round() as usize;
    let scales = Scales::new(s.sigma_w, d_int.max(1));
    let k0 = scales.k;
    let ubar = [1.0, scales.u4_dimensionless(s.u4), scales.u6_dimensionless(s.u6)];
    let lpa = Lpa::new(s.d)?;
    let tol = Tolerance {
        rtol: args.rtol,
        atol: args.rtol * ATOL_PER_RTOL,
    };
    let tr = integrate(&lpa, ubar, k0, k0 * args.k_end_ratio, tol, args.samples)?;

    let staging = Staging::new(&args.out)?;
    let params = serde_json::json!({
        "d": s.d, "sigma_w": s.sigma_w, "u4": s.u4, "u6": s.u6, "k0": k0, "k_end_ratio": args.k_end_ratio,
        "rtol": args.rtol, "samples": args.samples, "at": args.at, "stop": tr.stop.describe(),
        "unresolved_inputs": s.unresolved,
    });
    let inputs = fit.as_ref().map(|f| vec![f.hash.clone()]).unwrap_or_default();
    let meta = Meta::new(STAGE, params, inputs);
    let trajectory: Vec<TrajectoryRow> =
        tr.k.iter()
            .zip(&tr.u)
            .map(|(&k, u)| TrajectoryRow {
                k,
                ubar: *u,
                u: [
                    k.powi(2) * u[0],
                    k.powf(4.0 - s.d) * u[1],
                    k.powf(6.0 - 2.0 * s.d) * u[2],
                ],
            })
            .collect();
    contract::write_trajectory(staging.path(), &trajectory, &tr.stop.describe(), &meta)?;
    let fps: Vec<FixedPointRow> = fixed_points(&lpa)
        .iter()
        .map(|f| FixedPointRow {
            ubar: f.u,
            gaussian: f.u.iter().all(|v| v.abs() < GAUSSIAN_ABS),
            exponents: [0, 1, 2].map(|j| {
                let e = f.exponents.get(j);
                (e.map(|e| e.0), e.map(|e| e.1))
            }),
        })
        .collect();
    contract::write_fixed_points(staging.path(), &fps, &meta)?;
    if let Some(f) = fit.as_ref().filter(|f| f.sweep == Sweep::SigmaW) {
        contract::write_active(staging.path(), &active(f, s.d), &meta)?;
    }
    Ok(staging.publish()?)
}

/// Active RG: y(sigma) = y(sigma_ref) (sigma / sigma_ref)^slope for each normalisation, at the sweep points and
/// on a dense grid, with the exact values at the sweep points.
fn active(f: &FitPoints, d: f64) -> Vec<ActiveRow> {
    let xs = f.xs();
    let sref = xs[0];
    let lo = xs[0].ln();
    let hi = xs[xs.len() - 1].ln();
    let grid: Vec<f64> = (0..=ACTIVE_GRID)
        .map(|i| (lo + (hi - lo) * i as f64 / ACTIVE_GRID as f64).exp())
        .collect();
    let mut rows = vec![];
    for quantity in [
        Quantity::U4Abs,
        Quantity::U4CanonAbs,
        Quantity::U4Dimless,
        Quantity::U6Abs,
        Quantity::U6CanonAbs,
        Quantity::U6Dimless,
    ] {
        let slope = predict::sigma_w_exponent(quantity, d).expect("a coupling has a sigma_W exponent");
        let Some(y0) = f.value(quantity, sref) else {
            continue;
        };
        for &sw in xs.iter().chain(&grid) {
            rows.push(ActiveRow {
                quantity,
                sigma_w: sw,
                predicted: y0 * (sw / sref).powf(slope),
                exact: if xs.contains(&sw) {
                    f.row(quantity, sw).and_then(|p| p.exact)
                } else {
                    None
                },
                slope,
            });
        }
    }
    rows
}
