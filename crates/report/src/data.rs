//! The fit and flow artifacts a report is made of, read through the contract (`nnqft-contract`), with the
//! labels the report shows.

use anyhow::Result;
pub use nnqft_contract::fit::{ComboRow, FitId, FitRow, PointRow, Quantity, Sweep};
pub use nnqft_contract::flow::ActiveRow;
use std::path::{Path, PathBuf};

/// One fit artifact.
#[derive(Debug, Clone)]
pub struct Fit {
    pub dir: PathBuf,
    pub hash: String,
    pub sweep: Sweep,
    pub label: String,
    /// Short tag for check ids, e.g. "N=100".
    pub tag: String,
    pub d: f64,
    pub arch: String,
    /// The sample parameters of every sweep point.
    pub sample: Vec<serde_json::Value>,
    pub bootstrap: u64,
    pub fits: Vec<FitRow>,
    pub points: Vec<PointRow>,
    pub combos: Vec<ComboRow>,
}

impl Fit {
    pub fn fit(&self, id: FitId) -> Option<&FitRow> {
        self.fits.iter().find(|f| f.id == id)
    }
    pub fn series(&self, quantity: Quantity) -> Vec<&PointRow> {
        let mut v: Vec<&PointRow> = self.points.iter().filter(|p| p.quantity == quantity).collect();
        v.sort_by(|a, b| a.x.total_cmp(&b.x));
        v
    }
}

/// The section label and the check-id tag of a dataset.
pub fn label_and_tag(sweep: Sweep, arch: &str, s0: &serde_json::Value) -> (String, String) {
    match sweep {
        Sweep::Width => (
            format!("{arch} width sweep at sigma_W = {}", s0["sigma_w"]),
            format!("{arch},sigma_W={}", s0["sigma_w"]),
        ),
        Sweep::SigmaW => (
            format!("{arch} sigma_W sweep at N = {}", s0["width"]),
            format!("{arch},N={}", s0["width"]),
        ),
        Sweep::Cutoff => (
            format!("{arch} cutoff scan at N = {}", s0["width"]),
            format!("{arch},N={}", s0["width"]),
        ),
        Sweep::None => (format!("{arch} couplings"), arch.to_string()),
    }
}

pub fn read_fit(dir: &Path) -> Result<Fit> {
    let a = nnqft_contract::fit::read(dir)?;
    let p = a.params;
    let (label, tag) = label_and_tag(p.sweep, &p.arch, &p.sample[0]);
    Ok(Fit {
        dir: a.dir,
        hash: a.hash,
        sweep: p.sweep,
        label,
        tag,
        d: p.d,
        arch: p.arch,
        sample: p.sample,
        bootstrap: p.bootstrap,
        fits: a.fits,
        points: a.points,
        combos: a.combos,
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
    /// Starting couplings the fit marks unresolvable (no trajectory figure then).
    pub unresolved: Vec<String>,
    pub k: Vec<f64>,
    pub ubar: [Vec<f64>; 3],
    pub stop: String,
    pub fixed: Vec<FixedPoint>,
    /// Active-RG predictions.
    pub active: Vec<ActiveRow>,
}

pub fn read_flow(dir: &Path) -> Result<Flow> {
    let a = nnqft_contract::flow::read(dir)?;
    let fixed = a
        .fixed_points
        .iter()
        .map(|f| {
            let e = f
                .exponents
                .map(|(re, im)| (re.unwrap_or(f64::NAN), im.unwrap_or(f64::NAN)));
            (f.ubar, f.gaussian, e.to_vec())
        })
        .collect();
    Ok(Flow {
        hash: a.hash,
        inputs: a.inputs,
        params: a.params,
        unresolved: a.unresolved,
        k: a.trajectory.iter().map(|r| r.k).collect(),
        ubar: [0, 1, 2].map(|i| a.trajectory.iter().map(|r| r.ubar[i]).collect()),
        stop: a.stop,
        fixed,
        active: a.active,
    })
}
