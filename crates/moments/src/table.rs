//! The moments artifact (DESIGN.md "moments" contract): one row per (estimator, n, multiset), and the input
//! points (`points.parquet`, the same columns as the sample's).

use crate::{POINTS, STAGE, TABLE};
use anyhow::{Context, Result, bail};
use arrow_array::builder::{Float64Builder, ListBuilder, UInt16Builder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, RecordBatch, StringArray, UInt8Array,
    UInt16Array, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use nnqft_store::{Meta, Staging, TableWriter, column, open_table, read_all, verify};
use std::path::Path;
use std::sync::Arc;

/// How the connected parts of networks with two or more hidden layers are computed (recorded in the table's
/// parameters under `connected`).
pub const CONNECTED_MEASURED: &str =
    "moment-cumulant formula with the measured two-point functions of each bag (depth >= 2)";

/// Which estimator produced a row (the `estimator` column): declared once, in the contract.
pub use nnqft_contract::fit::Estimator;

/// One (estimator, n, multiset) row.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentRow {
    pub estimator: Estimator,
    pub n: u8,
    /// Point index of every leg (legs sorted by (output, point); a multiset of points with one output).
    pub combo: Vec<u16>,
    /// Output index of every leg (all 0 with one output); written as the `outputs` column only when the
    /// sample has d_out > 1.
    pub outputs: Vec<u16>,
    /// Mean over bags of the per-bag estimate G_exp.
    pub g_exp: f64,
    /// Wick value G_0 with the analytic kernel K.
    pub g_free: f64,
    pub delta_g: f64,
    /// m_n = DeltaG / G_0.
    pub m: f64,
    /// Standard deviation of G_exp over bags (the papers' "background").
    pub bag_std: f64,
    /// Standard error of the mean over bags: bag_std / sqrt(bags).
    pub stderr: f64,
    /// Connected function: G^(2) for n = 2, G_c^(4), G_c^(6), G_c^(8) (PHYSICS.md 3, 9, 11): the mean over bags
    /// of `connected_bag`.
    pub connected: f64,
    pub connected_stderr: f64,
    pub g_exact: Option<f64>,
    pub delta_g_exact: Option<f64>,
    pub connected_exact: Option<f64>,
    /// Effective sample size of the pooled products (PHYSICS.md 8).
    pub ess: f64,
    /// Largest share of sum |product| carried by one network.
    pub max_share: f64,
    /// GaussNet: hidden units drawn / exp(n^2 s_max / 2) (`nnqft_physics::moments::lognormal_budget`).
    pub tail_ratio: Option<f64>,
    /// Effective sample size >= `tail::ess_min(n)` (ESS_MIN, ESS_MIN_6 from six points, ESS_MIN_8 from eight) and,
    /// for GaussNet, tail_ratio >= TAIL_SAFETY.
    pub resolvable: bool,
    /// Per-bag G_exp, in the order of [`Moments::bags`].
    pub g_bag: Vec<f64>,
    /// Per-bag connected function, in the order of [`Moments::bags`] (for the products estimator a function of the
    /// same bag's `g_bag` values; for the conditional one estimated directly from the bag's S entries).
    pub connected_bag: Vec<f64>,
}

/// The whole moments artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// Parameters of the sample stage (configuration, without bag range).
    pub sample_params: serde_json::Value,
    /// Content hashes of the sample artifacts.
    pub inputs: Vec<String>,
    /// Bag indices, in the order of every row's `g_bag`.
    pub bags: Vec<u32>,
    /// The estimators computed: `products`, `conditional` or `both` (the `estimator` parameter).
    pub estimator: String,
    /// The largest order n (the `max_n` parameter).
    pub max_n: usize,
    /// Products rows first (by n, then multiset), then conditional rows in the same order.
    pub rows: Vec<MomentRow>,
}

impl Moments {
    /// Products rows of order n (the papers' estimator).
    pub fn order(&self, n: u8) -> impl Iterator<Item = &MomentRow> {
        self.of(Estimator::Products, n)
    }

    /// Rows of one estimator and order n.
    pub fn of(&self, estimator: Estimator, n: u8) -> impl Iterator<Item = &MomentRow> {
        self.rows
            .iter()
            .filter(move |r| r.n == n && r.estimator == estimator)
    }

    /// Keeps only the rows of one estimator up to order `max_n` (for readers that take one estimator's rows).
    pub fn retain(&mut self, estimator: Estimator, max_n: u8) {
        self.rows.retain(|r| r.estimator == estimator && r.n <= max_n);
    }
}

fn f64_fields() -> [&'static str; 12] {
    [
        "g_exp",
        "g_free",
        "delta_g",
        "m",
        "bag_std",
        "stderr",
        "connected",
        "connected_stderr",
        "g_exact",
        "delta_g_exact",
        "connected_exact",
        "ess",
    ]
}

fn list_f64() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
}

/// The configuration columns, the same on every row (a notebook filters by them): name and type.
const CONFIG_COLUMNS: [(&str, DataType); 6] = [
    ("arch", DataType::Utf8),
    ("depth", DataType::UInt16),
    ("width", DataType::UInt32),
    ("sigma_w", DataType::Float64),
    ("sigma_b", DataType::Float64),
    ("d_out", DataType::UInt16),
];

fn schema(with_outputs: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("estimator", DataType::Utf8, false),
        Field::new("n", DataType::UInt8, false),
        Field::new(
            "combo",
            DataType::List(Arc::new(Field::new("item", DataType::UInt16, true))),
            false,
        ),
    ];
    if with_outputs {
        fields.push(Field::new(
            "outputs",
            DataType::List(Arc::new(Field::new("item", DataType::UInt16, true))),
            false,
        ));
    }
    for name in f64_fields() {
        fields.push(Field::new(name, DataType::Float64, name.ends_with("exact")));
    }
    fields.push(Field::new("max_share", DataType::Float64, false));
    fields.push(Field::new("tail_ratio", DataType::Float64, true));
    fields.push(Field::new("resolvable", DataType::Boolean, false));
    fields.push(Field::new("g_bag", list_f64(), false));
    fields.push(Field::new("connected_bag", list_f64(), false));
    for (name, ty) in CONFIG_COLUMNS {
        fields.push(Field::new(name, ty, false));
    }
    Arc::new(Schema::new(fields))
}

/// Schema of `points.parquet`: `point` and one coordinate column per input dimension.
fn points_schema(d: usize) -> SchemaRef {
    let mut fields = vec![Field::new("point", DataType::UInt16, false)];
    fields.extend((0..d).map(|i| Field::new(format!("x_{i}"), DataType::Float64, false)));
    Arc::new(Schema::new(fields))
}

/// Writes the artifact atomically into `out`; returns its content hash.
pub fn write_moments(m: &Moments, out: &Path) -> Result<String> {
    let staging = Staging::new(out)?;
    let cfg = nnqft_sample::config_from_params(&m.sample_params).context("sample parameters")?;
    let mut params = serde_json::json!({
        "sample": m.sample_params,
        "bags": m.bags,
        "estimator": m.estimator,
        "max_n": m.max_n,
    });
    // Deep networks subtract the measured two-point functions in the connected parts (crate::compute); say so
    // in the table (one-layer tables keep their parameters, and bytes, as they were).
    let depth = m.sample_params["depth"]
        .as_u64()
        .or_else(|| m.sample_params["widths"].as_array().map(|w| w.len() as u64))
        .unwrap_or(1);
    if depth > 1 {
        params["connected"] = serde_json::json!(CONNECTED_MEASURED);
    }
    let meta = Meta::new(STAGE, params, m.inputs.clone());
    let with_outputs = m.rows.iter().any(|r| r.outputs.iter().any(|&o| o > 0));
    let schema = schema(with_outputs);
    let mut combo = ListBuilder::new(UInt16Builder::new());
    let mut g_bag = ListBuilder::new(Float64Builder::new());
    let mut connected_bag = ListBuilder::new(Float64Builder::new());
    for r in &m.rows {
        combo.values().append_slice(&r.combo);
        combo.append(true);
        g_bag.values().append_slice(&r.g_bag);
        g_bag.append(true);
        connected_bag.values().append_slice(&r.connected_bag);
        connected_bag.append(true);
    }
    let rows = m.rows.len();
    let col = |f: &dyn Fn(&MomentRow) -> f64| {
        Arc::new(Float64Array::from_iter_values(m.rows.iter().map(f))) as ArrayRef
    };
    let opt = |f: &dyn Fn(&MomentRow) -> Option<f64>| {
        Arc::new(m.rows.iter().map(f).collect::<Float64Array>()) as ArrayRef
    };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            m.rows.iter().map(|r| r.estimator.name()),
        )),
        Arc::new(UInt8Array::from_iter_values(m.rows.iter().map(|r| r.n))),
        Arc::new(combo.finish()),
        col(&|r| r.g_exp),
        col(&|r| r.g_free),
        col(&|r| r.delta_g),
        col(&|r| r.m),
        col(&|r| r.bag_std),
        col(&|r| r.stderr),
        col(&|r| r.connected),
        col(&|r| r.connected_stderr),
        opt(&|r| r.g_exact),
        opt(&|r| r.delta_g_exact),
        opt(&|r| r.connected_exact),
        col(&|r| r.ess),
        col(&|r| r.max_share),
        opt(&|r| r.tail_ratio),
        Arc::new(BooleanArray::from(
            m.rows.iter().map(|r| r.resolvable).collect::<Vec<_>>(),
        )),
        Arc::new(g_bag.finish()),
        Arc::new(connected_bag.finish()),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            cfg.arch().name(),
            rows,
        ))),
        Arc::new(UInt16Array::from(vec![cfg.depth() as u16; rows])),
        Arc::new(UInt32Array::from(vec![cfg.width() as u32; rows])),
        Arc::new(Float64Array::from(vec![cfg.sigma_w(); rows])),
        Arc::new(Float64Array::from(vec![cfg.sigma_b(); rows])),
        Arc::new(UInt16Array::from(vec![cfg.d_out() as u16; rows])),
    ];
    if with_outputs {
        let mut outputs = ListBuilder::new(UInt16Builder::new());
        for r in &m.rows {
            outputs.values().append_slice(&r.outputs);
            outputs.append(true);
        }
        cols.insert(3, Arc::new(outputs.finish()));
    }
    let mut w = TableWriter::create(&staging.path().join(TABLE), schema.clone(), &meta)?;
    w.write(&RecordBatch::try_new(schema, cols)?)?;
    w.finish()?;
    // The points, one row each, so that a notebook joins `combo` entries with coordinates.
    let psch = points_schema(cfg.d());
    let mut pcols: Vec<ArrayRef> = vec![Arc::new(UInt16Array::from_iter_values(
        (0..cfg.n_points()).map(|i| i as u16),
    ))];
    pcols.extend((0..cfg.d()).map(|i| {
        Arc::new(Float64Array::from_iter_values(
            (0..cfg.n_points()).map(|q| cfg.point(q)[i]),
        )) as ArrayRef
    }));
    let mut w = TableWriter::create(&staging.path().join(POINTS), psch.clone(), &meta)?;
    w.write(&RecordBatch::try_new(psch, pcols)?)?;
    w.finish()?;
    Ok(staging.publish()?)
}

/// Verifies and reads a moments artifact directory.
pub fn read_moments(dir: &Path) -> Result<Moments> {
    verify(dir).with_context(|| format!("input {}", dir.display()))?;
    let path = dir.join(TABLE);
    let sch = schema(false);
    let required: Vec<(&str, DataType)> = sch
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone()))
        .collect();
    let (meta, builder) = open_table(&path, STAGE, &required)?;
    let bags: Vec<u32> = serde_json::from_value(meta.params["bags"].clone()).context("bags in metadata")?;
    let mut rows = Vec::new();
    for b in read_all(&path, builder.build()?)? {
        let n = column::<UInt8Array>(&path, &b, "n")?;
        let combo = column::<ListArray>(&path, &b, "combo")?;
        // Present only for d_out > 1.
        let outputs = b
            .column_by_name("outputs")
            .map(|_| column::<ListArray>(&path, &b, "outputs"))
            .transpose()?;
        let g_bag = column::<ListArray>(&path, &b, "g_bag")?;
        let connected_bag = column::<ListArray>(&path, &b, "connected_bag")?;
        let estimator = column::<StringArray>(&path, &b, "estimator")?;
        let res = column::<BooleanArray>(&path, &b, "resolvable")?;
        let c: Vec<&Float64Array> = f64_fields()
            .iter()
            .map(|f| column::<Float64Array>(&path, &b, f))
            .collect::<Result<_, _>>()?;
        let max_share = column::<Float64Array>(&path, &b, "max_share")?;
        let tail_ratio = column::<Float64Array>(&path, &b, "tail_ratio")?;
        let opt = |a: &Float64Array, i: usize| if a.is_null(i) { None } else { Some(a.value(i)) };
        for i in 0..b.num_rows() {
            let cv = combo.value(i);
            let cv = cv.as_any().downcast_ref::<UInt16Array>().context("combo items")?;
            let gv = g_bag.value(i);
            let gv = gv
                .as_any()
                .downcast_ref::<Float64Array>()
                .context("g_bag items")?;
            let cb = connected_bag.value(i);
            let cb = cb
                .as_any()
                .downcast_ref::<Float64Array>()
                .context("connected_bag items")?;
            if gv.len() != bags.len() || cb.len() != bags.len() {
                bail!(
                    "{}: row {i} has {} and {} per-bag values for {} bags",
                    path.display(),
                    gv.len(),
                    cb.len(),
                    bags.len()
                );
            }
            let est = Estimator::parse(estimator.value(i)).with_context(|| {
                format!(
                    "{}: row {i}: estimator '{}' is neither products nor conditional",
                    path.display(),
                    estimator.value(i)
                )
            })?;
            let outs = match outputs {
                Some(o) => {
                    let ov = o.value(i);
                    ov.as_any()
                        .downcast_ref::<UInt16Array>()
                        .context("outputs items")?
                        .values()
                        .to_vec()
                }
                None => vec![0; cv.len()],
            };
            rows.push(MomentRow {
                estimator: est,
                n: n.value(i),
                combo: cv.values().to_vec(),
                outputs: outs,
                g_exp: c[0].value(i),
                g_free: c[1].value(i),
                delta_g: c[2].value(i),
                m: c[3].value(i),
                bag_std: c[4].value(i),
                stderr: c[5].value(i),
                connected: c[6].value(i),
                connected_stderr: c[7].value(i),
                g_exact: opt(c[8], i),
                delta_g_exact: opt(c[9], i),
                connected_exact: opt(c[10], i),
                ess: c[11].value(i),
                max_share: max_share.value(i),
                tail_ratio: opt(tail_ratio, i),
                resolvable: res.value(i),
                g_bag: gv.values().to_vec(),
                connected_bag: cb.values().to_vec(),
            });
        }
    }
    Ok(Moments {
        sample_params: meta.params["sample"].clone(),
        inputs: meta.inputs,
        bags,
        estimator: meta.params["estimator"]
            .as_str()
            .context("estimator in metadata")?
            .to_string(),
        max_n: meta.params["max_n"].as_u64().context("max_n in metadata")? as usize,
        rows,
    })
}
