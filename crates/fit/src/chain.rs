//! The whole chain from full n-point functions G (one value per moments row) to the quantities that are
//! fitted: deviations, connected parts, couplings in every normalisation. Bootstrap replicates, the point
//! estimate and the exact values all go through this same function.

use crate::sweep::Point;

/// Names of the per-point quantities, with the orders of Green function each one needs.
pub const QUANTITIES: &[(&str, &[u8], &str)] = &[
    ("m2_abs", &[2], "<|m_2|> over combinations"),
    ("m4_abs", &[4], "<|m_4|> over combinations"),
    ("m6_abs", &[6], "<|m_6|> over combinations"),
    ("m2_mean", &[2], "signed mean of m_2 over combinations"),
    ("m4_mean", &[4], "signed mean of m_4 over combinations"),
    ("m6_mean", &[6], "signed mean of m_6 over combinations"),
    ("gc4_abs", &[4], "mean |G_c^(4)| over combinations"),
    ("gc6_abs", &[6], "mean |G_c^(6)| over combinations"),
    ("gc4_mean", &[4], "signed mean of G_c^(4) over combinations"),
    ("gc6_mean", &[6], "signed mean of G_c^(6) over combinations"),
    ("u4_mean", &[4], "u_4 averaged over combinations (raw field)"),
    ("u4_abs", &[4], "mean |u_4| over combinations (raw field)"),
    (
        "u4_spread",
        &[4],
        "std/|mean| of u_4 over combinations (locality)",
    ),
    ("lambda_abs", &[4], "mean |lambda_HMS| = |DeltaG^(4)/(24 N_K)|"),
    ("u6_mean", &[4, 6], "u_6 averaged over combinations (raw field)"),
    ("u6_abs", &[4, 6], "mean |u_6| over combinations (raw field)"),
    (
        "u4_canon_abs",
        &[4],
        "|u_4^phi| of the combination-averaged u_4 (canonical field)",
    ),
    (
        "u6_canon_abs",
        &[4, 6],
        "|u_6^phi| of the combination-averaged u_6 (canonical field)",
    ),
    ("u4_dimless", &[4], "ubar_4 (dimensionless)"),
    ("u6_dimless", &[4, 6], "ubar_6 (dimensionless)"),
];

/// The signed quantity whose interval must exclude 0 at a sweep point for an absolute-value quantity to be
/// above the noise there: mean |x| over combinations has a floor set by the noise, which would flatten any
/// fitted slope.
pub fn signed_companion(quantity: &str) -> Option<&'static str> {
    Some(match quantity {
        "m4_abs" => "m4_mean",
        "m6_abs" | "m6_mean" => "m6_mean",
        "gc4_abs" | "gc4_mean" => "gc4_mean",
        "gc6_abs" | "gc6_mean" => "gc6_mean",
        "u4_abs" | "u4_mean" | "u4_canon_abs" | "lambda_abs" => "u4_mean",
        "u6_abs" | "u6_mean" | "u6_canon_abs" => "u6_mean",
        _ => return None,
    })
}

/// Position of a quantity in [`QUANTITIES`].
pub fn q(name: &str) -> usize {
    QUANTITIES
        .iter()
        .position(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("unknown quantity {name}"))
}

/// Per-combination couplings of one evaluation.
#[derive(Debug, Clone, Default)]
pub struct PerCombo {
    pub u4: Vec<f64>,
    pub lambda: Vec<f64>,
    pub u6: Vec<Option<f64>>,
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Evaluates every quantity at one sweep point from full n-point functions `g` (indexed like the rows).
/// Quantities that do not exist (u_6 without a closed-form tree integral) are NaN.
pub fn evaluate(p: &Point, g: &[f64]) -> (Vec<f64>, PerCombo) {
    let rows = &p.moments.rows;
    let m = |r: usize| (g[r] - rows[r].g_free) / rows[r].g_free;
    let mut out = vec![f64::NAN; QUANTITIES.len()];
    out[q("m2_abs")] = mean(p.rows2.iter().map(|&r| m(r).abs()));
    out[q("m4_abs")] = mean(p.rows4.iter().map(|&r| m(r).abs()));
    out[q("m6_abs")] = mean(p.rows6.iter().map(|&r| m(r).abs()));
    out[q("m2_mean")] = mean(p.rows2.iter().map(|&r| m(r)));
    out[q("m4_mean")] = mean(p.rows4.iter().map(|&r| m(r)));
    out[q("m6_mean")] = mean(p.rows6.iter().map(|&r| m(r)));
    let dg4: Vec<f64> = p.rows4.iter().map(|&r| g[r] - rows[r].g_free).collect();
    let gc6: Vec<f64> = p
        .rows6
        .iter()
        .enumerate()
        .map(|(i, &r)| g[r] - p.legs6[i].iter().map(|&(r4, k)| g[r4] * k).sum::<f64>() + 2.0 * p.kkk6[i])
        .collect();
    out[q("gc4_abs")] = mean(dg4.iter().map(|x| x.abs()));
    out[q("gc6_abs")] = mean(gc6.iter().map(|x| x.abs()));
    out[q("gc4_mean")] = mean(dg4.iter().copied());
    out[q("gc6_mean")] = mean(gc6.iter().copied());
    let u4: Vec<f64> = dg4.iter().zip(&p.nk4).map(|(d, n)| -d / n).collect();
    let lambda: Vec<f64> = dg4.iter().zip(&p.nk4).map(|(d, n)| d / (24.0 * n)).collect();
    let u4bar = mean(u4.iter().copied());
    let sd = (u4.iter().map(|u| (u - u4bar).powi(2)).sum::<f64>() / (u4.len().max(2) - 1) as f64).sqrt();
    out[q("u4_mean")] = u4bar;
    out[q("u4_abs")] = mean(u4.iter().map(|x| x.abs()));
    out[q("u4_spread")] = sd / u4bar.abs();
    out[q("lambda_abs")] = mean(lambda.iter().map(|x| x.abs()));
    let u6: Vec<Option<f64>> = gc6
        .iter()
        .enumerate()
        .map(|(i, gc)| match (p.nk6[i], p.tree6[i]) {
            (Some(nk), Some(tree)) => Some(-(gc - u4bar * u4bar * tree) / nk),
            _ => None,
        })
        .collect();
    if !u6.is_empty() && u6.iter().all(|u| u.is_some()) {
        let u6v: Vec<f64> = u6.iter().map(|u| u.expect("checked")).collect();
        let u6bar = mean(u6v.iter().copied());
        out[q("u6_mean")] = u6bar;
        out[q("u6_abs")] = mean(u6v.iter().map(|x| x.abs()));
        out[q("u6_canon_abs")] = p.scales.u6_canonical(u6bar).abs();
        out[q("u6_dimless")] = p.scales.u6_dimensionless(u6bar);
    }
    out[q("u4_canon_abs")] = p.scales.u4_canonical(u4bar).abs();
    out[q("u4_dimless")] = p.scales.u4_dimensionless(u4bar);
    (out, PerCombo { u4, lambda, u6 })
}

/// Mean |lambda_HMS| over 4-point combinations at a given cutoff: DeltaG^(4) / (24 N_K(Lambda)).
pub fn lambda_at(p: &Point, g: &[f64], nk4: &[f64]) -> f64 {
    mean(
        p.rows4
            .iter()
            .zip(nk4)
            .map(|(&r, n)| ((g[r] - p.moments.rows[r].g_free) / (24.0 * n)).abs()),
    )
}
