//! The whole chain from full n-point functions G and connected parts G_c (one value each per moments row) to the
//! quantities that are fitted: deviations, connected parts, couplings in every normalisation. Bootstrap
//! replicates, the point estimate and the exact values all go through this same function.
//!
//! The products estimator forms G_c^(4) and G_c^(6) from the full functions (as the papers do); the conditional
//! estimator (PHYSICS.md 9) estimates G_c per bag, so its chain takes them as given. G_c^(8) is taken as given by
//! both (the moments stage forms it per bag by the moment-cumulant formula for products).

use crate::sweep::Point;
use nnqft_contract::fit::Estimator;
use nnqft_contract::fit::Quantity::{self, *};

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

/// Evaluates every quantity at one sweep point from full n-point functions `g` and connected parts `c` (both
/// indexed like the rows); the values are indexed by [`Quantity`] (`q as usize`).
/// Quantities that do not exist (u_6 without a closed-form tree integral, G_c^(8) without eight-point rows) are
/// NaN.
pub fn evaluate(p: &Point, g: &[f64], c: &[f64]) -> (Vec<f64>, PerCombo) {
    let rows = &p.moments.rows;
    let m = |r: usize| (g[r] - rows[r].g_free) / rows[r].g_free;
    let mut out = vec![f64::NAN; Quantity::ALL.len()];
    out[M2Abs as usize] = mean(p.rows2.iter().map(|&r| m(r).abs()));
    out[M4Abs as usize] = mean(p.rows4.iter().map(|&r| m(r).abs()));
    out[M6Abs as usize] = mean(p.rows6.iter().map(|&r| m(r).abs()));
    out[M2Mean as usize] = mean(p.rows2.iter().map(|&r| m(r)));
    out[M4Mean as usize] = mean(p.rows4.iter().map(|&r| m(r)));
    out[M6Mean as usize] = mean(p.rows6.iter().map(|&r| m(r)));
    // DeltaG^(4) = G_c^(4) for one hidden layer (K exact); u_4 = -DeltaG^(4)/N_K takes the estimator's G_c^(4).
    let (dg4, gc6): (Vec<f64>, Vec<f64>) = match p.estimator {
        Estimator::Products => (
            p.rows4.iter().map(|&r| g[r] - rows[r].g_free).collect(),
            p.rows6
                .iter()
                .enumerate()
                .map(|(i, &r)| {
                    g[r] - p.legs6[i].iter().map(|&(r4, k)| g[r4] * k).sum::<f64>() + 2.0 * p.kkk6[i]
                })
                .collect(),
        ),
        Estimator::Conditional => (
            p.rows4.iter().map(|&r| c[r]).collect(),
            p.rows6.iter().map(|&r| c[r]).collect(),
        ),
    };
    out[Gc8Abs as usize] = mean(p.rows8.iter().map(|&r| c[r].abs()));
    out[Gc8Mean as usize] = mean(p.rows8.iter().map(|&r| c[r]));
    out[Gc4Abs as usize] = mean(dg4.iter().map(|x| x.abs()));
    out[Gc6Abs as usize] = mean(gc6.iter().map(|x| x.abs()));
    out[Gc4Mean as usize] = mean(dg4.iter().copied());
    out[Gc6Mean as usize] = mean(gc6.iter().copied());
    let u4: Vec<f64> = dg4.iter().zip(&p.nk4).map(|(d, n)| -d / n).collect();
    let lambda: Vec<f64> = dg4.iter().zip(&p.nk4).map(|(d, n)| d / (24.0 * n)).collect();
    let u4bar = mean(u4.iter().copied());
    let sd = (u4.iter().map(|u| (u - u4bar).powi(2)).sum::<f64>() / (u4.len().max(2) - 1) as f64).sqrt();
    out[U4Mean as usize] = u4bar;
    out[U4Abs as usize] = mean(u4.iter().map(|x| x.abs()));
    out[U4Spread as usize] = sd / u4bar.abs();
    out[LambdaAbs as usize] = mean(lambda.iter().map(|x| x.abs()));
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
        out[U6Mean as usize] = u6bar;
        out[U6Abs as usize] = mean(u6v.iter().map(|x| x.abs()));
        out[U6CanonAbs as usize] = p.scales.u6_canonical(u6bar).abs();
        out[U6Dimless as usize] = p.scales.u6_dimensionless(u6bar);
    }
    out[U4CanonAbs as usize] = p.scales.u4_canonical(u4bar).abs();
    out[U4Dimless as usize] = p.scales.u4_dimensionless(u4bar);
    (out, PerCombo { u4, lambda, u6 })
}

/// The connected part of every moments row as the estimator forms it (the same formulas as [`evaluate`]):
/// G^(4) - sum K K and G^(6) - sum G^(4) K + 2 sum K K K from the full functions for products, the per-bag
/// estimates for the conditional estimator and for G_c^(8); NaN for two-point rows.
pub fn connected_rows(p: &Point, g: &[f64], c: &[f64]) -> Vec<f64> {
    let rows = &p.moments.rows;
    let mut out = vec![f64::NAN; rows.len()];
    for &r in p.rows4.iter().chain(&p.rows6).chain(&p.rows8) {
        out[r] = c[r];
    }
    if p.estimator == Estimator::Products {
        for &r in &p.rows4 {
            out[r] = g[r] - rows[r].g_free;
        }
        for (i, &r) in p.rows6.iter().enumerate() {
            out[r] = g[r] - p.legs6[i].iter().map(|&(r4, k)| g[r4] * k).sum::<f64>() + 2.0 * p.kkk6[i];
        }
    }
    out
}

/// Mean |lambda_HMS| over 4-point combinations at a given cutoff: DeltaG^(4) / (24 N_K(Lambda)), DeltaG^(4) as in
/// [`evaluate`].
pub fn lambda_at(p: &Point, g: &[f64], c: &[f64], nk4: &[f64]) -> f64 {
    mean(p.rows4.iter().zip(nk4).map(|(&r, n)| {
        let dg = match p.estimator {
            Estimator::Products => g[r] - p.moments.rows[r].g_free,
            Estimator::Conditional => c[r],
        };
        (dg / (24.0 * n)).abs()
    }))
}
