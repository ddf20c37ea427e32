//! The `flow` stage's artifact: `trajectories.parquet` (the flow sampled in k), `fixed_points.parquet` (fixed
//! points with their stability exponents) and, for a sigma_W sweep, `active.parquet` (the active-RG
//! predictions).

use crate::fit::Quantity;
use crate::{parsed, required};
use anyhow::{Context, Result, bail};
use nnqft_store::{Col, Meta, Table, write_columns};
use std::path::Path;

/// Stage name recorded in the tables' metadata.
pub const STAGE: &str = "flow";
pub const TRAJECTORIES: &str = "trajectories.parquet";
pub const FIXED_POINTS: &str = "fixed_points.parquet";
pub const ACTIVE: &str = "active.parquet";

/// Where a trajectory starts (the `trajectory` column of [`TRAJECTORIES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From every measured coupling, resolvable or not (a result only where all are resolvable).
    Measured,
    /// From the measured couplings the fit marks resolvable; each unresolvable one at its exact value where the
    /// fit has one, else at 0 (written only where some measured coupling is unresolvable).
    Resolvable,
    /// From the exact couplings (where the fit has exact values).
    Exact,
}

impl Start {
    pub const ALL: [Start; 3] = [Start::Measured, Start::Resolvable, Start::Exact];
    pub fn name(self) -> &'static str {
        match self {
            Start::Measured => "measured",
            Start::Resolvable => "resolvable",
            Start::Exact => "exact",
        }
    }
    pub fn parse(s: &str) -> Option<Start> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// Where the starting value of one coupling came from (columns `u4_from`, `u6_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The fit's measured (combination-averaged) value.
    Measured,
    /// The fit's exact value.
    Exact,
    /// Set to 0: unresolvable, and no exact value.
    Zero,
    /// Given on the command line.
    Given,
}

impl Origin {
    pub const ALL: [Origin; 4] = [Origin::Measured, Origin::Exact, Origin::Zero, Origin::Given];
    pub fn name(self) -> &'static str {
        match self {
            Origin::Measured => "measured",
            Origin::Exact => "exact",
            Origin::Zero => "zero",
            Origin::Given => "given",
        }
    }
    pub fn parse(s: &str) -> Option<Origin> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// One sample of a trajectory.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRow {
    pub k: f64,
    /// ubar_2, ubar_4, ubar_6.
    pub ubar: [f64; 3],
    /// u_2, u_4, u_6 (dimensionful: k^2 ubar_2, k^(4-d) ubar_4, k^(6-2d) ubar_6).
    pub u: [f64; 3],
}

/// One trajectory: where it started, its samples and why the integration ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    pub start: Start,
    /// Where the starting u_4 and u_6 came from.
    pub from: [Origin; 2],
    pub rows: Vec<TrajectoryRow>,
    pub stop: String,
}

/// A fixed point: its couplings, whether it is the Gaussian one, its three stability exponents (re, im).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPointRow {
    pub ubar: [f64; 3],
    pub gaussian: bool,
    pub exponents: [(Option<f64>, Option<f64>); 3],
}

/// An active-RG prediction y(sigma_W) = y(sigma_ref) (sigma_W / sigma_ref)^slope.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveRow {
    pub quantity: Quantity,
    pub sigma_w: f64,
    pub predicted: f64,
    pub exact: Option<f64>,
    pub slope: f64,
}

/// Writes [`TRAJECTORIES`]: every trajectory, one after the other.
pub fn write_trajectories(dir: &Path, trajectories: &[Trajectory], meta: &Meta) -> Result<()> {
    let rows: Vec<(&Trajectory, &TrajectoryRow)> = trajectories
        .iter()
        .flat_map(|t| t.rows.iter().map(move |r| (t, r)))
        .collect();
    let col = |f: &dyn Fn(&TrajectoryRow) -> f64| Col::F64(rows.iter().map(|(_, r)| Some(f(r))).collect());
    let text =
        |f: &dyn Fn(&Trajectory) -> &str| Col::Str(rows.iter().map(|(t, _)| f(t).to_string()).collect());
    write_columns(
        &dir.join(TRAJECTORIES),
        vec![
            ("trajectory", text(&|t| t.start.name())),
            ("u4_from", text(&|t| t.from[0].name())),
            ("u6_from", text(&|t| t.from[1].name())),
            ("k", col(&|r| r.k)),
            ("ubar2", col(&|r| r.ubar[0])),
            ("ubar4", col(&|r| r.ubar[1])),
            ("ubar6", col(&|r| r.ubar[2])),
            ("u2", col(&|r| r.u[0])),
            ("u4", col(&|r| r.u[1])),
            ("u6", col(&|r| r.u[2])),
            ("stop", text(&|t| &t.stop)),
        ],
        meta,
    )?;
    Ok(())
}

const EXPONENT_COLUMNS: [[&str; 2]; 3] = [
    ["exponent1_re", "exponent1_im"],
    ["exponent2_re", "exponent2_im"],
    ["exponent3_re", "exponent3_im"],
];

/// Writes [`FIXED_POINTS`].
pub fn write_fixed_points(dir: &Path, rows: &[FixedPointRow], meta: &Meta) -> Result<()> {
    let ubar = |i: usize| Col::F64(rows.iter().map(|r| Some(r.ubar[i])).collect());
    let mut cols = vec![
        ("ubar2", ubar(0)),
        ("ubar4", ubar(1)),
        ("ubar6", ubar(2)),
        ("gaussian", Col::Bool(rows.iter().map(|r| r.gaussian).collect())),
    ];
    for (j, [re, im]) in EXPONENT_COLUMNS.iter().enumerate() {
        cols.push((re, Col::F64(rows.iter().map(|r| r.exponents[j].0).collect())));
        cols.push((im, Col::F64(rows.iter().map(|r| r.exponents[j].1).collect())));
    }
    write_columns(&dir.join(FIXED_POINTS), cols, meta)?;
    Ok(())
}

/// Writes [`ACTIVE`].
pub fn write_active(dir: &Path, rows: &[ActiveRow], meta: &Meta) -> Result<()> {
    write_columns(
        &dir.join(ACTIVE),
        vec![
            (
                "quantity",
                Col::Str(rows.iter().map(|r| r.quantity.name().into()).collect()),
            ),
            (
                "sigma_w",
                Col::F64(rows.iter().map(|r| Some(r.sigma_w)).collect()),
            ),
            (
                "predicted",
                Col::F64(rows.iter().map(|r| Some(r.predicted)).collect()),
            ),
            ("exact", Col::F64(rows.iter().map(|r| r.exact).collect())),
            ("slope", Col::F64(rows.iter().map(|r| Some(r.slope)).collect())),
        ],
        meta,
    )?;
    Ok(())
}

/// A flow artifact read back whole.
#[derive(Debug, Clone)]
pub struct FlowArtifact {
    /// Content hash of the artifact.
    pub hash: String,
    /// Content hashes of the flow's inputs (the fit it started from).
    pub inputs: Vec<String>,
    pub params: serde_json::Value,
    /// Starting couplings the fit marks unresolvable (`u4`, `u6`): a trajectory from them is not a result.
    pub unresolved: Vec<String>,
    /// The trajectories, [`Start::Measured`] first.
    pub trajectories: Vec<Trajectory>,
    pub fixed_points: Vec<FixedPointRow>,
    /// Empty unless the flow started from a sigma_W sweep.
    pub active: Vec<ActiveRow>,
}

/// Verifies a flow artifact against its manifest and reads its tables.
pub fn read(dir: &Path) -> Result<FlowArtifact> {
    nnqft_store::verify(dir).with_context(|| format!("flow input {}", dir.display()))?;
    let t = Table::read(&dir.join(TRAJECTORIES), STAGE)?;
    let (k, b2, b4, b6) = (
        required(&t, "k")?,
        required(&t, "ubar2")?,
        required(&t, "ubar4")?,
        required(&t, "ubar6")?,
    );
    let (u2, u4, u6) = (required(&t, "u2")?, required(&t, "u4")?, required(&t, "u6")?);
    let (stops, starts) = (t.str("stop")?, parsed(&t, "trajectory", Start::parse)?);
    let (u4_from, u6_from) = (
        parsed(&t, "u4_from", Origin::parse)?,
        parsed(&t, "u6_from", Origin::parse)?,
    );
    let mut trajectories: Vec<Trajectory> = vec![];
    for i in 0..t.rows() {
        let row = TrajectoryRow {
            k: k[i],
            ubar: [b2[i], b4[i], b6[i]],
            u: [u2[i], u4[i], u6[i]],
        };
        match trajectories.iter_mut().find(|tr| tr.start == starts[i]) {
            Some(tr) => tr.rows.push(row),
            None => trajectories.push(Trajectory {
                start: starts[i],
                from: [u4_from[i], u6_from[i]],
                rows: vec![row],
                stop: stops[i].clone(),
            }),
        }
    }
    if trajectories.first().map(|tr| tr.start) != Some(Start::Measured) {
        bail!(
            "{}: the first trajectory must start from the measured couplings (trajectory = measured)",
            t.path.display()
        );
    }
    let fp = Table::read(&dir.join(FIXED_POINTS), STAGE)?;
    let (a, b, c, g) = (
        required(&fp, "ubar2")?,
        required(&fp, "ubar4")?,
        required(&fp, "ubar6")?,
        fp.bool("gaussian")?,
    );
    let ex: Vec<[Vec<Option<f64>>; 2]> = EXPONENT_COLUMNS
        .iter()
        .map(|[re, im]| Ok([fp.f64(re)?, fp.f64(im)?]))
        .collect::<Result<_>>()?;
    let fixed_points = (0..fp.rows())
        .map(|i| FixedPointRow {
            ubar: [a[i], b[i], c[i]],
            gaussian: g[i],
            exponents: [0, 1, 2].map(|j| (ex[j][0][i], ex[j][1][i])),
        })
        .collect();
    let active_path = dir.join(ACTIVE);
    let active = if active_path.exists() {
        let at = Table::read(&active_path, STAGE)?;
        let q = parsed(&at, "quantity", Quantity::parse)?;
        let (s, p, e, sl) = (
            required(&at, "sigma_w")?,
            required(&at, "predicted")?,
            at.f64("exact")?,
            required(&at, "slope")?,
        );
        (0..at.rows())
            .map(|i| ActiveRow {
                quantity: q[i],
                sigma_w: s[i],
                predicted: p[i],
                exact: e[i],
                slope: sl[i],
            })
            .collect()
    } else {
        vec![]
    };
    let unresolved = t.meta.params["unresolved_inputs"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
        })
        .with_context(|| {
            format!(
                "{}: the flow's metadata (nnqft.params) lacks unresolved_inputs (a list of coupling names)",
                t.path.display()
            )
        })?;
    Ok(FlowArtifact {
        hash: nnqft_store::content_hash(dir)?,
        inputs: t.meta.inputs.clone(),
        params: t.meta.params.clone(),
        unresolved,
        trajectories,
        fixed_points,
        active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(out: &Path, params: serde_json::Value) {
        let staging = nnqft_store::Staging::new(out).unwrap();
        let dir = staging.path();
        let meta = Meta::new(STAGE, params, vec!["ab".repeat(32)]);
        let row = |k: f64| TrajectoryRow {
            k,
            ubar: [1.0, -0.5, 0.25],
            u: [1.0, -0.5, 0.25],
        };
        let traj = [
            Trajectory {
                start: Start::Measured,
                from: [Origin::Measured, Origin::Measured],
                rows: vec![row(1.0), row(0.5)],
                stop: "reached k_end".into(),
            },
            Trajectory {
                start: Start::Resolvable,
                from: [Origin::Measured, Origin::Exact],
                rows: vec![row(1.0)],
                stop: "a coupling exceeded 1e12".into(),
            },
        ];
        write_trajectories(dir, &traj, &meta).unwrap();
        let fp = [FixedPointRow {
            ubar: [0.0; 3],
            gaussian: true,
            exponents: [(Some(-4.0), Some(0.0)), (Some(-3.0), Some(0.0)), (None, None)],
        }];
        write_fixed_points(dir, &fp, &meta).unwrap();
        let active = [ActiveRow {
            quantity: Quantity::U4CanonAbs,
            sigma_w: 2.0,
            predicted: 8.0,
            exact: None,
            slope: 3.0,
        }];
        write_active(dir, &active, &meta).unwrap();
        staging.publish().unwrap();
    }

    #[test]
    fn a_flow_round_trips_and_its_metadata_must_say_what_was_unresolved() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("ok");
        write(&d, serde_json::json!({"unresolved_inputs": ["u6"]}));
        let f = read(&d).unwrap();
        assert_eq!(f.unresolved, vec!["u6".to_string()]);
        let t = &f.trajectories;
        assert_eq!(
            t.iter()
                .map(|t| (t.start, t.from, t.rows.len(), t.stop.as_str()))
                .collect::<Vec<_>>(),
            [
                (Start::Measured, [Origin::Measured; 2], 2, "reached k_end"),
                (
                    Start::Resolvable,
                    [Origin::Measured, Origin::Exact],
                    1,
                    "a coupling exceeded 1e12"
                ),
            ]
        );
        assert_eq!(t[0].rows[1].k, 0.5);
        assert_eq!(t[0].rows[0].ubar, [1.0, -0.5, 0.25]);
        assert_eq!(f.fixed_points[0].exponents[2], (None, None));
        assert_eq!(
            (f.active[0].quantity, f.active[0].slope),
            (Quantity::U4CanonAbs, 3.0)
        );
        let bad = dir.path().join("bad");
        write(&bad, serde_json::json!({"d": 1}));
        let e = format!("{:#}", read(&bad).unwrap_err());
        assert!(
            e.contains("trajectories.parquet") && e.contains("lacks unresolved_inputs"),
            "{e}"
        );
    }
}
