//! Couplings of the 1PI effective action (PHYSICS.md 5) and their normalisations (PHYSICS.md 6).
//!
//! u_4 = -DeltaG^(4) / N_K with N_K = int d^dx prod_i K_W(x, x_i); u_6 = -[G_c^(6) - u_4^2 sum_10 I] / int prod_6 K_W.
//! GaussNet has closed forms over R^d; Erf and ReLU (d = 1) use a cutoff x in [-Lambda, Lambda].

use crate::combos::triple_splits6;
use crate::kernel::k_w_xy;
use crate::quad::{Rule, legendre};
use crate::{Arch, Config, Error};
use std::f64::consts::PI;

/// Gauss-Legendre nodes per panel of the cutoff integrals.
const CUTOFF_NODES: usize = 16;
/// Panels per segment between breakpoints of the cutoff integrals.
const CUTOFF_PANELS: usize = 64;

/// alpha = sigma_W^2 / (2d) of the GaussNet kernel.
fn alpha(cfg: &Config) -> f64 {
    cfg.sigma_w().powi(2) / (2.0 * cfg.d() as f64)
}

/// Sum of squared deviations of the points `idx` from their mean, and the mean.
fn spread(cfg: &Config, idx: &[usize]) -> (f64, Vec<f64>) {
    let d = cfg.d();
    let mut mean = vec![0.0; d];
    for &i in idx {
        for j in 0..d {
            mean[j] += cfg.point(i)[j] / idx.len() as f64;
        }
    }
    let s = idx
        .iter()
        .map(|&i| (0..d).map(|j| (cfg.point(i)[j] - mean[j]).powi(2)).sum::<f64>())
        .sum();
    (s, mean)
}

/// int d^dx prod_{i in idx} K_W(x, x_i): closed form for GaussNet (any d; `cutoff` ignored), cutoff integral
/// over [-Lambda, Lambda] for Erf and ReLU at d = 1.
pub fn vertex_integral(cfg: &Config, idx: &[usize], cutoff: Option<f64>) -> Result<f64, Error> {
    match cfg.arch() {
        Arch::GaussNet => {
            let m = idx.len() as f64;
            let a = alpha(cfg);
            let (s, _) = spread(cfg, idx);
            Ok(cfg.sigma_w().powf(2.0 * m) * (PI / (m * a)).powf(cfg.d() as f64 / 2.0) * (-a * s).exp())
        }
        arch => {
            if cfg.d() != 1 {
                return Err(Error::Unsupported(format!(
                    "vertex integrals for {} at d = {} (only d = 1 has a cutoff integral)",
                    arch.name(),
                    cfg.d()
                )));
            }
            let lambda = cutoff.ok_or_else(|| {
                Error::Unsupported(format!(
                    "{} has no closed-form vertex integral: give a cutoff Lambda",
                    arch.name()
                ))
            })?;
            if !(lambda.is_finite() && lambda > 0.0) {
                return Err(Error::NonFinite {
                    name: "cutoff Lambda (must be finite and > 0)".into(),
                    value: lambda,
                });
            }
            let rule = legendre(CUTOFF_NODES);
            let f = |x: f64| {
                idx.iter()
                    .map(|&i| k_w_xy(cfg, &[x], cfg.point(i)))
                    .product::<f64>()
            };
            Ok(piecewise(&f, -lambda, lambda, cfg, &rule))
        }
    }
}

/// Composite Gauss-Legendre between breakpoints at 0 and at the points (kinks of the ReLU kernel).
fn piecewise(f: &dyn Fn(f64) -> f64, lo: f64, hi: f64, cfg: &Config, rule: &Rule) -> f64 {
    let mut cuts = vec![lo, hi, 0.0];
    cuts.extend((0..cfg.n_points()).flat_map(|i| [cfg.point(i)[0], -cfg.point(i)[0]]));
    cuts.retain(|c| *c >= lo && *c <= hi);
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    cuts.windows(2)
        .map(|w| crate::quad::integrate(f, w[0], w[1], rule, CUTOFF_PANELS))
        .sum()
}

/// Two-vertex tree integral I(abc|def) for GaussNet (closed form, any d).
pub fn two_vertex_gauss(cfg: &Config, abc: [usize; 3], def: [usize; 3]) -> f64 {
    let a = alpha(cfg);
    let (s1, m1) = spread(cfg, &abc);
    let (s2, m2) = spread(cfg, &def);
    let dm: f64 = m1.iter().zip(&m2).map(|(x, y)| (x - y).powi(2)).sum();
    cfg.sigma_w().powi(14)
        * (PI * PI / (15.0 * a * a)).powf(cfg.d() as f64 / 2.0)
        * (-a * (s1 + s2 + 0.6 * dm)).exp()
}

/// sum over the 10 splits abc|def of I for a six-point multiset (GaussNet only).
pub fn tree_sum(cfg: &Config, idx: &[usize]) -> Result<f64, Error> {
    if cfg.arch() != Arch::GaussNet {
        return Err(Error::Unsupported(format!(
            "the u_4^2 tree integral for {} (closed form for GaussNet only)",
            cfg.arch().name()
        )));
    }
    Ok(triple_splits6()
        .into_iter()
        .map(|(p, q)| {
            two_vertex_gauss(
                cfg,
                [idx[p[0]], idx[p[1]], idx[p[2]]],
                [idx[q[0]], idx[q[1]], idx[q[2]]],
            )
        })
        .sum())
}

/// Normalisations of PHYSICS.md 6 at one sigma_W: canonical field phi = f_W / a and the scale k.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// k = sqrt(2 sigma_W^2 / d).
    pub k: f64,
    /// a with a^2 = (d/2) (4 pi)^(d/2) k^(4-d).
    pub a: f64,
    pub d: f64,
}

impl Scales {
    pub fn new(sigma_w: f64, d: usize) -> Self {
        let df = d as f64;
        let k = (2.0 * sigma_w * sigma_w / df).sqrt();
        let a = ((df / 2.0) * (4.0 * PI).powf(df / 2.0) * k.powf(4.0 - df)).sqrt();
        Scales { k, a, d: df }
    }
    /// u_4^phi = a^4 u_4.
    pub fn u4_canonical(&self, u4: f64) -> f64 {
        self.a.powi(4) * u4
    }
    /// u_6^phi = a^6 u_6.
    pub fn u6_canonical(&self, u6: f64) -> f64 {
        self.a.powi(6) * u6
    }
    /// ubar_4 = k^(d-4) u_4^phi.
    pub fn u4_dimensionless(&self, u4: f64) -> f64 {
        self.k.powf(self.d - 4.0) * self.u4_canonical(u4)
    }
    /// ubar_6 = k^(2d-6) u_6^phi.
    pub fn u6_dimensionless(&self, u6: f64) -> f64 {
        self.k.powf(2.0 * self.d - 6.0) * self.u6_canonical(u6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quad::integrate;
    use crate::tol::{QUADRATURE_REL, close};

    fn gauss(d: usize, sw: f64) -> Config {
        let pts: Vec<Vec<f64>> = (0..6)
            .map(|i| (0..d).map(|j| 0.13 * i as f64 - 0.05 * j as f64 - 0.2).collect())
            .collect();
        Config::new(Arch::GaussNet, d, 10, sw, 1.0, &pts).unwrap()
    }

    #[test]
    fn gaussnet_vertex_integral_matches_quadrature() {
        let rule = legendre(20);
        for sw in [0.7, 1.0, 3.0] {
            let cfg = gauss(1, sw);
            for idx in [vec![0, 1, 2, 3], vec![0, 0, 5, 5], vec![0, 1, 2, 3, 4, 5]] {
                let f = |x: f64| {
                    idx.iter()
                        .map(|&i| k_w_xy(&cfg, &[x], cfg.point(i)))
                        .product::<f64>()
                };
                let q = integrate(f, -30.0 / sw, 30.0 / sw, &rule, 200);
                let c = vertex_integral(&cfg, &idx, None).unwrap();
                assert!(close(q, c, QUADRATURE_REL), "sw={sw} {idx:?}: {q} vs {c}");
            }
        }
        // d = 2 by a tensor rule.
        let cfg = gauss(2, 1.3);
        let idx = [0, 2, 3, 5];
        let f = |x: f64, y: f64| {
            idx.iter()
                .map(|&i| k_w_xy(&cfg, &[x, y], cfg.point(i)))
                .product::<f64>()
        };
        let q = integrate(
            |x| integrate(|y| f(x, y), -15.0, 15.0, &rule, 60),
            -15.0,
            15.0,
            &rule,
            60,
        );
        assert!(close(
            q,
            vertex_integral(&cfg, &idx, None).unwrap(),
            QUADRATURE_REL
        ));
    }

    #[test]
    fn two_vertex_integral_matches_quadrature() {
        let cfg = gauss(1, 1.2);
        let rule = legendre(20);
        let (abc, def) = ([0, 1, 4], [2, 3, 5]);
        let leg = |x: f64, t: [usize; 3]| {
            t.iter()
                .map(|&i| k_w_xy(&cfg, &[x], cfg.point(i)))
                .product::<f64>()
        };
        let q = integrate(
            |x| leg(x, abc) * integrate(|y| k_w_xy(&cfg, &[x], &[y]) * leg(y, def), -25.0, 25.0, &rule, 80),
            -25.0,
            25.0,
            &rule,
            80,
        );
        let c = two_vertex_gauss(&cfg, abc, def);
        assert!(close(q, c, QUADRATURE_REL), "{q} vs {c}");
    }

    #[test]
    fn relu_cutoff_integral_scales_as_lambda_to_the_fifth() {
        // sigma_b = 0, positive points: K_W(x, x_i) = sigma_W^2 E[relu(z) relu(z')] = (sigma_W^4/2) x x_i for
        // x > 0 and 0 for x < 0, so N_K = (sigma_W^4/2)^4 prod x_i Lambda^5 / 5 exactly.
        let pts: Vec<Vec<f64>> = (1..=4).map(|i| vec![0.2 * i as f64]).collect();
        let cfg = Config::new(Arch::Relu, 1, 20, 1.3, 0.0, &pts).unwrap();
        for lambda in [7.0, 100.0, 1e5] {
            let nk = vertex_integral(&cfg, &[0, 1, 2, 3], Some(lambda)).unwrap();
            let exact = (1.3f64.powi(4) / 2.0).powi(4) * (0.2 * 0.4 * 0.6 * 0.8) * lambda.powi(5) / 5.0;
            assert!(close(nk, exact, QUADRATURE_REL), "{nk} vs {exact}");
        }
        assert!(vertex_integral(&cfg, &[0, 1, 2, 3], None).is_err());
        assert!(vertex_integral(&cfg, &[0, 1, 2, 3], Some(-1.0)).is_err());
    }

    #[test]
    fn normalisations_have_the_stated_scaling() {
        // raw u_4 ~ sigma^(d-4) must map to canonical ~ sigma^(4-d) and dimensionless ~ sigma^0.
        for d in [1usize, 2, 3] {
            let df = d as f64;
            let (s1, s2) = (1.0, 3.0);
            let raw = |s: f64| s.powf(df - 4.0);
            let raw6 = |s: f64| s.powf(df - 6.0);
            let (a, b) = (Scales::new(s1, d), Scales::new(s2, d));
            let slope = |y1: f64, y2: f64| (y2 / y1).ln() / (s2 / s1).ln();
            assert!(
                (slope(a.u4_canonical(raw(s1)), b.u4_canonical(raw(s2))) - (4.0 - df)).abs() < QUADRATURE_REL
            );
            assert!(
                (slope(a.u6_canonical(raw6(s1)), b.u6_canonical(raw6(s2))) - (6.0 - 2.0 * df)).abs()
                    < QUADRATURE_REL
            );
            assert!(slope(a.u4_dimensionless(raw(s1)), b.u4_dimensionless(raw(s2))).abs() < QUADRATURE_REL);
            assert!(slope(a.u6_dimensionless(raw6(s1)), b.u6_dimensionless(raw6(s2))).abs() < QUADRATURE_REL);
        }
    }
}
