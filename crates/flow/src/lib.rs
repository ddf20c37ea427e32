//! The `flow` stage (PHYSICS.md 6).
//!
//! Passive RG: integrates the LPA flow of (ubar_2, ubar_4, ubar_6) from k_0 = sqrt(2 sigma_W^2 / d) toward the
//! IR, starting from m_0^2 = 2 sigma_W^2 / d (so ubar_2(k_0) = 1) and the measured canonical couplings of a fit
//! artifact (or couplings given as parameters); lists the fixed points of the truncated flow with their
//! stability exponents. Where the fit marks a starting coupling unresolvable, a second trajectory starts from
//! the resolvable couplings only (each unresolvable one at its exact value, or 0 where the fit has none), and
//! where the fit has exact values a third starts from them, so that the report can draw a flow that is a
//! result beside the exact theory's. Active RG: for a sigma_W sweep, the predicted sigma_W dependence of the raw, canonical
//! and dimensionless couplings from the reference point, beside the exact values, for `report` to overlay.

use anyhow::{Context, Result, bail};
use nnqft_contract::fit::{Estimator, PointRow, Quantity, Sweep};
use nnqft_contract::flow::{
    self as contract, ActiveRow, FixedPointRow, Origin, STAGE, Start as TrajectoryStart, Trajectory,
    TrajectoryRow,
};
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
/// Initial couplings come from a fit artifact (its first sweep point, or --at; the conditional-Gaussian
/// estimator's values where the fit has them) and/or from --sigma-w, --d, --u4, --u6 (raw couplings; flags
/// override the fit). Output: DIR/trajectories.parquet (the flow from the measured couplings; where the fit marks
/// one unresolvable, also the flow from the resolvable ones with the others at their exact value, or 0; and the
/// flow from the exact couplings where the fit has them), DIR/fixed_points.parquet and, for sigma_W sweeps,
/// DIR/active.parquet.
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
    /// The sweep value of the fit the couplings come from.
    pub x: Option<f64>,
    pub u4: f64,
    pub u6: f64,
    /// Where u_4 and u_6 came from (measured, or given on the command line).
    pub from: [Origin; 2],
    /// The fit's exact u_4 and u_6 at the starting point, where it has them.
    pub exact: [Option<f64>; 2],
    /// Couplings taken from a fit that marks them unresolvable (flagged in the artifact and the report).
    pub unresolved: Vec<&'static str>,
}

impl Start {
    /// The raw starting couplings (u_4, u_6) of each trajectory, with their origins: the measured one always;
    /// where a measured coupling is unresolvable, one from the resolvable couplings only (the others at their
    /// exact value, or 0; omitted where that makes every one exact); where the fit has both exact couplings, one
    /// from them.
    pub fn trajectories(&self) -> Vec<(TrajectoryStart, [f64; 2], [Origin; 2])> {
        let measured = [self.u4, self.u6];
        let mut v = vec![(TrajectoryStart::Measured, measured, self.from)];
        if !self.unresolved.is_empty() {
            let mut u = measured;
            let mut from = self.from;
            for (i, name) in ["u4", "u6"].iter().enumerate() {
                if self.unresolved.contains(name) {
                    (u[i], from[i]) = match self.exact[i] {
                        Some(e) => (e, Origin::Exact),
                        None => (0.0, Origin::Zero),
                    };
                }
            }
            // Where every coupling is taken at its exact value, it is the exact trajectory below.
            if from != [Origin::Exact; 2] {
                v.push((TrajectoryStart::Resolvable, u, from));
            }
        }
        if let [Some(e4), Some(e6)] = self.exact {
            v.push((TrajectoryStart::Exact, [e4, e6], [Origin::Exact; 2]));
        }
        v
    }
}

/// The sweep points of a fit artifact (read through the contract).
struct FitPoints {
    points: Vec<PointRow>,
    sweep: Sweep,
    d: f64,
    hash: String,
}

/// Reads the points of a fit artifact (verified against its manifest), every estimator's.
fn read_fit(dir: &std::path::Path) -> Result<FitPoints> {
    let a = nnqft_contract::fit::read(dir).with_context(|| format!("input {}", dir.display()))?;
    Ok(FitPoints {
        points: a.points,
        sweep: a.params.sweep,
        d: a.params.d,
        hash: a.hash,
    })
}

impl FitPoints {
    /// The quantity at sweep value x, from the conditional-Gaussian estimator where the fit has it (PHYSICS.md 9),
    /// else from the products of f.
    fn row(&self, quantity: Quantity, x: f64) -> Option<&PointRow> {
        let of = |e: Estimator| {
            self.points
                .iter()
                .find(|p| p.quantity == quantity && p.x == x && p.estimator == e)
        };
        of(Estimator::Conditional).or_else(|| of(Estimator::Products))
    }
    fn value(&self, quantity: Quantity, x: f64) -> Option<f64> {
        self.row(quantity, x).map(|p| p.y)
    }
    fn exact(&self, quantity: Quantity, x: f64) -> Option<f64> {
        self.row(quantity, x)
            .and_then(|p| p.exact)
            .filter(|e| e.is_finite())
    }
    /// Whether the fit marks the quantity at x resolvable (tail rule and noise), for the estimator of [`Self::row`].
    fn resolvable(&self, quantity: Quantity, x: f64) -> bool {
        self.row(quantity, x).is_some_and(|p| p.resolvable)
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
        x: None,
        u4: f64::NAN,
        u6: f64::NAN,
        from: [Origin::Given; 2],
        exact: [None; 2],
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
        s.x = Some(x);
        s.u4 = f.value(Quantity::U4Mean, x).unwrap_or(f64::NAN);
        s.u6 = f.value(Quantity::U6Mean, x).unwrap_or(f64::NAN);
        s.from = [Origin::Measured; 2];
        s.exact = [f.exact(Quantity::U4Mean, x), f.exact(Quantity::U6Mean, x)];
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
        s.from[0] = Origin::Given;
        s.unresolved.retain(|n| *n != "u4");
    }
    if let Some(v) = args.u6 {
        s.u6 = v;
        s.from[1] = Origin::Given;
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

/// Bytes per trajectory sample: its target, k and three couplings, and eleven table columns (as built and as
/// Arrow arrays); a flow writes up to one trajectory per [`contract::Start`].
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
            self.samples as f64 * SAMPLE_BYTES * contract::Start::ALL.len() as f64,
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
    let lpa = Lpa::new(s.d)?;
    let tol = Tolerance {
        rtol: args.rtol,
        atol: args.rtol * ATOL_PER_RTOL,
    };
    let mut trajectories = vec![];
    for (start, [u4, u6], from) in s.trajectories() {
        let ubar = [1.0, scales.u4_dimensionless(u4), scales.u6_dimensionless(u6)];
        let tr = integrate(&lpa, ubar, k0, k0 * args.k_end_ratio, tol, args.samples)
            .with_context(|| format!("the flow from the {} couplings", start.name()))?;
        let rows =
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
        trajectories.push(Trajectory {
            start,
            from,
            rows,
            stop: tr.stop.describe(),
        });
    }
    let starts: Vec<serde_json::Value> = s
        .trajectories()
        .iter()
        .map(|(t, u, from)| {
            serde_json::json!({"trajectory": t.name(), "u4": u[0], "u6": u[1],
                "u4_from": from[0].name(), "u6_from": from[1].name()})
        })
        .collect();

    let staging = Staging::new(&args.out)?;
    let params = serde_json::json!({
        "d": s.d, "sigma_w": s.sigma_w, "x": s.x, "u4": s.u4, "u6": s.u6, "k0": k0,
        "k_end_ratio": args.k_end_ratio, "rtol": args.rtol, "samples": args.samples, "at": args.at,
        "stop": trajectories[0].stop, "unresolved_inputs": s.unresolved, "starts": starts,
    });
    let inputs = fit.as_ref().map(|f| vec![f.hash.clone()]).unwrap_or_default();
    let meta = Meta::new(STAGE, params, inputs);
    contract::write_trajectories(staging.path(), &trajectories, &meta)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn start(unresolved: Vec<&'static str>, exact: [Option<f64>; 2]) -> Start {
        Start {
            d: 1.0,
            sigma_w: 1.0,
            x: Some(1.0),
            u4: -0.1,
            u6: 3.0,
            from: [Origin::Measured; 2],
            exact,
            unresolved,
        }
    }

    #[test]
    fn the_flow_starts_from_the_conditional_estimator_where_the_fit_has_it() {
        let point = |estimator, y, resolvable| PointRow {
            quantity: Quantity::U6Mean,
            estimator,
            x: 1.0,
            y,
            lo: None,
            hi: None,
            exact: Some(-2.0),
            background: None,
            resolvable,
            width: 10,
            sigma_w: Some(1.0),
            ess: None,
            ess_min: None,
            tail_ratio: None,
            tail_min: None,
        };
        let mut f = FitPoints {
            points: vec![
                point(Estimator::Products, 5.0, false),
                point(Estimator::Conditional, -1.9, true),
            ],
            sweep: Sweep::SigmaW,
            d: 1.0,
            hash: String::new(),
        };
        assert_eq!(f.value(Quantity::U6Mean, 1.0), Some(-1.9));
        assert!(f.resolvable(Quantity::U6Mean, 1.0));
        // Products only (a fit of older moments): its values.
        f.points.remove(1);
        assert_eq!(f.value(Quantity::U6Mean, 1.0), Some(5.0));
        assert!(!f.resolvable(Quantity::U6Mean, 1.0));
    }

    #[test]
    fn unresolvable_couplings_get_a_trajectory_from_the_resolvable_ones() {
        use TrajectoryStart::*;
        // All resolvable, exact values known: the measured flow and the exact one.
        assert_eq!(
            start(vec![], [Some(-0.12), Some(-2.0)]).trajectories(),
            [
                (Measured, [-0.1, 3.0], [Origin::Measured; 2]),
                (Exact, [-0.12, -2.0], [Origin::Exact; 2])
            ]
        );
        // u_6 unresolvable: it takes its exact value beside the measured u_4.
        assert_eq!(
            start(vec!["u6"], [Some(-0.12), Some(-2.0)]).trajectories()[1],
            (Resolvable, [-0.1, -2.0], [Origin::Measured, Origin::Exact])
        );
        // Both unresolvable: the flow from the resolvable couplings is the exact one.
        assert_eq!(
            start(vec!["u4", "u6"], [Some(-0.12), Some(-2.0)]).trajectories(),
            [
                (Measured, [-0.1, 3.0], [Origin::Measured; 2]),
                (Exact, [-0.12, -2.0], [Origin::Exact; 2])
            ]
        );
        // No exact values: the unresolvable coupling is set to 0, and there is no exact flow.
        assert_eq!(
            start(vec!["u6", "u4"], [None, None]).trajectories(),
            [
                (Measured, [-0.1, 3.0], [Origin::Measured; 2]),
                (Resolvable, [0.0, 0.0], [Origin::Zero; 2])
            ]
        );
    }
}
