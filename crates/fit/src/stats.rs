//! Small statistics helpers for the fits: least squares in log-log, the two-term form a/N + b/N^2,
//! percentiles of bootstrap replicates. Only the fit stage uses them (so they live here, not in
//! `nnqft-physics`: editing them re-runs fit, flow and report, not the sampling).

/// Lower and upper quantiles of a 95% percentile-bootstrap interval.
pub const CI95: (f64, f64) = (0.025, 0.975);

/// The 95% percentile interval of bootstrap replicates (each end `None` when nothing finite is left).
pub fn ci95(boot: &[f64]) -> (Option<f64>, Option<f64>) {
    (quantile(boot, CI95.0), quantile(boot, CI95.1))
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
        let v: Vec<f64> = (0..=40).map(f64::from).collect();
        assert_eq!(ci95(&v), (Some(1.0), Some(39.0)));
        assert_eq!(ci95(&[f64::NAN]), (None, None));
    }
}
