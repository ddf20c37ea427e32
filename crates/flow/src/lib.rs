//! The `flow` stage (PHYSICS.md 6).
//!
//! Passive RG: integrates the LPA flow of (ubar_2, ubar_4, ubar_6) from k_0 = sqrt(2 sigma_W^2 / d) toward the
//! IR, starting from m_0^2 = 2 sigma_W^2 / d (so ubar_2(k_0) = 1) and the measured canonical couplings of a fit
//! artifact (or couplings given as parameters); lists the fixed points of the truncated flow with their
//! stability exponents. Active RG: for a sigma_W sweep, the predicted sigma_W dependence of the raw, canonical
//! and dimensionless couplings from the reference point, beside the exact values, for `report` to overlay.

use anyhow::{Context, Result, bail};
use nnqft_physics::couplings::Scales;
use nnqft_physics::flow::{Lpa, Tolerance, fixed_points, integrate};
use nnqft_store::{Col, Meta, Staging, Table, write_columns};
use std::path::PathBuf;

pub const STAGE: &str = "flow";
pub const TRAJECTORIES: &str = "trajectories.parquet";
pub const FIXED_POINTS: &str = "fixed_points.parquet";
pub const ACTIVE: &str = "active.parquet";

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
    #[arg(long, default_value_t = 1e-2)]
    pub k_end_ratio: f64,
    /// Relative tolerance of the adaptive solver (1e-8 or tighter).
    #[arg(long, default_value_t = 1e-10)]
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

struct FitPoints {
    quantity: Vec<String>,
    x: Vec<Option<f64>>,
    y: Vec<Option<f64>>,
    exact: Vec<Option<f64>>,
    sigma_w: Vec<Option<f64>>,
    resolvable: Vec<bool>,
    sweep: String,
    d: f64,
    hash: String,
}

fn read_fit(dir: &std::path::Path) -> Result<FitPoints> {
    nnqft_store::verify(dir).with_context(|| format!("input {}", dir.display()))?;
    let t = Table::read(&dir.join("points.parquet"), "fit")?;
    let sweep = t.meta.params["sweep"].as_str().unwrap_or("none").to_string();
    let d = t.meta.params["sample"][0]["d"]
        .as_f64()
        .context("fit metadata lacks the sample dimension d")?;
    Ok(FitPoints {
        quantity: t.str("quantity")?,
        x: t.f64("x")?,
        y: t.f64("y")?,
        exact: t.f64("exact")?,
        sigma_w: t.f64("sigma_w")?,
        resolvable: t.bool("resolvable")?,
        sweep,
        d,
        hash: nnqft_store::content_hash(dir)?,
    })
}

impl FitPoints {
    fn value(&self, quantity: &str, x: f64) -> Option<f64> {
        (0..self.quantity.len())
            .find(|&i| self.quantity[i] == quantity && self.x[i] == Some(x))
            .and_then(|i| self.y[i])
    }
    /// Whether the fit marks the quantity at x resolvable (tail rule and noise).
    fn resolvable(&self, quantity: &str, x: f64) -> bool {
        (0..self.quantity.len())
            .any(|i| self.quantity[i] == quantity && self.x[i] == Some(x) && self.resolvable[i])
    }
    fn xs(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.x.iter().flatten().copied().collect();
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
        let i = (0..f.x.len())
            .find(|&i| f.x[i] == Some(x))
            .with_context(|| format!("--at {x}: not a sweep value of the fit"))?;
        s.d = f.d;
        s.sigma_w = f.sigma_w[i].context("sigma_w")?;
        s.u4 = f.value("u4_mean", x).unwrap_or(f64::NAN);
        s.u6 = f.value("u6_mean", x).unwrap_or(f64::NAN);
        for (name, q) in [("u4", "u4_mean"), ("u6", "u6_mean")] {
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
        if !(self.rtol > 0.0 && self.rtol <= 1e-8) {
            bail!(
                "--rtol = {} is invalid: use a relative tolerance in (0, 1e-8]",
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
        atol: args.rtol * 1e-2,
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
    let n = tr.k.len();
    let col = |f: &dyn Fn(usize) -> f64| Col::F64((0..n).map(|i| Some(f(i))).collect());
    write_columns(
        &staging.path().join(TRAJECTORIES),
        vec![
            ("trajectory", Col::Str(vec!["measured".into(); n])),
            ("k", col(&|i| tr.k[i])),
            ("ubar2", col(&|i| tr.u[i][0])),
            ("ubar4", col(&|i| tr.u[i][1])),
            ("ubar6", col(&|i| tr.u[i][2])),
            ("u2", col(&|i| tr.k[i].powi(2) * tr.u[i][0])),
            ("u4", col(&|i| tr.k[i].powf(4.0 - s.d) * tr.u[i][1])),
            ("u6", col(&|i| tr.k[i].powf(6.0 - 2.0 * s.d) * tr.u[i][2])),
            ("stop", Col::Str(vec![tr.stop.describe(); n])),
        ],
        &meta,
    )?;
    let fps = fixed_points(&lpa);
    let exp = |j: usize, im: bool| {
        Col::F64(
            fps.iter()
                .map(|f| f.exponents.get(j).map(|e| if im { e.1 } else { e.0 }))
                .collect(),
        )
    };
    write_columns(
        &staging.path().join(FIXED_POINTS),
        vec![
            ("ubar2", Col::F64(fps.iter().map(|f| Some(f.u[0])).collect())),
            ("ubar4", Col::F64(fps.iter().map(|f| Some(f.u[1])).collect())),
            ("ubar6", Col::F64(fps.iter().map(|f| Some(f.u[2])).collect())),
            (
                "gaussian",
                Col::Bool(fps.iter().map(|f| f.u.iter().all(|v| v.abs() < 1e-10)).collect()),
            ),
            ("exponent1_re", exp(0, false)),
            ("exponent1_im", exp(0, true)),
            ("exponent2_re", exp(1, false)),
            ("exponent2_im", exp(1, true)),
            ("exponent3_re", exp(2, false)),
            ("exponent3_im", exp(2, true)),
        ],
        &meta,
    )?;
    if let Some(f) = fit.as_ref().filter(|f| f.sweep == "sigma_w") {
        write_active(f, s.d, &staging.path().join(ACTIVE), &meta)?;
    }
    Ok(staging.publish()?)
}

/// Active RG: y(sigma) = y(sigma_ref) (sigma / sigma_ref)^slope for each normalisation, at the sweep points and
/// on a dense grid, with the exact values at the sweep points.
fn write_active(f: &FitPoints, d: f64, path: &std::path::Path, meta: &Meta) -> Result<()> {
    let xs = f.xs();
    let sref = xs[0];
    let lo = xs[0].ln();
    let hi = xs[xs.len() - 1].ln();
    let grid: Vec<f64> = (0..=60)
        .map(|i| (lo + (hi - lo) * i as f64 / 60.0).exp())
        .collect();
    let (mut q, mut x, mut pred, mut exact, mut slope) = (vec![], vec![], vec![], vec![], vec![]);
    for (quantity, s) in [
        ("u4_abs", d - 4.0),
        ("u4_canon_abs", 4.0 - d),
        ("u4_dimless", 0.0),
        ("u6_abs", d - 6.0),
        ("u6_canon_abs", 6.0 - 2.0 * d),
        ("u6_dimless", 0.0),
    ] {
        let Some(y0) = f.value(quantity, sref) else {
            continue;
        };
        let exact_at = |sw: f64| {
            (0..f.x.len())
                .find(|&i| f.quantity[i] == quantity && f.x[i] == Some(sw))
                .and_then(|i| f.exact[i])
        };
        for &sw in xs.iter().chain(&grid) {
            q.push(quantity.to_string());
            x.push(Some(sw));
            pred.push(Some(y0 * (sw / sref).powf(s)));
            exact.push(if xs.contains(&sw) { exact_at(sw) } else { None });
            slope.push(Some(s));
        }
    }
    Ok(write_columns(
        path,
        vec![
            ("quantity", Col::Str(q)),
            ("sigma_w", Col::F64(x)),
            ("predicted", Col::F64(pred)),
            ("exact", Col::F64(exact)),
            ("slope", Col::F64(slope)),
        ],
        meta,
    )?)
}
