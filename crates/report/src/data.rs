//! The fit and flow artifacts a report is made of, read through the contract (`nnqft-contract`), with the
//! labels the report shows.

use anyhow::Result;
pub use nnqft_contract::fit::{
    ComboRow, Estimator, Exclusion, FitId, FitRow, PointRow, Quantity, Reason, Sweep,
};
pub use nnqft_contract::flow::{ActiveRow, Origin, Start, Trajectory, TrajectoryRow};
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
    /// The estimator whose numbers decide the claims: the conditional-Gaussian one (PHYSICS.md 9) where the fit
    /// has it, else the products of f.
    pub fn primary(&self) -> Estimator {
        if self.fits.iter().any(|r| r.estimator == Estimator::Conditional) {
            Estimator::Conditional
        } else {
            Estimator::Products
        }
    }
    /// The row of a fit from the primary estimator, or from any estimator where the primary one lacks it.
    pub fn fit(&self, id: FitId) -> Option<&FitRow> {
        self.fit_of(id, self.primary())
            .or_else(|| self.fits.iter().find(|f| f.id == id))
    }
    /// The row of a fit from one estimator.
    pub fn fit_of(&self, id: FitId, e: Estimator) -> Option<&FitRow> {
        self.fits.iter().find(|f| f.id == id && f.estimator == e)
    }
    /// The rows of a fit from the estimators other than `e` (shown beside its verdict).
    pub fn others(&self, id: FitId, e: Estimator) -> Vec<&FitRow> {
        self.fits
            .iter()
            .filter(|f| f.id == id && f.estimator != e)
            .collect()
    }
    /// A quantity at every sweep point, from the primary estimator (or any, where the primary one lacks it).
    pub fn series(&self, quantity: Quantity) -> Vec<&PointRow> {
        let v = self.series_of(quantity, self.primary());
        if !v.is_empty() {
            return v;
        }
        let e = self
            .points
            .iter()
            .find(|p| p.quantity == quantity)
            .map(|p| p.estimator);
        e.map(|e| self.series_of(quantity, e)).unwrap_or_default()
    }
    /// A quantity at every sweep point from one estimator, in sweep order.
    pub fn series_of(&self, quantity: Quantity, e: Estimator) -> Vec<&PointRow> {
        let mut v: Vec<&PointRow> = self
            .points
            .iter()
            .filter(|p| p.quantity == quantity && p.estimator == e)
            .collect();
        v.sort_by(|a, b| a.x.total_cmp(&b.x));
        v
    }
    /// The point of a quantity at one sweep value, from one estimator.
    pub fn point(&self, quantity: Quantity, x: f64, e: Estimator) -> Option<&PointRow> {
        self.points
            .iter()
            .find(|p| p.quantity == quantity && p.x == x && p.estimator == e)
    }
    /// The points a fit could use: its quantity's series from its estimator, resolvable and within its range.
    pub fn used(&self, r: &FitRow) -> Vec<&PointRow> {
        let mut v = self.series_of(r.quantity, r.estimator);
        v.retain(|p| p.resolvable && r.x_max.is_none_or(|m| p.x <= m));
        v
    }
    /// The per-combination rows of the primary estimator (or of any, where it has none).
    pub fn primary_combos(&self) -> Vec<&ComboRow> {
        let e = self.primary();
        let v: Vec<&ComboRow> = self.combos.iter().filter(|c| c.estimator == e).collect();
        if v.is_empty() {
            self.combos.iter().collect()
        } else {
            v
        }
    }
}

/// The section label and the check-id tag of a dataset.
pub fn label_and_tag(sweep: Sweep, arch: &str, s0: &serde_json::Value) -> (String, String) {
    // Unequal hidden widths are recorded as `widths` (no single `width`).
    let n = match &s0["width"] {
        serde_json::Value::Null => s0["widths"].to_string(),
        w => w.to_string(),
    };
    let (label, tag) = match sweep {
        Sweep::Width => (
            format!("{arch} width sweep at sigma_W = {}", s0["sigma_w"]),
            format!("{arch},sigma_W={}", s0["sigma_w"]),
        ),
        Sweep::SigmaW => (
            format!("{arch} sigma_W sweep at N = {n}"),
            format!("{arch},N={n}"),
        ),
        Sweep::Cutoff => (format!("{arch} cutoff scan at N = {n}"), format!("{arch},N={n}")),
        Sweep::None => (format!("{arch} couplings"), arch.to_string()),
        // Any other swept parameter (sigma_b, d, depth, d_out, ...): the generic figures and claims.
        #[allow(unreachable_patterns)]
        other => (
            format!(
                "{arch} {} sweep at N = {n}, sigma_W = {}",
                other.name(),
                s0["sigma_w"]
            ),
            format!("{arch},{}-sweep,N={n}", other.name()),
        ),
    };
    let (more_label, more_tag) = architecture(s0);
    (label + &more_label, tag + &more_tag)
}

/// What tells deep and multi-output samples apart (issue 15): the depth (`depth`, or the length of `widths`)
/// and `d_out`, as a label suffix and a tag suffix; empty for one hidden layer with one output, so those
/// reports stay as they were.
fn architecture(s0: &serde_json::Value) -> (String, String) {
    let depth = s0["depth"]
        .as_u64()
        .or_else(|| s0["widths"].as_array().map(|w| w.len() as u64))
        .unwrap_or(1);
    let d_out = s0["d_out"].as_u64().unwrap_or(1);
    let (mut label, mut tag) = (String::new(), String::new());
    if let Some(w) = s0["widths"].as_array() {
        let ws: Vec<String> = w.iter().map(|v| v.to_string()).collect();
        label += &format!(", hidden widths {}", ws.join(", "));
        tag += &format!(",widths={}", ws.join("-"));
    } else if depth > 1 {
        label += &format!(", {depth} hidden layers");
        tag += &format!(",L={depth}");
    }
    if d_out > 1 {
        label += &format!(", {d_out} outputs");
        tag += &format!(",d_out={d_out}");
    }
    (label, tag)
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
    /// Starting couplings the fit marks unresolvable (the trajectory from the measured couplings is not drawn).
    pub unresolved: Vec<String>,
    /// The sweep value of the fit the flow started at (None: couplings given as parameters).
    pub x: Option<f64>,
    /// The trajectories, the one from the measured couplings first.
    pub trajectories: Vec<Trajectory>,
    pub fixed: Vec<FixedPoint>,
    /// Active-RG predictions.
    pub active: Vec<ActiveRow>,
}

impl Flow {
    /// Why the integration from the measured couplings ended (the contract puts that trajectory first).
    pub fn stop(&self) -> &str {
        &self.trajectories[0].stop
    }
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
        x: a.params["x"].as_f64(),
        params: a.params,
        unresolved: a.unresolved,
        trajectories: a.trajectories,
        fixed,
        active: a.active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_and_multi_output_sweeps_get_their_own_labels_and_tags() {
        let one = serde_json::json!({"sigma_w": 1.0, "width": 10});
        assert_eq!(
            label_and_tag(Sweep::Width, "relu", &one),
            (
                "relu width sweep at sigma_W = 1.0".into(),
                "relu,sigma_W=1.0".into()
            )
        );
        let deep = serde_json::json!({"sigma_w": 1.0, "width": 10, "depth": 3, "d_out": 2});
        assert_eq!(
            label_and_tag(Sweep::Width, "relu", &deep),
            (
                "relu width sweep at sigma_W = 1.0, 3 hidden layers, 2 outputs".into(),
                "relu,sigma_W=1.0,L=3,d_out=2".into()
            )
        );
        let uneven = serde_json::json!({"sigma_w": 1.0, "widths": [4, 6]});
        assert_eq!(
            label_and_tag(Sweep::SigmaW, "tanh", &uneven).1,
            "tanh,N=[4,6],widths=4-6"
        );
    }
}
