//! The `fit` stage's artifact: `fits.parquet` (one row per fitted number), `points.parquet` (every quantity at
//! every sweep point) and `combos.parquet` (per-combination couplings), with the parameters in the tables'
//! metadata ([`FitParams`]).

use crate::table::{Column, list_f64, list_str, list_u16, write_table};
use crate::{parsed, required};
use anyhow::{Context, Result, bail};
use nnqft_store::{Col, Meta, Table, write_columns};
use std::fmt;
use std::path::{Path, PathBuf};

/// Stage name recorded in the tables' metadata.
pub const STAGE: &str = "fit";
/// One row per fitted number ([`FitRow`]).
pub const FITS: &str = "fits.parquet";
/// Every quantity at every sweep point ([`PointRow`]).
pub const POINTS: &str = "points.parquet";
/// m_n, u_4, u_6 and lambda per combination ([`ComboRow`]).
pub const COMBOS: &str = "combos.parquet";

/// What varies across the inputs of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sweep {
    /// Hidden-layer width N.
    Width,
    /// sigma_W.
    #[value(alias = "sigma_w")]
    SigmaW,
    /// One input; the coupling is scanned over the cutoffs of --cutoffs (HMS ReLU).
    Cutoff,
    /// One or more unrelated inputs: couplings only, no fits.
    None,
    /// sigma_b (a generic sweep: slopes and means without predictions).
    #[value(alias = "sigma_b")]
    SigmaB,
    /// The input dimension d.
    D,
    /// The number of hidden layers L at equal widths.
    Depth,
    /// Unequal hidden widths; the swept value is the last hidden width n_L.
    Widths,
    /// The number of outputs d_out.
    #[value(alias = "d_out")]
    DOut,
}

impl Sweep {
    pub const ALL: [Sweep; 9] = [
        Sweep::Width,
        Sweep::SigmaW,
        Sweep::Cutoff,
        Sweep::None,
        Sweep::SigmaB,
        Sweep::D,
        Sweep::Depth,
        Sweep::Widths,
        Sweep::DOut,
    ];
    /// The sweeps over a sample parameter without a prediction of their own: the fit computes slopes of the
    /// quantities of a width sweep against the swept value, and the means of the couplings.
    pub const GENERIC: [Sweep; 5] = [Sweep::SigmaB, Sweep::D, Sweep::Depth, Sweep::Widths, Sweep::DOut];

    /// The sample parameter the sweep varies.
    pub fn key(self) -> Option<&'static str> {
        match self {
            Sweep::Width => Some("width"),
            Sweep::SigmaW => Some("sigma_w"),
            Sweep::SigmaB => Some("sigma_b"),
            Sweep::D => Some("d"),
            Sweep::Depth => Some("depth"),
            Sweep::Widths => Some("widths"),
            Sweep::DOut => Some("d_out"),
            Sweep::Cutoff | Sweep::None => None,
        }
    }
    /// The name in the fit's parameters and the `sweep` column (the sample parameter's name).
    pub fn name(self) -> &'static str {
        match self {
            Sweep::Width => "width",
            Sweep::SigmaW => "sigma_w",
            Sweep::Cutoff => "cutoff",
            Sweep::None => "none",
            Sweep::SigmaB => "sigma_b",
            Sweep::D => "d",
            Sweep::Depth => "depth",
            Sweep::Widths => "widths",
            Sweep::DOut => "d_out",
        }
    }
    pub fn parse(s: &str) -> Option<Sweep> {
        Self::ALL.into_iter().find(|w| w.name() == s)
    }
    /// The sweep over a sample parameter, by the parameter's name.
    pub fn of_key(key: &str) -> Option<Sweep> {
        Self::ALL.into_iter().find(|w| w.key() == Some(key))
    }
    /// The swept variable in notes.
    pub fn variable(self) -> &'static str {
        match self {
            Sweep::Width => "N",
            Sweep::SigmaW => "sigma_W",
            Sweep::Cutoff => "Lambda",
            Sweep::None => "x",
            Sweep::SigmaB => "sigma_b",
            Sweep::D => "d",
            Sweep::Depth => "L",
            Sweep::Widths => "n_L",
            Sweep::DOut => "d_out",
        }
    }
    /// Whether the sweep is one of [`Sweep::GENERIC`].
    pub fn generic(self) -> bool {
        Self::GENERIC.contains(&self)
    }
}

/// The estimator of the Green functions behind a row (the `estimator` column of every table; the moments
/// stage's `estimator` column, PHYSICS.md 3 and 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Estimator {
    /// Averages of products of network outputs (the papers' "experimental" Green functions).
    Products,
    /// The conditional-Gaussian estimator from the last layer's covariance (connected parts estimated per bag).
    Conditional,
}

impl Estimator {
    pub const ALL: [Estimator; 2] = [Estimator::Products, Estimator::Conditional];
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Products => "products",
            Estimator::Conditional => "conditional",
        }
    }
    pub fn parse(s: &str) -> Option<Estimator> {
        Self::ALL.into_iter().find(|e| e.name() == s)
    }
}

impl fmt::Display for Estimator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! quantities {
    ($($v:ident = $name:literal, $orders:expr, $desc:literal;)*) => {
        /// A quantity evaluated at every sweep point (the `quantity` column of [`POINTS`] and [`FITS`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Quantity { $($v),* }

        impl Quantity {
            /// Every quantity, in the order of the points table (`q as usize` indexes it).
            pub const ALL: &'static [Quantity] = &[$(Quantity::$v),*];
            pub fn name(self) -> &'static str {
                match self { $(Quantity::$v => $name),* }
            }
            /// Orders of Green function (2, 4, 6, 8) the quantity is computed from.
            pub fn orders(self) -> &'static [u8] {
                match self { $(Quantity::$v => $orders),* }
            }
            pub fn description(self) -> &'static str {
                match self { $(Quantity::$v => $desc),* }
            }
        }
    };
}

quantities! {
    M2Abs = "m2_abs", &[2], "<|m_2|> over combinations";
    M4Abs = "m4_abs", &[4], "<|m_4|> over combinations";
    M6Abs = "m6_abs", &[6], "<|m_6|> over combinations";
    M2Mean = "m2_mean", &[2], "signed mean of m_2 over combinations";
    M4Mean = "m4_mean", &[4], "signed mean of m_4 over combinations";
    M6Mean = "m6_mean", &[6], "signed mean of m_6 over combinations";
    Gc4Abs = "gc4_abs", &[4], "mean |G_c^(4)| over combinations";
    Gc6Abs = "gc6_abs", &[6], "mean |G_c^(6)| over combinations";
    Gc4Mean = "gc4_mean", &[4], "signed mean of G_c^(4) over combinations";
    Gc6Mean = "gc6_mean", &[6], "signed mean of G_c^(6) over combinations";
    U4Mean = "u4_mean", &[4], "u_4 averaged over combinations (raw field)";
    U4Abs = "u4_abs", &[4], "mean |u_4| over combinations (raw field)";
    U4Spread = "u4_spread", &[4], "std/|mean| of u_4 over combinations (locality)";
    LambdaAbs = "lambda_abs", &[4], "mean |lambda_HMS| = |DeltaG^(4)/(24 N_K)|";
    U6Mean = "u6_mean", &[4, 6], "u_6 averaged over combinations (raw field)";
    U6Abs = "u6_abs", &[4, 6], "mean |u_6| over combinations (raw field)";
    U4CanonAbs = "u4_canon_abs", &[4], "|u_4^phi| of the combination-averaged u_4 (canonical field)";
    U6CanonAbs = "u6_canon_abs", &[4, 6], "|u_6^phi| of the combination-averaged u_6 (canonical field)";
    U4Dimless = "u4_dimless", &[4], "ubar_4 (dimensionless)";
    U6Dimless = "u6_dimless", &[4, 6], "ubar_6 (dimensionless)";
    Gc8Abs = "gc8_abs", &[8], "mean |G_c^(8)| over combinations";
    Gc8Mean = "gc8_mean", &[8], "signed mean of G_c^(8) over combinations";
}

impl Quantity {
    pub fn parse(s: &str) -> Option<Quantity> {
        Self::ALL.iter().copied().find(|q| q.name() == s)
    }

    /// The signed quantity whose interval must exclude 0 at a sweep point for this one to be above the noise
    /// there: mean |x| over combinations has a floor set by the noise, which would flatten any fitted slope.
    pub fn signed_companion(self) -> Option<Quantity> {
        use Quantity::*;
        Some(match self {
            // The signed mean of m_4 is fitted by nothing, and has no companion of its own: its points are marked
            // by the tail rule alone (unlike m_6's; kept so that the fit's tables do not change).
            M4Abs => M4Mean,
            M6Abs | M6Mean => M6Mean,
            Gc4Abs | Gc4Mean => Gc4Mean,
            Gc6Abs | Gc6Mean => Gc6Mean,
            Gc8Abs | Gc8Mean => Gc8Mean,
            U4Abs | U4Mean | U4CanonAbs | LambdaAbs => U4Mean,
            U6Abs | U6Mean | U6CanonAbs => U6Mean,
            _ => return None,
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one fit computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitKind {
    /// Slope of log |y| against log x.
    Slope,
    /// a of y = a/N + b/N^2.
    CoefA,
    /// b of y = a/N + b/N^2.
    CoefB,
    /// Mean over the sweep points.
    Mean,
}

impl FitKind {
    pub const ALL: [FitKind; 4] = [FitKind::Slope, FitKind::CoefA, FitKind::CoefB, FitKind::Mean];
    pub fn name(self) -> &'static str {
        match self {
            FitKind::Slope => "slope",
            FitKind::CoefA => "coef_a",
            FitKind::CoefB => "coef_b",
            FitKind::Mean => "mean",
        }
    }
    pub fn parse(s: &str) -> Option<FitKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
    /// Sweep points a fit of this kind needs: two for a slope or a two-term fit, one for a mean.
    pub fn min_points(self) -> u64 {
        match self {
            FitKind::Slope | FitKind::CoefA | FitKind::CoefB => 2,
            FitKind::Mean => 1,
        }
    }
}

/// A coupling of the effective action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coupling {
    U4,
    U6,
}

impl Coupling {
    pub fn name(self) -> &'static str {
        match self {
            Coupling::U4 => "u4",
            Coupling::U6 => "u6",
        }
    }
    /// The number of fields n of u_n.
    pub fn order(self) -> f64 {
        match self {
            Coupling::U4 => 4.0,
            Coupling::U6 => 6.0,
        }
    }
}

/// A normalisation of the field (PHYSICS.md 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// The network output f.
    Raw,
    /// The canonical field phi = f_W / a.
    Canonical,
}

impl Norm {
    pub fn name(self) -> &'static str {
        match self {
            Norm::Raw => "raw",
            Norm::Canonical => "canonical",
        }
    }
}

/// The sigma_W range of a fit: the whole sweep, or sigma_W <= a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    All,
    UpTo(f64),
}

impl Range {
    /// `all` or `le<bound>` (the bound as Rust prints an f64, e.g. `le10`).
    pub fn tag(self) -> String {
        match self {
            Range::All => "all".into(),
            Range::UpTo(x) => format!("le{x}"),
        }
    }
    pub fn parse(s: &str) -> Option<Range> {
        if s == "all" {
            return Some(Range::All);
        }
        let x: f64 = s.strip_prefix("le")?.parse().ok()?;
        (Range::UpTo(x).tag() == s).then_some(Range::UpTo(x))
    }
    pub fn x_max(self) -> Option<f64> {
        match self {
            Range::All => None,
            Range::UpTo(x) => Some(x),
        }
    }
}

/// The id of one fitted number (the `id` column of [`FITS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FitId {
    /// Slope of log <|m_n|>, |G_c|, |u_n| against log N (`{stem}_vs_N`).
    VsWidth(WidthSlope),
    /// a or b of <m_6> = a/N + b/N^2.
    M6TwoTermA,
    M6TwoTermB,
    /// Signed m_2 averaged over combinations and N.
    M2Mean,
    /// u_4 or u_6 averaged over combinations and the sweep (its sign).
    Sign(Coupling),
    /// Relative spread of u_4 over combinations.
    U4Spread,
    /// Slope of a coupling in a normalisation against log sigma_W over a range.
    VsSigmaW {
        coupling: Coupling,
        norm: Norm,
        range: Range,
    },
    /// Slope of log |lambda_HMS| against log Lambda.
    LambdaVsCutoff,
    /// Slope of log |y| against the log of a generic sweep's value (`{stem}_abs_vs_{sweep}`; no prediction).
    VsSweep {
        slope: WidthSlope,
        sweep: Sweep,
    },
}

/// The quantities fitted against the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidthSlope {
    M2,
    M4,
    M6,
    Gc4,
    Gc6,
    Gc8,
    U4,
    U6,
}

impl WidthSlope {
    pub const ALL: [WidthSlope; 8] = [
        WidthSlope::M2,
        WidthSlope::M4,
        WidthSlope::M6,
        WidthSlope::Gc4,
        WidthSlope::Gc6,
        WidthSlope::Gc8,
        WidthSlope::U4,
        WidthSlope::U6,
    ];
    fn stem(self) -> &'static str {
        match self {
            WidthSlope::M2 => "m2",
            WidthSlope::M4 => "m4",
            WidthSlope::M6 => "m6",
            WidthSlope::Gc4 => "gc4",
            WidthSlope::Gc6 => "gc6",
            WidthSlope::Gc8 => "gc8",
            WidthSlope::U4 => "u4",
            WidthSlope::U6 => "u6",
        }
    }
}

impl FitId {
    /// The quantity the fit is computed from.
    pub fn quantity(self) -> Quantity {
        use Quantity::*;
        match self {
            FitId::VsWidth(w) | FitId::VsSweep { slope: w, .. } => match w {
                WidthSlope::M2 => M2Abs,
                WidthSlope::M4 => M4Abs,
                WidthSlope::M6 => M6Abs,
                WidthSlope::Gc4 => Gc4Mean,
                WidthSlope::Gc6 => Gc6Mean,
                WidthSlope::Gc8 => Gc8Mean,
                WidthSlope::U4 => U4Mean,
                WidthSlope::U6 => U6Mean,
            },
            FitId::M6TwoTermA | FitId::M6TwoTermB => M6Mean,
            FitId::M2Mean => M2Mean,
            FitId::Sign(Coupling::U4) => U4Mean,
            FitId::Sign(Coupling::U6) => U6Mean,
            FitId::U4Spread => U4Spread,
            FitId::VsSigmaW { coupling, norm, .. } => match (coupling, norm) {
                (Coupling::U4, Norm::Raw) => U4Mean,
                (Coupling::U4, Norm::Canonical) => U4CanonAbs,
                (Coupling::U6, Norm::Raw) => U6Mean,
                (Coupling::U6, Norm::Canonical) => U6CanonAbs,
            },
            FitId::LambdaVsCutoff => LambdaAbs,
        }
    }

    /// What the fit computes.
    pub fn kind(self) -> FitKind {
        match self {
            FitId::VsWidth(_) | FitId::VsSigmaW { .. } | FitId::LambdaVsCutoff | FitId::VsSweep { .. } => {
                FitKind::Slope
            }
            FitId::M6TwoTermA => FitKind::CoefA,
            FitId::M6TwoTermB => FitKind::CoefB,
            FitId::M2Mean | FitId::Sign(_) | FitId::U4Spread => FitKind::Mean,
        }
    }

    /// Upper end of the sweep range the fit uses (sigma_W ranges), `None` for the whole sweep.
    pub fn x_max(self) -> Option<f64> {
        match self {
            FitId::VsSigmaW { range, .. } => range.x_max(),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<FitId> {
        let simple = [
            FitId::M6TwoTermA,
            FitId::M6TwoTermB,
            FitId::M2Mean,
            FitId::Sign(Coupling::U4),
            FitId::Sign(Coupling::U6),
            FitId::U4Spread,
            FitId::LambdaVsCutoff,
        ];
        if let Some(id) = simple
            .into_iter()
            .chain(WidthSlope::ALL.map(FitId::VsWidth))
            .find(|id| id.to_string() == s)
        {
            return Some(id);
        }
        for sweep in Sweep::GENERIC {
            if let Some(slope) = WidthSlope::ALL
                .into_iter()
                .find(|w| format!("{}_abs_vs_{}", w.stem(), sweep.name()) == s)
            {
                return Some(FitId::VsSweep { slope, sweep });
            }
        }
        for coupling in [Coupling::U4, Coupling::U6] {
            for norm in [Norm::Raw, Norm::Canonical] {
                let prefix = format!("{}_{}_vs_sigma_w_", coupling.name(), norm.name());
                if let Some(range) = s.strip_prefix(&prefix).and_then(Range::parse) {
                    return Some(FitId::VsSigmaW {
                        coupling,
                        norm,
                        range,
                    });
                }
            }
        }
        None
    }
}

impl fmt::Display for FitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitId::VsWidth(w) => write!(f, "{}_abs_vs_N", w.stem()),
            FitId::M6TwoTermA => f.write_str("m6_two_term_a"),
            FitId::M6TwoTermB => f.write_str("m6_two_term_b"),
            FitId::M2Mean => f.write_str("m2_mean"),
            FitId::Sign(c) => write!(f, "{}_sign", c.name()),
            FitId::U4Spread => f.write_str("u4_spread"),
            FitId::VsSigmaW {
                coupling,
                norm,
                range,
            } => write!(
                f,
                "{}_{}_vs_sigma_w_{}",
                coupling.name(),
                norm.name(),
                range.tag()
            ),
            FitId::LambdaVsCutoff => f.write_str("lambda_vs_cutoff"),
            FitId::VsSweep { slope, sweep } => write!(f, "{}_abs_vs_{}", slope.stem(), sweep.name()),
        }
    }
}

/// One row of [`FITS`]: a fitted number with its 95% bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRow {
    pub id: FitId,
    /// The estimator of the Green functions the fit was computed from.
    pub estimator: Estimator,
    pub quantity: Quantity,
    pub sweep: Sweep,
    pub kind: FitKind,
    /// Upper end of the sweep range of the fit (sigma_W ranges), None for the whole sweep.
    pub x_max: Option<f64>,
    pub estimate: Option<f64>,
    /// Column `ci_low`.
    pub lo: Option<f64>,
    /// Column `ci_high`.
    pub hi: Option<f64>,
    /// The same fit of the exact values.
    pub exact: Option<f64>,
    pub predicted: Option<f64>,
    /// Sweep points the fit used.
    pub n_used: u64,
    /// The sweep points excluded from the fit and why (columns `excluded_x`, `excluded_reason`).
    pub exclusions: Vec<Exclusion>,
    /// The same as text, `x (tail)` or `x (noise)`, comma separated ([`Exclusion::text`]); for reading by eye,
    /// kept while readers move to `exclusions`.
    pub excluded: String,
    pub note: String,
}

/// Why a sweep point is excluded from a fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The tail rule (PHYSICS.md 8): the moments stage's, or the fit's log-normal budget; the points table
    /// gives the numbers (`ess`, `ess_min`, `tail_ratio`, `tail_min`).
    Tail,
    /// The noise floor: the 95% interval of the signed companion of the fitted quantity contains 0
    /// ([`Quantity::signed_companion`]; its interval is in the points table).
    Noise,
}

impl Reason {
    pub const ALL: [Reason; 2] = [Reason::Tail, Reason::Noise];
    /// The code in the `excluded_reason` column.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Tail => "tail",
            Reason::Noise => "noise",
        }
    }
    pub fn parse(s: &str) -> Option<Reason> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// A sweep point excluded from a fit: its swept value and the reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exclusion {
    pub x: f64,
    pub reason: Reason,
}

impl Exclusion {
    /// The exclusions as text: `x (reason)`, comma separated (the `excluded` column).
    pub fn text(list: &[Exclusion]) -> String {
        list.iter()
            .map(|e| format!("{} ({})", e.x, e.reason.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One row of [`POINTS`]: a quantity at one sweep point.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRow {
    pub quantity: Quantity,
    pub estimator: Estimator,
    pub x: f64,
    pub y: f64,
    /// Column `ci_low`.
    pub lo: Option<f64>,
    /// Column `ci_high`.
    pub hi: Option<f64>,
    pub exact: Option<f64>,
    /// The papers' background for <|m_n|>: mean over combinations of std_bags(G_exp) / |G_0|.
    pub background: Option<f64>,
    /// Passes the tail rule and stands above the noise.
    pub resolvable: bool,
    pub width: u64,
    pub sigma_w: Option<f64>,
    /// The tail diagnostics of the moments stage behind the quantity (PHYSICS.md 8), for the order it uses that
    /// is closest to failing the tail rule: the smallest effective sample size over its combinations, and the
    /// rule's threshold for that order.
    pub ess: Option<f64>,
    pub ess_min: Option<f64>,
    /// GaussNet: the smallest (hidden units drawn) / exp(n^2 s_max / 2) over the combinations, and the rule's
    /// threshold in the fit (`TAIL_FIT_MIN` of nnqft-fit, stricter than the moments stage's `TAIL_SAFETY`); null for
    /// light-tailed activations.
    pub tail_ratio: Option<f64>,
    pub tail_min: Option<f64>,
}

/// One row of [`COMBOS`]: one combination of points at one sweep point.
#[derive(Debug, Clone, PartialEq)]
pub struct ComboRow {
    pub estimator: Estimator,
    pub x: f64,
    pub n: u64,
    /// Point indices, sorted (a multiset), as in the moments table.
    pub combo: Vec<u16>,
    pub m: Option<f64>,
    pub m_exact: Option<f64>,
    /// u_4 or u_6 of the combination.
    pub u: Option<f64>,
    pub u_exact: Option<f64>,
    pub lambda: Option<f64>,
    /// The combination's connected part G_c^(n) (n = 4, 6, 8) as the estimator forms it; null for n = 2.
    pub gc: Option<f64>,
    /// Its standard error: the standard deviation over bags of the per-bag value, over sqrt(bags) (issue 16's
    /// precision is the median over combinations of gc_stderr / |gc|).
    pub gc_stderr: Option<f64>,
    pub resolvable: bool,
}

fn f64s<T>(rows: &[T], f: impl Fn(&T) -> Option<f64>) -> Col {
    Col::F64(rows.iter().map(f).collect())
}

/// Writes [`FITS`] into `dir`.
pub fn write_fits(dir: &Path, rows: &[FitRow], meta: &Meta) -> Result<()> {
    let f64s = |f: fn(&FitRow) -> Option<f64>| Column::F64(rows.iter().map(f).collect());
    let strs = |f: fn(&FitRow) -> String| Column::Str(rows.iter().map(f).collect());
    write_table(
        &dir.join(FITS),
        vec![
            ("id", strs(|r| r.id.to_string())),
            ("estimator", strs(|r| r.estimator.name().into())),
            ("quantity", strs(|r| r.quantity.name().into())),
            ("sweep", strs(|r| r.sweep.name().into())),
            ("kind", strs(|r| r.kind.name().into())),
            ("x_max", f64s(|r| r.x_max)),
            ("estimate", f64s(|r| r.estimate)),
            ("ci_low", f64s(|r| r.lo)),
            ("ci_high", f64s(|r| r.hi)),
            ("exact", f64s(|r| r.exact)),
            ("predicted", f64s(|r| r.predicted)),
            ("n_used", Column::U64(rows.iter().map(|r| r.n_used).collect())),
            (
                "excluded_x",
                Column::ListF64(
                    rows.iter()
                        .map(|r| r.exclusions.iter().map(|e| e.x).collect())
                        .collect(),
                ),
            ),
            (
                "excluded_reason",
                Column::ListStr(
                    rows.iter()
                        .map(|r| r.exclusions.iter().map(|e| e.reason.name().to_string()).collect())
                        .collect(),
                ),
            ),
            ("excluded", strs(|r| r.excluded.clone())),
            ("note", strs(|r| r.note.clone())),
        ],
        meta,
    )
    .context("writing fits table")
}

/// Writes [`POINTS`] into `dir`.
pub fn write_points(dir: &Path, rows: &[PointRow], meta: &Meta) -> Result<()> {
    write_columns(
        &dir.join(POINTS),
        vec![
            (
                "quantity",
                Col::Str(rows.iter().map(|r| r.quantity.name().into()).collect()),
            ),
            (
                "estimator",
                Col::Str(rows.iter().map(|r| r.estimator.name().into()).collect()),
            ),
            ("x", f64s(rows, |r| Some(r.x))),
            ("y", f64s(rows, |r| Some(r.y))),
            ("ci_low", f64s(rows, |r| r.lo)),
            ("ci_high", f64s(rows, |r| r.hi)),
            ("exact", f64s(rows, |r| r.exact)),
            ("background", f64s(rows, |r| r.background)),
            (
                "resolvable",
                Col::Bool(rows.iter().map(|r| r.resolvable).collect()),
            ),
            ("width", Col::U64(rows.iter().map(|r| r.width).collect())),
            ("sigma_w", f64s(rows, |r| r.sigma_w)),
            ("ess", f64s(rows, |r| r.ess)),
            ("ess_min", f64s(rows, |r| r.ess_min)),
            ("tail_ratio", f64s(rows, |r| r.tail_ratio)),
            ("tail_min", f64s(rows, |r| r.tail_min)),
        ],
        meta,
    )?;
    Ok(())
}

/// Writes [`COMBOS`] into `dir`.
pub fn write_combos(dir: &Path, rows: &[ComboRow], meta: &Meta) -> Result<()> {
    let f64s = |f: fn(&ComboRow) -> Option<f64>| Column::F64(rows.iter().map(f).collect());
    write_table(
        &dir.join(COMBOS),
        vec![
            (
                "estimator",
                Column::Str(rows.iter().map(|r| r.estimator.name().into()).collect()),
            ),
            ("x", f64s(|r| Some(r.x))),
            ("n", Column::U64(rows.iter().map(|r| r.n).collect())),
            (
                "combo",
                Column::ListU16(rows.iter().map(|r| r.combo.clone()).collect()),
            ),
            ("m", f64s(|r| r.m)),
            ("m_exact", f64s(|r| r.m_exact)),
            ("u", f64s(|r| r.u)),
            ("u_exact", f64s(|r| r.u_exact)),
            ("lambda", f64s(|r| r.lambda)),
            ("gc", f64s(|r| r.gc)),
            ("gc_stderr", f64s(|r| r.gc_stderr)),
            (
                "resolvable",
                Column::Bool(rows.iter().map(|r| r.resolvable).collect()),
            ),
        ],
        meta,
    )
    .context("writing combos table")
}

/// The parameters of a fit, from its tables' metadata.
#[derive(Debug, Clone)]
pub struct FitParams {
    pub sweep: Sweep,
    pub bootstrap: u64,
    /// The sample parameters of every sweep point (moments input), in the order of the inputs.
    pub sample: Vec<serde_json::Value>,
    /// Architecture name of the samples.
    pub arch: String,
    /// Input dimension d of the samples.
    pub d: f64,
}

impl FitParams {
    /// Reads the parameters from a fit table's metadata; every field the readers use must be there.
    pub fn from_meta(path: &Path, meta: &Meta) -> Result<Self> {
        let p = &meta.params;
        let field = |what: &str| {
            format!(
                "{}: the fit's metadata (nnqft.params) lacks {what}",
                path.display()
            )
        };
        let sweep_name = p["sweep"].as_str().with_context(|| field("sweep"))?;
        let sweep = Sweep::parse(sweep_name).with_context(|| {
            format!(
                "{}: the fit's metadata has sweep = {sweep_name:?}, not one of {}",
                path.display(),
                Sweep::ALL.map(Sweep::name).join(", ")
            )
        })?;
        let bootstrap = p["bootstrap"].as_u64().with_context(|| field("bootstrap"))?;
        let sample = p["sample"]
            .as_array()
            .filter(|a| !a.is_empty())
            .with_context(|| field("sample (a list of the sample parameters of every sweep point)"))?
            .clone();
        let arch = sample[0]["arch"]
            .as_str()
            .with_context(|| field("sample[0].arch"))?
            .to_string();
        let d = sample[0]["d"].as_f64().with_context(|| field("sample[0].d"))?;
        Ok(FitParams {
            sweep,
            bootstrap,
            sample,
            arch,
            d,
        })
    }
}

/// A fit artifact read back whole.
#[derive(Debug, Clone)]
pub struct FitArtifact {
    pub dir: PathBuf,
    /// Content hash of the artifact.
    pub hash: String,
    pub params: FitParams,
    pub fits: Vec<FitRow>,
    pub points: Vec<PointRow>,
    pub combos: Vec<ComboRow>,
}

/// Every row of [`FITS`] (read through [`read`]).
fn fits_table(dir: &Path) -> Result<Vec<FitRow>> {
    let t = Table::read(&dir.join(FITS), STAGE)?;
    let (id, quantity, sweep, kind) = (
        parsed(&t, "id", FitId::parse)?,
        parsed(&t, "quantity", Quantity::parse)?,
        parsed(&t, "sweep", Sweep::parse)?,
        parsed(&t, "kind", FitKind::parse)?,
    );
    let estimator = parsed(&t, "estimator", Estimator::parse)?;
    let (x_max, estimate, lo, hi, exact, predicted) = (
        t.f64("x_max")?,
        t.f64("estimate")?,
        t.f64("ci_low")?,
        t.f64("ci_high")?,
        t.f64("exact")?,
        t.f64("predicted")?,
    );
    let (n_used, excluded, note) = (t.u64("n_used")?, t.str("excluded")?, t.str("note")?);
    let (ex_x, ex_reason) = (
        list_f64(&t.path, STAGE, "excluded_x")?,
        list_str(&t.path, STAGE, "excluded_reason")?,
    );
    (0..t.rows())
        .map(|i| {
            if id[i].quantity() != quantity[i] || id[i].kind() != kind[i] {
                bail!(
                    "{}: row {i}: fit {} is a {} of {}, but the row says a {} of {}",
                    t.path.display(),
                    id[i],
                    id[i].kind().name(),
                    id[i].quantity(),
                    kind[i].name(),
                    quantity[i]
                );
            }
            if ex_x[i].len() != ex_reason[i].len() {
                bail!(
                    "{}: row {i}: {} excluded sweep values but {} reasons",
                    t.path.display(),
                    ex_x[i].len(),
                    ex_reason[i].len()
                );
            }
            let exclusions = ex_x[i]
                .iter()
                .zip(&ex_reason[i])
                .map(|(&x, r)| {
                    let reason = Reason::parse(r).with_context(|| {
                        format!(
                            "{}: column excluded_reason, row {i}: unknown reason {r:?} (tail, noise)",
                            t.path.display()
                        )
                    })?;
                    Ok(Exclusion { x, reason })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(FitRow {
                id: id[i],
                estimator: estimator[i],
                exclusions,
                quantity: quantity[i],
                sweep: sweep[i],
                kind: kind[i],
                x_max: x_max[i],
                estimate: estimate[i],
                lo: lo[i],
                hi: hi[i],
                exact: exact[i],
                predicted: predicted[i],
                n_used: n_used[i],
                excluded: excluded[i].clone(),
                note: note[i].clone(),
            })
        })
        .collect()
}

/// Reads [`POINTS`] of an artifact directory, with the fit's parameters from its metadata: the products
/// estimator's rows (every estimator's rows: [`read`]).
pub fn read_points(dir: &Path) -> Result<(Vec<PointRow>, FitParams)> {
    let (mut rows, params) = points_table(dir)?;
    rows.retain(|r| r.estimator == Estimator::Products);
    Ok((rows, params))
}

/// Every row of [`POINTS`], with the fit's parameters.
fn points_table(dir: &Path) -> Result<(Vec<PointRow>, FitParams)> {
    let t = Table::read(&dir.join(POINTS), STAGE)?;
    let params = FitParams::from_meta(&t.path, &t.meta)?;
    let quantity = parsed(&t, "quantity", Quantity::parse)?;
    let estimator = parsed(&t, "estimator", Estimator::parse)?;
    let (x, y) = (required(&t, "x")?, required(&t, "y")?);
    let (lo, hi, exact, background) = (
        t.f64("ci_low")?,
        t.f64("ci_high")?,
        t.f64("exact")?,
        t.f64("background")?,
    );
    let (resolvable, width, sigma_w) = (t.bool("resolvable")?, t.u64("width")?, t.f64("sigma_w")?);
    let (ess, ess_min, tail_ratio, tail_min) = (
        t.f64("ess")?,
        t.f64("ess_min")?,
        t.f64("tail_ratio")?,
        t.f64("tail_min")?,
    );
    let rows = (0..t.rows())
        .map(|i| PointRow {
            quantity: quantity[i],
            estimator: estimator[i],
            x: x[i],
            y: y[i],
            lo: lo[i],
            hi: hi[i],
            exact: exact[i],
            background: background[i],
            resolvable: resolvable[i],
            width: width[i],
            sigma_w: sigma_w[i],
            ess: ess[i],
            ess_min: ess_min[i],
            tail_ratio: tail_ratio[i],
            tail_min: tail_min[i],
        })
        .collect();
    Ok((rows, params))
}

/// Reads [`COMBOS`] of an artifact directory: the products estimator's rows (every estimator's rows: [`read`]).
pub fn read_combos(dir: &Path) -> Result<Vec<ComboRow>> {
    let mut rows = combos_table(dir)?;
    rows.retain(|r| r.estimator == Estimator::Products);
    Ok(rows)
}

/// Every row of [`COMBOS`].
fn combos_table(dir: &Path) -> Result<Vec<ComboRow>> {
    let t = Table::read(&dir.join(COMBOS), STAGE)?;
    let estimator = parsed(&t, "estimator", Estimator::parse)?;
    let (x, n, combo) = (
        required(&t, "x")?,
        t.u64("n")?,
        list_u16(&t.path, STAGE, "combo")?,
    );
    let (m, m_exact, u, u_exact, lambda) = (
        t.f64("m")?,
        t.f64("m_exact")?,
        t.f64("u")?,
        t.f64("u_exact")?,
        t.f64("lambda")?,
    );
    let (gc, gc_stderr) = (t.f64("gc")?, t.f64("gc_stderr")?);
    let resolvable = t.bool("resolvable")?;
    Ok((0..t.rows())
        .map(|i| ComboRow {
            estimator: estimator[i],
            x: x[i],
            n: n[i],
            combo: combo[i].clone(),
            m: m[i],
            m_exact: m_exact[i],
            u: u[i],
            u_exact: u_exact[i],
            lambda: lambda[i],
            gc: gc[i],
            gc_stderr: gc_stderr[i],
            resolvable: resolvable[i],
        })
        .collect())
}

/// Verifies a fit artifact against its manifest and reads all three tables, every estimator's rows (products
/// first, then conditional where the moments had it).
pub fn read(dir: &Path) -> Result<FitArtifact> {
    nnqft_store::verify(dir).with_context(|| format!("fit input {}", dir.display()))?;
    let (points, params) = points_table(dir)?;
    Ok(FitArtifact {
        dir: dir.into(),
        hash: nnqft_store::content_hash(dir)?,
        params,
        fits: fits_table(dir)?,
        points,
        combos: combos_table(dir)?,
    })
}

impl FitArtifact {
    /// The estimators whose rows the artifact holds, products first.
    pub fn estimators(&self) -> Vec<Estimator> {
        Estimator::ALL
            .into_iter()
            .filter(|&e| {
                self.fits.iter().any(|r| r.estimator == e) || self.points.iter().any(|r| r.estimator == e)
            })
            .collect()
    }

    /// Keeps only the rows of one estimator.
    pub fn keep(&mut self, e: Estimator) {
        self.fits.retain(|r| r.estimator == e);
        self.points.retain(|r| r.estimator == e);
        self.combos.retain(|r| r.estimator == e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta::new(
            STAGE,
            serde_json::json!({"sweep": "sigma_w", "bootstrap": 400, "sample": [{"arch": "gaussnet", "d": 1}]}),
            vec![],
        )
    }

    fn fit_rows() -> Vec<FitRow> {
        let ids = [
            FitId::VsWidth(WidthSlope::Gc4),
            FitId::M6TwoTermB,
            FitId::Sign(Coupling::U6),
            FitId::VsSigmaW {
                coupling: Coupling::U6,
                norm: Norm::Canonical,
                range: Range::UpTo(12.5),
            },
            FitId::LambdaVsCutoff,
        ];
        ids.iter()
            .enumerate()
            .map(|(i, &id)| FitRow {
                id,
                estimator: if i % 2 == 0 {
                    Estimator::Products
                } else {
                    Estimator::Conditional
                },
                quantity: id.quantity(),
                sweep: Sweep::SigmaW,
                kind: id.kind(),
                x_max: id.x_max(),
                estimate: Some(i as f64 - 1.5),
                lo: (i != 2).then_some(-2.0),
                hi: Some(0.25),
                exact: None,
                predicted: Some(-3.0),
                n_used: i as u64,
                exclusions: (0..i)
                    .map(|k| Exclusion {
                        x: k as f64 + 0.5,
                        reason: if k % 2 == 0 { Reason::Tail } else { Reason::Noise },
                    })
                    .collect(),
                excluded: format!("{i} (noise)"),
                note: "a note".into(),
            })
            .collect()
    }

    #[test]
    fn tables_round_trip_through_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let fits = fit_rows();
        let points = vec![PointRow {
            quantity: Quantity::U6Dimless,
            estimator: Estimator::Conditional,
            x: 2.0,
            y: -0.5,
            lo: None,
            hi: Some(1.0),
            exact: Some(0.1),
            background: None,
            resolvable: true,
            width: 100,
            sigma_w: Some(2.0),
            ess: Some(850.0),
            ess_min: Some(1000.0),
            tail_ratio: None,
            tail_min: None,
        }];
        let combos = vec![ComboRow {
            estimator: Estimator::Products,
            x: 5.0,
            n: 4,
            combo: vec![0, 1, 1, 3],
            m: Some(0.2),
            m_exact: None,
            u: Some(-1.0),
            u_exact: Some(-1.1),
            lambda: Some(0.01),
            gc: Some(0.3),
            gc_stderr: None,
            resolvable: false,
        }];
        write_fits(dir.path(), &fits, &meta()).unwrap();
        write_points(dir.path(), &points, &meta()).unwrap();
        write_combos(dir.path(), &combos, &meta()).unwrap();
        // The table readers give the products rows (read, every row, also verifies the manifest).
        let (p, params) = read_points(dir.path()).unwrap();
        assert!(p.is_empty(), "the only point row is the conditional estimator's");
        assert_eq!(fits_table(dir.path()).unwrap(), fits);
        assert_eq!(points_table(dir.path()).unwrap().0, points);
        assert_eq!(
            (params.sweep, params.bootstrap, params.arch.as_str(), params.d),
            (Sweep::SigmaW, 400, "gaussnet", 1.0)
        );
        assert_eq!(read_combos(dir.path()).unwrap(), combos);
    }

    #[test]
    fn fit_ids_print_as_the_tables_spell_them_and_parse_back() {
        let want = [
            (FitId::VsWidth(WidthSlope::M4), "m4_abs_vs_N"),
            (FitId::VsWidth(WidthSlope::Gc6), "gc6_abs_vs_N"),
            (FitId::VsWidth(WidthSlope::Gc8), "gc8_abs_vs_N"),
            (FitId::M6TwoTermA, "m6_two_term_a"),
            (FitId::Sign(Coupling::U4), "u4_sign"),
            (
                FitId::VsSigmaW {
                    coupling: Coupling::U4,
                    norm: Norm::Raw,
                    range: Range::UpTo(10.0),
                },
                "u4_raw_vs_sigma_w_le10",
            ),
            (
                FitId::VsSigmaW {
                    coupling: Coupling::U6,
                    norm: Norm::Canonical,
                    range: Range::All,
                },
                "u6_canonical_vs_sigma_w_all",
            ),
            (FitId::LambdaVsCutoff, "lambda_vs_cutoff"),
            (
                FitId::VsSweep {
                    slope: WidthSlope::Gc4,
                    sweep: Sweep::SigmaB,
                },
                "gc4_abs_vs_sigma_b",
            ),
            (
                FitId::VsSweep {
                    slope: WidthSlope::U6,
                    sweep: Sweep::Depth,
                },
                "u6_abs_vs_depth",
            ),
        ];
        for (id, s) in want {
            assert_eq!(id.to_string(), s);
            assert_eq!(FitId::parse(s), Some(id), "{s}");
        }
        for bad in [
            "m4_vs_N",
            "u4_raw_vs_sigma_w_le",
            "u4_raw_vs_sigma_w_le010",
            "u8_sign",
            "",
        ] {
            assert_eq!(FitId::parse(bad), None, "{bad}");
        }
        // The companions the fit's noise floor has always used (the points table's `resolvable` depends on them).
        let companions: Vec<(&str, Option<&str>)> = Quantity::ALL
            .iter()
            .map(|q| (q.name(), q.signed_companion().map(Quantity::name)))
            .filter(|(_, c)| c.is_some())
            .collect();
        assert_eq!(
            companions,
            [
                ("m4_abs", "m4_mean"),
                ("m6_abs", "m6_mean"),
                ("m6_mean", "m6_mean"),
                ("gc4_abs", "gc4_mean"),
                ("gc6_abs", "gc6_mean"),
                ("gc4_mean", "gc4_mean"),
                ("gc6_mean", "gc6_mean"),
                ("u4_mean", "u4_mean"),
                ("u4_abs", "u4_mean"),
                ("lambda_abs", "u4_mean"),
                ("u6_mean", "u6_mean"),
                ("u6_abs", "u6_mean"),
                ("u4_canon_abs", "u4_mean"),
                ("u6_canon_abs", "u6_mean"),
                ("gc8_abs", "gc8_mean"),
                ("gc8_mean", "gc8_mean"),
            ]
            .map(|(q, c)| (q, Some(c)))
        );
        for q in Quantity::ALL {
            assert_eq!(Quantity::parse(q.name()), Some(*q));
            assert_eq!(Quantity::ALL[*q as usize], *q);
        }
    }

    #[test]
    fn a_missing_column_names_the_file_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        write_columns(
            &dir.path().join(FITS),
            vec![
                ("id", Col::Str(vec!["m2_mean".into()])),
                ("quantity", Col::Str(vec!["m2_mean".into()])),
            ],
            &meta(),
        )
        .unwrap();
        let e = format!("{:#}", fits_table(dir.path()).unwrap_err());
        assert!(
            e.contains("fits.parquet") && e.contains("column sweep is missing"),
            "{e}"
        );
    }

    #[test]
    fn unknown_names_and_malformed_metadata_fail_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = fit_rows();
        write_fits(dir.path(), &rows, &meta()).unwrap();
        // A quantity the contract does not know.
        std::fs::remove_file(dir.path().join(FITS)).unwrap();
        write_columns(
            &dir.path().join(FITS),
            vec![("id", Col::Str(vec!["u4_spreads".into()]))],
            &meta(),
        )
        .unwrap();
        let e = format!("{:#}", fits_table(dir.path()).unwrap_err());
        assert!(
            e.contains("column id, row 0: unknown value \"u4_spreads\""),
            "{e}"
        );
        // A row whose kind contradicts its id.
        std::fs::remove_file(dir.path().join(FITS)).unwrap();
        rows[0].kind = FitKind::Mean;
        write_fits(dir.path(), &rows, &meta()).unwrap();
        let e = format!("{:#}", fits_table(dir.path()).unwrap_err());
        assert!(
            e.contains("fit gc4_abs_vs_N is a slope of gc4_mean, but the row says a mean"),
            "{e}"
        );
        // Metadata without the sample dimension, or with an unknown sweep.
        for (params, says) in [
            (
                serde_json::json!({"sweep": "width", "bootstrap": 4, "sample": [{"arch": "erf"}]}),
                "lacks sample[0].d",
            ),
            (
                serde_json::json!({"sweep": "depths", "bootstrap": 4, "sample": [{"arch": "erf", "d": 1}]}),
                "sweep = \"depths\"",
            ),
            (
                serde_json::json!({"sweep": "width", "sample": [{"arch": "erf", "d": 1}]}),
                "lacks bootstrap",
            ),
            (
                serde_json::json!({"sweep": "width", "bootstrap": 4, "sample": []}),
                "lacks sample",
            ),
        ] {
            let e = FitParams::from_meta(Path::new("x/points.parquet"), &Meta::new(STAGE, params, vec![]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("x/points.parquet") && e.contains(says), "{e}");
        }
    }
}
