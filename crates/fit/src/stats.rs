//! Small statistics helpers for the fits: least squares in log-log, the two-term form a/N + b/N^2,
//! percentiles of bootstrap replicates. Only the fit stage uses them (so they live here, not in
//! `nnqft-physics`: editing them re-runs fit, flow and report, not the sampling).

/// Confidence level of every interval the fit writes.
pub const LEVEL: f64 = 0.95;

/// Two-sided tail probability of the bootstrap quantiles of a 95% interval from `bags` independent bags: the
/// expanded percentile interval (Hesterberg, "What teachers should know about the bootstrap", Am. Stat. 69
/// (2015) 371, section 5.4). A plain percentile interval is as narrow as a normal interval with the bootstrap's
/// plug-in variance, (n-1)/n of the unbiased one, and so under-covers with few bags (about 0.90 at 10 bags for a
/// normal mean); the expansion replaces its z_(0.975) by sqrt(n/(n-1)) t_(n-1, 0.975), the exact factor for a
/// normal mean, and keeps the bootstrap's asymmetry. 10 bags: tails of 0.86% instead of 2.5%.
pub fn tail_probability(bags: usize) -> Option<f64> {
    if bags < 2 {
        return None;
    }
    let n = bags as f64;
    let t = t_quantile(bags - 1, LEVEL)?;
    Some(normal_upper_tail((n / (n - 1.0)).sqrt() * t))
}

/// The 95% expanded percentile interval of bootstrap replicates over `bags` bags ([`tail_probability`]); each end
/// `None` when nothing finite is left, both `None` with fewer than two bags.
pub fn ci95(boot: &[f64], bags: usize) -> (Option<f64>, Option<f64>) {
    match tail_probability(bags) {
        Some(a) => (quantile(boot, a), quantile(boot, 1.0 - a)),
        None => (None, None),
    }
}

/// P(Z > x) for a standard normal Z (Numerical Recipes' erfc, relative error < 1.2e-7 everywhere).
pub fn normal_upper_tail(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { erfc / 2.0 } else { 1.0 - erfc / 2.0 }
}

/// P(|T| <= t) for Student's t with `df` degrees of freedom (Abramowitz and Stegun 26.7.3-4: finite sums in
/// theta = atan(t / sqrt(df)), exact for integer df).
pub fn t_two_sided_cdf(t: f64, df: usize) -> f64 {
    let theta = (t.abs() / (df as f64).sqrt()).atan();
    let (s, c) = theta.sin_cos();
    if df % 2 == 1 {
        // (2/pi) [theta + sin(theta) (cos + 2/3 cos^3 + ... + (2.4...(df-3))/(1.3...(df-2)) cos^(df-2))]
        let mut sum = 0.0;
        let mut term = c;
        let mut k = 1;
        while k + 2 <= df {
            sum += term;
            term *= c * c * (k + 1) as f64 / (k + 2) as f64;
            k += 2;
        }
        2.0 / std::f64::consts::PI * (theta + s * sum)
    } else {
        // sin(theta) [1 + 1/2 cos^2 + 1.3/(2.4) cos^4 + ... + (1.3...(df-3))/(2.4...(df-2)) cos^(df-2)]
        let mut sum = 0.0;
        let mut term = 1.0;
        let mut k = 0;
        while k + 2 <= df {
            sum += term;
            term *= c * c * (k + 1) as f64 / (k + 2) as f64;
            k += 2;
        }
        s * sum
    }
}

/// The t value with P(|T| <= t) = `level` for `df` degrees of freedom (bisection on [`t_two_sided_cdf`]);
/// `None` for df = 0 or a level outside (0, 1).
pub fn t_quantile(df: usize, level: f64) -> Option<f64> {
    if df == 0 || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while t_two_sided_cdf(hi, df) < level {
        hi *= 2.0;
    }
    // 200 halvings reach the resolution of f64 from any bracket.
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_two_sided_cdf(mid, df) < level {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Ordinary least squares y = intercept + slope x; `None` with fewer than two distinct x.
pub fn ols(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mx = x.iter().take(n).sum::<f64>() / n as f64;
    let my = y.iter().take(n).sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().take(n).map(|v| (v - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).take(n).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

/// Slope of log y against log x; `None` unless every value is finite and positive and x has spread.
pub fn log_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.iter().chain(y).any(|v| !(v.is_finite() && *v > 0.0)) {
        return None;
    }
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    ols(&lx, &ly).map(|(_, s)| s)
}

/// Least-squares fit of y = a/N + b/N^2; `None` with fewer than two distinct N.
pub fn two_term(n: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    // Normal equations for the basis (1/N, 1/N^2).
    let (mut s11, mut s12, mut s22, mut t1, mut t2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (&nn, &yy) in n.iter().zip(y) {
        let (u, v) = (1.0 / nn, 1.0 / (nn * nn));
        s11 += u * u;
        s12 += u * v;
        s22 += v * v;
        t1 += u * yy;
        t2 += v * yy;
    }
    let det = s11 * s22 - s12 * s12;
    if n.len() < 2 || det.abs() <= f64::EPSILON * s11 * s22 {
        return None;
    }
    Some(((t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det))
}

/// The q-quantile (0..1) of `xs` by linear interpolation; NaNs are ignored; `None` if nothing is left.
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agreement between two algebraically identical evaluations in floating point (relative).
    const ALGEBRA_REL: f64 = 1e-12;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    #[test]
    fn fits_recover_exact_parameters() {
        let x = [2.0f64, 3.0, 10.0, 100.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| 7.0 * v.powf(-1.5)).collect();
        assert!(close(log_slope(&x, &y).unwrap(), -1.5, ALGEBRA_REL));
        let y2: Vec<f64> = x.iter().map(|v| 15.0 / v + 44.0 / (v * v)).collect();
        let (a, b) = two_term(&x, &y2).unwrap();
        assert!(
            close(a, 15.0, ALGEBRA_REL) && close(b, 44.0, ALGEBRA_REL),
            "{a} {b}"
        );
        assert!(log_slope(&[1.0], &[1.0]).is_none());
        assert!(log_slope(&[1.0, 2.0], &[1.0, -1.0]).is_none());
        assert_eq!(quantile(&[3.0, 1.0, 2.0, f64::NAN], 0.5), Some(2.0));
        assert_eq!(quantile(&[0.0, 10.0], 0.25), Some(2.5));
        // 0, 1, ..., 40: the 2.5% and 97.5% quantiles are 1 and 39.
        assert_eq!(quantile(&[f64::NAN], 0.5), None);
    }

    /// Agreement with printed tables (4 or 5 significant digits).
    const TABLE_REL: f64 = 2e-5;

    #[test]
    fn t_and_normal_quantiles_match_the_tables() {
        // Student's t, two-sided 95% (Abramowitz and Stegun table 26.10): df 1, 2, 9, 19, 30, 120.
        for (df, t) in [
            (1, 12.7062),
            (2, 4.30265),
            (9, 2.26216),
            (19, 2.09302),
            (30, 2.04227),
            (120, 1.97993),
        ] {
            let got = t_quantile(df, 0.95).unwrap();
            assert!(close(got, t, TABLE_REL), "df {df}: {got} vs {t}");
        }
        assert!(t_quantile(0, 0.95).is_none() && t_quantile(5, 1.0).is_none());
        // Normal upper tails: 1.959964 -> 0.025, 2.575829 -> 0.005, 0 -> 0.5, and the symmetry.
        for (x, p) in [
            (1.959964, 0.025),
            (2.575829, 0.005),
            (0.0, 0.5),
            (-1.959964, 0.975),
        ] {
            assert!(close(normal_upper_tail(x), p, TABLE_REL), "{x}");
        }
        // 10 bags: sqrt(10/9) t_9 = 2.3846, P(Z > 2.3846) = 0.00855; many bags approach 0.025.
        assert!(close(tail_probability(10).unwrap(), 0.00855, 2e-3));
        assert!((tail_probability(100_000).unwrap() - 0.025).abs() < 1e-4);
        assert!(tail_probability(1).is_none());
        // The interval of 0..=1000 over 10 bags: the 0.855% and 99.145% quantiles.
        let v: Vec<f64> = (0..=1000).map(f64::from).collect();
        let (lo, hi) = ci95(&v, 10);
        assert!((lo.unwrap() - 8.55).abs() < 0.02 && (hi.unwrap() - 991.45).abs() < 0.02);
        assert_eq!(ci95(&[f64::NAN], 10), (None, None));
        assert_eq!(ci95(&v, 1), (None, None));
    }
}
