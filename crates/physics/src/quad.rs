//! Gaussian quadrature rules (Gauss-Legendre, Gauss-Hermite), computed by Newton iteration on the
//! three-term recurrences (Golub & Welsch 1969; Numerical Recipes 3rd ed. section 4.6).

use crate::tol::NODE_NEWTON;
use std::f64::consts::PI;

/// Nodes and weights of an n-point rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
}

/// Gauss-Legendre rule on [-1, 1] (exact for polynomials of degree 2n - 1).
pub fn legendre(n: usize) -> Rule {
    let mut nodes = vec![0.0; n];
    let mut weights = vec![0.0; n];
    for i in 0..n.div_ceil(2) {
        let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 0.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            let p = if n == 0 {
                1.0
            } else if n == 1 {
                x
            } else {
                p1
            };
            let pm1 = if n == 1 { 1.0 } else { p0 };
            dp = n as f64 * (x * p - pm1) / (x * x - 1.0);
            let dx = p / dp;
            x -= dx;
            if dx.abs() < NODE_NEWTON {
                break;
            }
        }
        nodes[i] = -x;
        nodes[n - 1 - i] = x;
        let w = 2.0 / ((1.0 - x * x) * dp * dp);
        weights[i] = w;
        weights[n - 1 - i] = w;
    }
    Rule { nodes, weights }
}

/// Integral of `f` over [a, b] with `panels` equal sub-intervals, each an n-point Gauss-Legendre rule.
pub fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64, rule: &Rule, panels: usize) -> f64 {
    let h = (b - a) / panels as f64;
    let mut total = 0.0;
    for p in 0..panels {
        let lo = a + p as f64 * h;
        let mid = lo + 0.5 * h;
        let mut s = 0.0;
        for (x, w) in rule.nodes.iter().zip(&rule.weights) {
            s += w * f(mid + 0.5 * h * x);
        }
        total += 0.5 * h * s;
    }
    total
}

/// Probabilists' Gauss-Hermite rule: sum_i w_i f(x_i) approximates E[f(Z)], Z ~ N(0, 1).
pub fn hermite_normal(n: usize) -> Rule {
    // Physicists' rule for weight exp(-t^2), then x = sqrt(2) t and w / sqrt(pi).
    let pim4 = PI.powf(-0.25);
    let mut t = vec![0.0; n];
    let mut w = vec![0.0; n];
    let m = n.div_ceil(2);
    let mut z = 0.0;
    for i in 0..m {
        z = match i {
            0 => (2.0 * n as f64 + 1.0).sqrt() - 1.85575 * (2.0 * n as f64 + 1.0).powf(-0.16667),
            1 => z - 1.14 * (n as f64).powf(0.426) / z,
            2 => 1.86 * z - 0.86 * t[0],
            3 => 1.91 * z - 0.91 * t[1],
            _ => 2.0 * z - t[i - 2],
        };
        let mut pp = 0.0;
        for _ in 0..200 {
            let mut p1 = pim4;
            let mut p2 = 0.0;
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                p1 = z * (2.0 / (j as f64 + 1.0)).sqrt() * p2 - (j as f64 / (j as f64 + 1.0)).sqrt() * p3;
                if j + 1 == n {
                    pp = (2.0 * n as f64).sqrt() * p2;
                }
            }
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() <= NODE_NEWTON {
                break;
            }
        }
        t[i] = z;
        t[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    let s2 = 2f64.sqrt();
    let spi = PI.sqrt();
    Rule {
        nodes: t.iter().map(|x| x * s2).collect(),
        weights: w.iter().map(|x| x / spi).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol::{ALGEBRA_REL, close};

    #[test]
    fn legendre_integrates_polynomials_exactly() {
        let r = legendre(10);
        let s: f64 = r.weights.iter().sum();
        assert!(close(s, 2.0, ALGEBRA_REL));
        // int_0^2 x^19 dx = 2^20 / 20
        let v = integrate(|x| x.powi(19), 0.0, 2.0, &r, 1);
        assert!(close(v, 2f64.powi(20) / 20.0, ALGEBRA_REL), "{v}");
        assert!(close(
            integrate(f64::sin, 0.0, PI, &legendre(20), 3),
            2.0,
            ALGEBRA_REL
        ));
    }

    #[test]
    fn hermite_reproduces_normal_moments() {
        for n in [10, 40, 100] {
            let r = hermite_normal(n);
            let m = |k: i32| {
                r.nodes
                    .iter()
                    .zip(&r.weights)
                    .map(|(x, w)| w * x.powi(k))
                    .sum::<f64>()
            };
            assert!(close(m(0), 1.0, ALGEBRA_REL), "n={n} {}", m(0));
            assert!(close(m(2), 1.0, ALGEBRA_REL), "n={n}");
            assert!(close(m(4), 3.0, ALGEBRA_REL), "n={n}");
            assert!(close(m(6), 15.0, ALGEBRA_REL), "n={n}");
            assert!(m(3).abs() < ALGEBRA_REL);
        }
        // E[cos Z] = exp(-1/2)
        let r = hermite_normal(40);
        let v: f64 = r.nodes.iter().zip(&r.weights).map(|(x, w)| w * x.cos()).sum();
        assert!(close(v, (-0.5f64).exp(), ALGEBRA_REL));
    }
}
