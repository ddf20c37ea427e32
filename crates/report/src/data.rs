//! Reading the fit and flow artifacts a report is made of.

use anyhow::{Context, Result};
use nnqft_store::Table;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct FitRow {
    pub id: String,
    pub quantity: String,
    /// slope, coef_a, coef_b or mean.
    pub kind: String,
    /// Upper end of the sweep range of the fit (sigma_W ranges), None for the whole sweep.
    pub x_max: Option<f64>,
    pub estimate: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub exact: Option<f64>,
    pub predicted: Option<f64>,
    pub n_used: u64,
    pub excluded: String,
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct PointRow {
    pub quantity: String,
    pub x: f64,
    pub y: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub exact: Option<f64>,
    pub background: Option<f64>,
    pub resolvable: bool,
}

#[derive(Debug, Clone)]
pub struct ComboRow {
    pub x: f64,
    pub n: u64,
    pub m: Option<f64>,
    pub m_exact: Option<f64>,
    pub u: Option<f64>,
    pub u_exact: Option<f64>,
}

/// One fit artifact.
#[derive(Debug, Clone)]
pub struct Fit {
    pub dir: PathBuf,
    pub hash: String,
    pub sweep: String,
    pub label: String,
    /// Short tag for check ids, e.g. "N=100".
    pub tag: String,
    pub d: f64,
    pub arch: String,
    pub sample: serde_json::Value,
    pub bootstrap: u64,
    pub fits: Vec<FitRow>,
    pub points: Vec<PointRow>,
    pub combos: Vec<ComboRow>,
}

impl Fit {
    pub fn fit(&self, id: &str) -> Option<&FitRow> {
        self.fits.iter().find(|f| f.id == id)
    }
    pub fn series(&self, quantity: &str) -> Vec<&PointRow> {
        let mut v: Vec<&PointRow> = self.points.iter().filter(|p| p.quantity == quantity).collect();
        v.sort_by(|a, b| a.x.total_cmp(&b.x));
        v
    }
}

pub fn read_fit(dir: &Path) -> Result<Fit> {
    nnqft_store::verify(dir).with_context(|| format!("fit input {}", dir.display()))?;
    let f = Table::read(&dir.join("fits.parquet"), "fit")?;
    let p = Table::read(&dir.join("points.parquet"), "fit")?;
    let c = Table::read(&dir.join("combos.parquet"), "fit")?;
    let meta = &f.meta;
    let sweep = meta.params["sweep"].as_str().unwrap_or("none").to_string();
    let sample = meta.params["sample"].clone();
    let s0 = &sample[0];
    let arch = s0["arch"].as_str().unwrap_or("?").to_string();
    let d = s0["d"].as_f64().unwrap_or(1.0);
    let (label, tag) = match sweep.as_str() {
        "width" => (
            format!("{arch} width sweep at sigma_W = {}", s0["sigma_w"]),
            format!("{arch},sigma_W={}", s0["sigma_w"]),
        ),
        "sigma_w" => (
            format!("{arch} sigma_W sweep at N = {}", s0["width"]),
            format!("{arch},N={}", s0["width"]),
        ),
        "cutoff" => (
            format!("{arch} cutoff scan at N = {}", s0["width"]),
            format!("{arch},N={}", s0["width"]),
        ),
        _ => (format!("{arch} couplings"), arch.clone()),
    };
    let n = f.rows();
    let (kind, x_max) = (f.str("kind")?, f.f64("x_max")?);
    let (id, q, est, lo, hi, ex, pr, nu, exc, note) = (
        f.str("id")?,
        f.str("quantity")?,
        f.f64("estimate")?,
        f.f64("ci_low")?,
        f.f64("ci_high")?,
        f.f64("exact")?,
        f.f64("predicted")?,
        f.u64("n_used")?,
        f.str("excluded")?,
        f.str("note")?,
    );
    let fits = (0..n)
        .map(|i| FitRow {
            id: id[i].clone(),
            quantity: q[i].clone(),
            kind: kind[i].clone(),
            x_max: x_max[i],
            estimate: est[i],
            lo: lo[i],
            hi: hi[i],
            exact: ex[i],
            predicted: pr[i],
            n_used: nu[i],
            excluded: exc[i].clone(),
            note: note[i].clone(),
        })
        .collect();
    let (pq, px, py, plo, phi, pex, pbg, pres) = (
        p.str("quantity")?,
        p.f64("x")?,
        p.f64("y")?,
        p.f64("ci_low")?,
        p.f64("ci_high")?,
        p.f64("exact")?,
        p.f64("background")?,
        p.bool("resolvable")?,
    );
    let points = (0..p.rows())
        .map(|i| PointRow {
            quantity: pq[i].clone(),
            x: px[i].unwrap_or(f64::NAN),
            y: py[i].unwrap_or(f64::NAN),
            lo: plo[i],
            hi: phi[i],
            exact: pex[i],
            background: pbg[i],
            resolvable: pres[i],
        })
        .collect();
    let cme = c.f64("m_exact")?;
    let (cx, cn, cm, cu, cue) = (
        c.f64("x")?,
        c.u64("n")?,
        c.f64("m")?,
        c.f64("u")?,
        c.f64("u_exact")?,
    );
    let combos = (0..c.rows())
        .map(|i| ComboRow {
            x: cx[i].unwrap_or(f64::NAN),
            n: cn[i],
            m: cm[i],
            m_exact: cme[i],
            u: cu[i],
            u_exact: cue[i],
        })
        .collect();
    Ok(Fit {
        dir: dir.into(),
        hash: nnqft_store::content_hash(dir)?,
        sweep,
        label,
        tag,
        d,
        arch,
        bootstrap: meta.params["bootstrap"].as_u64().unwrap_or(0),
        sample,
        fits,
        points,
        combos,
    })
}

/// A fixed point: couplings, whether Gaussian, stability exponents (re, im).
pub type FixedPoint = ([f64; 3], bool, Vec<(f64, f64)>);

/// One flow artifact.
#[derive(Debug, Clone)]
pub struct Flow {
    pub hash: String,
    /// Content hashes of the flow's inputs (the fit it started from).
    pub inputs: Vec<String>,
    pub params: serde_json::Value,
    pub k: Vec<f64>,
    pub ubar: [Vec<f64>; 3],
    pub stop: String,
    pub fixed: Vec<FixedPoint>,
    /// Active-RG predictions: (quantity, sigma_w, predicted, exact).
    pub active: Vec<(String, f64, f64, Option<f64>)>,
}

pub fn read_flow(dir: &Path) -> Result<Flow> {
    nnqft_store::verify(dir).with_context(|| format!("flow input {}", dir.display()))?;
    let t = Table::read(&dir.join("trajectories.parquet"), "flow")?;
    let get =
        |c: &str| -> Result<Vec<f64>> { Ok(t.f64(c)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()) };
    let fp = Table::read(&dir.join("fixed_points.parquet"), "flow")?;
    let fcol =
        |c: &str| -> Result<Vec<f64>> { Ok(fp.f64(c)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()) };
    let (a, b, c, g) = (
        fcol("ubar2")?,
        fcol("ubar4")?,
        fcol("ubar6")?,
        fp.bool("gaussian")?,
    );
    let ex: Vec<Vec<f64>> = [
        "exponent1_re",
        "exponent1_im",
        "exponent2_re",
        "exponent2_im",
        "exponent3_re",
        "exponent3_im",
    ]
    .iter()
    .map(|c| fcol(c))
    .collect::<Result<_>>()?;
    let fixed = (0..fp.rows())
        .map(|i| {
            (
                [a[i], b[i], c[i]],
                g[i],
                vec![(ex[0][i], ex[1][i]), (ex[2][i], ex[3][i]), (ex[4][i], ex[5][i])],
            )
        })
        .collect();
    let active_path = dir.join("active.parquet");
    let active = if active_path.exists() {
        let at = Table::read(&active_path, "flow")?;
        let (q, s, p, e) = (
            at.str("quantity")?,
            at.f64("sigma_w")?,
            at.f64("predicted")?,
            at.f64("exact")?,
        );
        (0..at.rows())
            .map(|i| {
                (
                    q[i].clone(),
                    s[i].unwrap_or(f64::NAN),
                    p[i].unwrap_or(f64::NAN),
                    e[i],
                )
            })
            .collect()
    } else {
        vec![]
    };
    Ok(Flow {
        hash: nnqft_store::content_hash(dir)?,
        inputs: t.meta.inputs.clone(),
        params: t.meta.params.clone(),
        k: get("k")?,
        ubar: [get("ubar2")?, get("ubar4")?, get("ubar6")?],
        stop: t.str("stop")?.first().cloned().unwrap_or_default(),
        fixed,
        active,
    })
}
