//! Exact moments of deep ReLU networks without biases at inputs along one direction (PHYSICS.md 10, *exact*).
//!
//! With sigma_b = 0 and every point a positive multiple t_p u of one vector u, relu(w . t u) = t relu(w . u), so
//! every layer is t times its value at u and f_o(x_p) = t_p F_o with F the network at u. Given the last hidden
//! layer, the F_o are i.i.d. N(0, S^(L)), and S^(l) = S^(l-1) T_l with independent factors
//! T_l = (sigma_W^2/n_l) sum_(j <= n_l) relu(xi_j)^2, xi_j standard normal. sum_j relu(xi_j)^2 is chi-squared
//! with B ~ Binomial(n_l, 1/2) degrees of freedom, so E[T_l^m] = (sigma_W^2/n_l)^m E[B (B+2) ... (B+2m-2)], and
//!
//!   E[prod over legs f_(o_a)(x_(p_a))] = prod_a t_a  prod_o (m_o - 1)!!  S^(0)^(n/2) prod_l E[T_l^(n/2)]
//!
//! (zero when some output o carries an odd number m_o of legs), S^(0) = sigma_W^2 |u|^2 / d. For n = 4 at one
//! point: E[f^4] / E[f^2]^2 = 3 prod_l (1 + 5/n_l); for one layer this is m_4 = 5/N, m_6 = 15/N + 44/N^2.

use crate::combos::{pair_and_rest6, pairings};
use crate::exact::output_moment;
use crate::{Arch, Config};

/// Relative tolerance for "all points on one ray" (coordinates are compared after scaling to unit length).
const RAY_REL: f64 = 1e-12;

/// Exact moments of a bias-free deep ReLU network at points along one ray.
#[derive(Debug, Clone)]
pub struct ReluExact {
    /// t_p: the length of every point along the common unit direction.
    t: Vec<f64>,
    /// S^(0) at the unit direction: sigma_W^2 / d.
    s0: f64,
    /// E[T_l^m] for m = 1, 2, 3 and every layer.
    t_moments: Vec<[f64; 3]>,
}

/// E[B (B+2) ... (B+2m-2)] for B ~ Binomial(n, 1/2), from the factorial moments E[B^(i falling)] = n^(i falling)
/// / 2^i and the Stirling numbers of the second kind (B^j = sum_i S(j, i) B^(i falling)).
pub fn binomial_rising2(n: u64, m: usize) -> f64 {
    // Coefficients of prod_(i < m) (B + 2i) as a polynomial in B.
    let mut poly = vec![1.0f64];
    for i in 0..m {
        let mut next = vec![0.0; poly.len() + 1];
        for (j, c) in poly.iter().enumerate() {
            next[j + 1] += c;
            next[j] += 2.0 * i as f64 * c;
        }
        poly = next;
    }
    let nf = n as f64;
    let falling = |i: usize| (0..i).map(|k| (nf - k as f64) / 2.0).product::<f64>();
    // Stirling numbers of the second kind, S(j, i), by the recurrence S(j, i) = i S(j-1, i) + S(j-1, i-1).
    let deg = poly.len() - 1;
    let mut st = vec![vec![0.0f64; deg + 1]; deg + 1];
    st[0][0] = 1.0;
    for j in 1..=deg {
        for i in 1..=j {
            st[j][i] = i as f64 * st[j - 1][i] + st[j - 1][i - 1];
        }
    }
    poly.iter()
        .enumerate()
        .map(|(j, c)| c * (0..=j).map(|i| st[j][i] * falling(i)).sum::<f64>())
        .sum()
}

impl ReluExact {
    /// `Some` when the configuration qualifies: ReLU, sigma_b = 0, every point a positive multiple of one vector
    /// (all on one open ray from the origin), any depth, widths and outputs.
    pub fn new(cfg: &Config) -> Option<Self> {
        if cfg.arch() != Arch::Relu || cfg.sigma_b() != 0.0 {
            return None;
        }
        let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let first = cfg.point(0);
        let n0 = norm(first);
        if n0 == 0.0 {
            return None;
        }
        let u: Vec<f64> = first.iter().map(|v| v / n0).collect();
        let mut t = Vec::new();
        for p in 0..cfg.n_points() {
            let x = cfg.point(p);
            let len = norm(x);
            if len == 0.0 || x.iter().zip(&u).any(|(a, b)| (a / len - b).abs() > RAY_REL) {
                return None;
            }
            t.push(len);
        }
        let sw2 = cfg.sigma_w() * cfg.sigma_w();
        let t_moments = cfg
            .widths()
            .iter()
            .map(|&n| {
                let a = sw2 / n as f64;
                [
                    a * binomial_rising2(n, 1),
                    a * a * binomial_rising2(n, 2),
                    a * a * a * binomial_rising2(n, 3),
                ]
            })
            .collect();
        Some(ReluExact {
            t,
            s0: sw2 / cfg.d() as f64,
            t_moments,
        })
    }

    /// E[prod over legs] for n = 2, 4, 6 legs (x_(idx_a), output outs_a).
    pub fn g_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        let n = idx.len();
        let m = output_moment(outs);
        if m == 0.0 {
            return 0.0;
        }
        let half = n / 2;
        let scale: f64 = idx.iter().map(|&p| self.t[p]).product();
        let layers: f64 = self.t_moments.iter().map(|tm| tm[half - 1]).product();
        scale * m * self.s0.powi(half as i32) * layers
    }

    /// Connected parts by the moment-cumulant formula (odd moments vanish): G for n = 2, G - sum_3 G2 G2, and
    /// G - sum_15 G4 G2 + 2 sum_15 G2 G2 G2.
    pub fn connected_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        let g2 = |a: usize, b: usize| self.g_legs(&[idx[a], idx[b]], &[outs[a], outs[b]]);
        match idx.len() {
            2 => g2(0, 1),
            4 => {
                self.g_legs(idx, outs)
                    - pairings(4)
                        .iter()
                        .map(|p| g2(p[0].0, p[0].1) * g2(p[1].0, p[1].1))
                        .sum::<f64>()
            }
            6 => {
                let s42: f64 = pair_and_rest6()
                    .into_iter()
                    .map(|((a, b), r)| self.g_legs(&r.map(|x| idx[x]), &r.map(|x| outs[x])) * g2(a, b))
                    .sum();
                let s222: f64 = pairings(6)
                    .iter()
                    .map(|p| p.iter().map(|&(a, b)| g2(a, b)).product::<f64>())
                    .sum();
                self.g_legs(idx, outs) - s42 + 2.0 * s222
            }
            n => panic!("connected function of order {n} is not implemented (n in 2, 4, 6)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::Exact;
    use crate::tol::{QUADRATURE_REL, close};

    #[test]
    fn binomial_products_match_direct_sums() {
        for n in [1u64, 2, 5, 13] {
            for m in 1..=3 {
                let direct: f64 = (0..=n)
                    .map(|b| {
                        let pmf = crate::combos::binomial(n, b) as f64 / 2f64.powi(n as i32);
                        pmf * (0..m).map(|i| (b + 2 * i as u64) as f64).product::<f64>()
                    })
                    .sum();
                assert!(close(binomial_rising2(n, m), direct, 1e-13), "n={n} m={m}");
            }
        }
        // E[T^2] / E[T]^2 = 1 + 5/n (PHYSICS.md 10).
        let n = 7u64;
        let r = binomial_rising2(n, 2) / binomial_rising2(n, 1).powi(2);
        assert!(close(r, 1.0 + 5.0 / 7.0, 1e-14));
    }

    #[test]
    fn one_layer_agrees_with_the_quadrature_of_the_shallow_theory() {
        // Independent routes: the polar-form quadrature of PHYSICS.md 4 against the binomial formula.
        let pts = vec![vec![0.3], vec![0.8], vec![1.7]];
        for n in [1u64, 3, 20] {
            let cfg = Config::deep(Arch::Relu, 1, &[n], 2, 1.3, 0.0, &pts).unwrap();
            let e = Exact::new(&cfg).unwrap();
            let r = ReluExact::new(&cfg).unwrap();
            for (idx, outs) in [
                (vec![0, 1], vec![0, 0]),
                (vec![0, 1, 2, 2], vec![0, 0, 1, 1]),
                (vec![0, 1, 2, 2], vec![0, 0, 0, 0]),
                (vec![0, 0, 1, 1, 2, 2], vec![0, 1, 0, 1, 0, 1]),
                (vec![2, 2, 2, 2, 2, 2], vec![1, 1, 1, 1, 1, 1]),
                (vec![0, 1, 2, 2], vec![0, 0, 0, 1]),
            ] {
                let (a, b) = (e.g_legs(&idx, &outs), r.g_legs(&idx, &outs));
                assert!(
                    close(a, b, QUADRATURE_REL) || a.abs() + b.abs() < 1e-300,
                    "N={n} {idx:?} {outs:?} {a} {b}"
                );
                let (a, b) = (e.connected_legs(&idx, &outs), r.connected_legs(&idx, &outs));
                let scale = e.g_legs(&idx, &outs).abs().max(1e-300);
                assert!(
                    (a - b).abs() <= QUADRATURE_REL * scale,
                    "N={n} {idx:?} {outs:?} {a} {b}"
                );
            }
        }
    }

    #[test]
    fn deep_kurtosis_is_the_product_over_layers() {
        let cfg = Config::deep(Arch::Relu, 1, &[4, 10, 25], 1, 2f64.sqrt(), 0.0, &[vec![0.5]]).unwrap();
        let r = ReluExact::new(&cfg).unwrap();
        let ratio = r.g_legs(&[0; 4], &[0; 4]) / r.g_legs(&[0, 0], &[0, 0]).powi(2);
        assert!(close(ratio, 3.0 * 2.25 * 1.5 * 1.2, 1e-14), "{ratio}");
        // At criticality E[f^2] = sigma_W^2 x^2 / d at every depth.
        assert!(close(r.g_legs(&[0, 0], &[0, 0]), 2.0 * 0.25, 1e-14));
        // Off the ray, with a bias or another activation there is no such result.
        let two = [vec![0.5], vec![-0.5]];
        assert!(ReluExact::new(&Config::deep(Arch::Relu, 1, &[4], 1, 1.0, 0.0, &two).unwrap()).is_none());
        let one = [vec![0.5]];
        assert!(ReluExact::new(&Config::deep(Arch::Relu, 1, &[4], 1, 1.0, 0.1, &one).unwrap()).is_none());
        assert!(ReluExact::new(&Config::deep(Arch::Tanh, 1, &[4], 1, 1.0, 0.0, &one).unwrap()).is_none());
    }
}
