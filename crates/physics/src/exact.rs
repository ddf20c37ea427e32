//! Exact finite-N moments (PHYSICS.md 4): C_n = E[g(x_1)...g(x_n)], the cumulants kappa_4 and kappa_6,
//! and the exact Green functions built from them. These are the project's test oracles.
//!
//! f - b1 is a sum of N i.i.d. terms W1_i g_i, so
//! kappa_4 = (sigma_W^4/N) [3 C_4 - sum_3 C_2 C_2] and
//! kappa_6 = (sigma_W^6/N^2) [15 C_6 - 3 sum_15 C_4 C_2 + 2 sum_15 C_2 C_2 C_2] hold exactly at every N.

use crate::combos::Index;
use crate::combos::{pair_and_rest6, pairings};
use crate::kernel;
use crate::moments::{BagSums, Tree};
use crate::quad::{Rule, legendre};
use crate::{Arch, Config, Error};
use std::f64::consts::PI;

/// Half-width (in standard deviations) of the W0 and b0 integration ranges for Erf; the normal density beyond
/// is below 1e-18, far under double precision relative to the integrals here. Composite Gauss-Legendre is used
/// rather than Gauss-Hermite because erf grows like exp(y^2) off the real axis, where Gauss-Hermite converges
/// slowly.
const ERF_RANGE: f64 = 9.0;

/// Quadrature resolution for the Erf grid; `refine` doubles it (used to check convergence).
#[derive(Debug, Clone, Copy)]
pub struct Resolution {
    /// Gauss-Legendre panels over W0 in [-ERF_RANGE, ERF_RANGE].
    pub w_panels: usize,
    /// Gauss-Legendre nodes per panel (Erf).
    pub nodes: usize,
    /// Gauss-Legendre nodes per kink segment (ReLU); a segment can span pi, where cos(6t) needs ~30 nodes.
    pub seg_nodes: usize,
    /// Gauss-Legendre panels over b0 (Erf with sigma_b > 0).
    pub b_panels: usize,
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution {
            w_panels: 192,
            nodes: 10,
            seg_nodes: 40,
            b_panels: 32,
        }
    }
}

impl Resolution {
    pub fn refine(self) -> Self {
        Resolution {
            w_panels: self.w_panels * 2,
            nodes: self.nodes + 4,
            seg_nodes: self.seg_nodes * 2,
            b_panels: self.b_panels * 2,
        }
    }
}

/// Exact moments of one configuration: a table of C_n for every multiset of sizes 2, 4 and 6.
pub struct Exact {
    cfg: Config,
    index: Index,
    c: Vec<f64>,
    k: Vec<f64>,
}

impl std::fmt::Debug for Exact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exact").field("cfg", &self.cfg).finish()
    }
}

/// `true` when the configuration has the one-hidden-layer exact moments of [`Exact`] (any number of outputs).
pub fn supported(cfg: &Config) -> bool {
    cfg.depth() == 1 && (cfg.arch() == Arch::GaussNet || cfg.d() == 1)
}

/// Composite Gauss-Legendre nodes on [-ERF_RANGE, ERF_RANGE] with the standard normal density in the weights.
fn normal_panels(panels: usize, gl: &Rule) -> Vec<(f64, f64)> {
    let h = 2.0 * ERF_RANGE / panels as f64;
    let mut out = Vec::with_capacity(panels * gl.nodes.len());
    for k in 0..panels {
        let mid = -ERF_RANGE + (k as f64 + 0.5) * h;
        for (x, w) in gl.nodes.iter().zip(&gl.weights) {
            let t = mid + 0.5 * h * x;
            out.push((t, 0.5 * h * w * (-0.5 * t * t).exp() / (2.0 * PI).sqrt()));
        }
    }
    out
}

/// C_n for GaussNet: exp(sum_{a<b} c(x_a, x_b) - (1/2) sum_a s(x_a)) (log-normal algebra).
fn c_gauss(cfg: &Config, idx: &[usize]) -> f64 {
    let mut e = 0.0;
    for a in 0..idx.len() {
        e -= 0.5 * cfg.s(idx[a]);
        for b in a + 1..idx.len() {
            e += cfg.c(idx[a], idx[b]);
        }
    }
    e.exp()
}

/// C_n for ReLU at d = 1 by the polar form of PHYSICS.md 4, integrated piecewise between the kinks.
fn c_relu(rho: &[f64], phi: &[f64], rule: &Rule, idx: &[usize]) -> f64 {
    let n = idx.len();
    let rn = 2f64.powf(n as f64 / 2.0) * libm::tgamma(1.0 + n as f64 / 2.0);
    let scale: f64 = idx.iter().map(|&a| rho[a]).product();
    if scale == 0.0 {
        return 0.0;
    }
    let mut cuts = vec![0.0, 2.0 * PI];
    for &a in idx {
        for s in [-0.5 * PI, 0.5 * PI] {
            cuts.push((phi[a] + s).rem_euclid(2.0 * PI));
        }
    }
    cuts.sort_by(f64::total_cmp);
    let integrand = |t: f64| idx.iter().map(|&a| (t - phi[a]).cos().max(0.0)).product::<f64>();
    let mut total = 0.0;
    for seg in cuts.windows(2) {
        let (lo, hi) = (seg[0], seg[1]);
        let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
        // Between kinks the integrand is either zero throughout or smooth; the midpoint tells which.
        if half <= 0.0 || integrand(mid) == 0.0 {
            continue;
        }
        for (x, w) in rule.nodes.iter().zip(&rule.weights) {
            total += half * w * integrand(mid + half * x);
        }
    }
    rn * scale * total / (2.0 * PI)
}

impl Exact {
    /// Exact moments with the default quadrature resolution.
    pub fn new(cfg: &Config) -> Result<Self, Error> {
        Self::with_resolution(cfg, Resolution::default())
    }

    pub fn with_resolution(cfg: &Config, res: Resolution) -> Result<Self, Error> {
        if cfg.depth() > 1 {
            return Err(Error::Unsupported(format!(
                "exact finite-width moments for {} hidden layers: only one hidden layer has them (and ReLU \
                 without biases at inputs along one direction, crate::relu_exact)",
                cfg.depth()
            )));
        }
        if !supported(cfg) {
            return Err(Error::Unsupported(format!(
                "exact moments for {} at d = {} need a {}-dimensional integral; only d = 1 is implemented \
                 (GaussNet has a closed form for any d)",
                cfg.arch().name(),
                cfg.d(),
                cfg.d() + 1
            )));
        }
        let (sw, sb) = (cfg.sigma_w(), cfg.sigma_b());
        let p = cfg.n_points();
        let tree = Tree::new(p);
        let combos = tree.combos();
        let c = match cfg.arch() {
            Arch::GaussNet => combos
                .iter()
                .map(|(_, m)| c_gauss(cfg, &m.iter().map(|&a| a as usize).collect::<Vec<_>>()))
                .collect(),
            Arch::Relu => {
                let rho: Vec<f64> = (0..p)
                    .map(|a| (sw * sw * cfg.point(a)[0].powi(2) + sb * sb).sqrt())
                    .collect();
                let phi: Vec<f64> = (0..p).map(|a| sb.atan2(sw * cfg.point(a)[0])).collect();
                let rule = legendre(res.seg_nodes);
                combos
                    .iter()
                    .map(|(_, m)| {
                        c_relu(
                            &rho,
                            &phi,
                            &rule,
                            &m.iter().map(|&a| a as usize).collect::<Vec<_>>(),
                        )
                    })
                    .collect()
            }
            // Smooth activations: the 2-D Gaussian integral over (W0, b0) on a composite Gauss-Legendre grid.
            arch @ (Arch::Erf | Arch::Tanh | Arch::Linear | Arch::Gelu | Arch::Swish) => {
                let gl = legendre(res.nodes);
                let wn = normal_panels(res.w_panels, &gl);
                let bn = if sb == 0.0 {
                    vec![(0.0, 1.0)]
                } else {
                    normal_panels(res.b_panels, &gl)
                };
                let mut weights = Vec::with_capacity(wn.len() * bn.len());
                let mut g = vec![Vec::with_capacity(wn.len() * bn.len()); p];
                for &(w, ww) in &wn {
                    for &(b, wb) in &bn {
                        weights.push(ww * wb);
                        for (a, ga) in g.iter_mut().enumerate() {
                            ga.push(crate::activation::apply(arch, sw * cfg.point(a)[0] * w + sb * b));
                        }
                    }
                }
                let cols: Vec<&[f64]> = g.iter().map(|v| v.as_slice()).collect();
                let mut sums = BagSums::new(combos.len());
                tree.accumulate_weighted(&cols, Some(&weights), &mut sums);
                sums.sum
            }
        };
        let index = Index::new(&combos.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
        Ok(Exact {
            cfg: cfg.clone(),
            index,
            c,
            k: kernel::k_matrix(cfg),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Full kernel K(x_i, x_j) (analytic).
    pub fn k(&self, i: usize, j: usize) -> f64 {
        self.k[i * self.cfg.n_points() + j]
    }

    /// C_n(x_{idx_1}, ..., x_{idx_n}) = E[g ... g] for n in 2, 4, 6 (any order of indices).
    pub fn c(&self, idx: &[usize]) -> f64 {
        let key: Vec<u16> = idx.iter().map(|&a| a as u16).collect();
        let slot = self
            .index
            .get(&key)
            .unwrap_or_else(|| panic!("C_n of {idx:?}: only n = 2, 4, 6 are tabulated"));
        self.c[slot]
    }

    /// K between legs (point a, output o) and (point b, output o'): delta_(o o') K(x_a, x_b).
    fn k_leg(&self, a: usize, oa: usize, b: usize, ob: usize) -> f64 {
        if oa == ob { self.k(a, b) } else { 0.0 }
    }

    /// kappa_4 of the legs (x_(idx_a), output outs_a): with m_o legs on output o,
    /// (sigma_W^4/N) [prod_o (m_o - 1)!! C_4 - sum_3 delta delta C_2 C_2] (zero when some m_o is odd).
    pub fn kappa4_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        if outs.iter().all(|&o| o == outs[0]) {
            return self.kappa4(idx);
        }
        let sw2 = self.cfg.sigma_w().powi(2);
        let mut sum = 0.0;
        for p in pairings(4) {
            let [(a, b), (c, d)] = [p[0], p[1]];
            if outs[a] == outs[b] && outs[c] == outs[d] {
                sum += self.c(&[idx[a], idx[b]]) * self.c(&[idx[c], idx[d]]);
            }
        }
        sw2 * sw2 / self.cfg.width() as f64 * (output_moment(outs) * self.c(idx) - sum)
    }

    /// kappa_6 of the legs (see [`Exact::kappa4_legs`]): (sigma_W^6/N^2) [M C_6 - sum_15 M(rest) delta C_4 C_2 +
    /// 2 sum_15 delta delta delta C_2 C_2 C_2], M = prod_o (m_o - 1)!!.
    pub fn kappa6_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        if outs.iter().all(|&o| o == outs[0]) {
            return self.kappa6(idx);
        }
        let sw2 = self.cfg.sigma_w().powi(2);
        let c2 = |a: usize, b: usize| {
            if outs[a] == outs[b] {
                self.c(&[idx[a], idx[b]])
            } else {
                0.0
            }
        };
        let mut s42 = 0.0;
        for ((a, b), r) in pair_and_rest6() {
            let rest_outs = [outs[r[0]], outs[r[1]], outs[r[2]], outs[r[3]]];
            s42 +=
                output_moment(&rest_outs) * self.c(&[idx[r[0]], idx[r[1]], idx[r[2]], idx[r[3]]]) * c2(a, b);
        }
        let mut s222 = 0.0;
        for p in pairings(6) {
            s222 += p.iter().map(|&(a, b)| c2(a, b)).product::<f64>();
        }
        let n = self.cfg.width() as f64;
        sw2.powi(3) / (n * n) * (output_moment(outs) * self.c(idx) - s42 + 2.0 * s222)
    }

    /// Connected function of legs: delta K for n = 2, kappa_4, kappa_6.
    pub fn connected_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        match idx.len() {
            2 => self.k_leg(idx[0], outs[0], idx[1], outs[1]),
            4 => self.kappa4_legs(idx, outs),
            6 => self.kappa6_legs(idx, outs),
            n => panic!("connected function of order {n} is not implemented (n in 2, 4, 6)"),
        }
    }

    /// Free (Wick) function of legs with delta_(o o') K.
    pub fn g_free_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        wick(idx.len(), |a, b| self.k_leg(idx[a], outs[a], idx[b], outs[b]))
    }

    /// Deviation from the free theory of legs: 0, kappa_4, sum_15 kappa_4 delta K + kappa_6.
    pub fn delta_g_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        if outs.iter().all(|&o| o == outs[0]) {
            return self.delta_g(idx);
        }
        match idx.len() {
            2 => 0.0,
            4 => self.kappa4_legs(idx, outs),
            6 => {
                let mut s = 0.0;
                for ((a, b), r) in pair_and_rest6() {
                    let (ri, ro) = (r.map(|x| idx[x]), r.map(|x| outs[x]));
                    s += self.kappa4_legs(&ri, &ro) * self.k_leg(idx[a], outs[a], idx[b], outs[b]);
                }
                s + self.kappa6_legs(idx, outs)
            }
            n => panic!("deviation of order {n} is not implemented (n in 2, 4, 6)"),
        }
    }

    /// Exact full function of legs.
    pub fn g_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        self.g_free_legs(idx, outs) + self.delta_g_legs(idx, outs)
    }

    /// Connected four-point function kappa_4 = DeltaG^(4) (exactly 1/N).
    pub fn kappa4(&self, idx: &[usize]) -> f64 {
        let sw2 = self.cfg.sigma_w().powi(2);
        let c4 = self.c(idx);
        let mut sum = 0.0;
        for p in pairings(4) {
            sum += self.c(&[idx[p[0].0], idx[p[0].1]]) * self.c(&[idx[p[1].0], idx[p[1].1]]);
        }
        sw2 * sw2 / self.cfg.width() as f64 * (3.0 * c4 - sum)
    }

    /// Connected six-point function kappa_6 = G_c^(6) (exactly 1/N^2).
    pub fn kappa6(&self, idx: &[usize]) -> f64 {
        let sw2 = self.cfg.sigma_w().powi(2);
        let c2 = |a: usize, b: usize| self.c(&[idx[a], idx[b]]);
        let mut s42 = 0.0;
        for ((a, b), r) in pair_and_rest6() {
            s42 += self.c(&[idx[r[0]], idx[r[1]], idx[r[2]], idx[r[3]]]) * c2(a, b);
        }
        let mut s222 = 0.0;
        for p in pairings(6) {
            s222 += p.iter().map(|&(a, b)| c2(a, b)).product::<f64>();
        }
        let n = self.cfg.width() as f64;
        sw2.powi(3) / (n * n) * (15.0 * self.c(idx) - 3.0 * s42 + 2.0 * s222)
    }

    /// Free (Wick) n-point function with the full K, for n = 2, 4, 6.
    pub fn g_free(&self, idx: &[usize]) -> f64 {
        wick(idx.len(), |a, b| self.k(idx[a], idx[b]))
    }

    /// Exact connected function: K for n = 2, kappa_4, kappa_6.
    pub fn connected(&self, idx: &[usize]) -> f64 {
        match idx.len() {
            2 => self.k(idx[0], idx[1]),
            4 => self.kappa4(idx),
            6 => self.kappa6(idx),
            n => panic!("connected function of order {n} is not implemented (n in 2, 4, 6)"),
        }
    }

    /// Exact deviation from the free theory: 0, kappa_4, sum_15 kappa_4 K + kappa_6.
    pub fn delta_g(&self, idx: &[usize]) -> f64 {
        match idx.len() {
            2 => 0.0,
            4 => self.kappa4(idx),
            6 => {
                let mut s = 0.0;
                for ((a, b), r) in pair_and_rest6() {
                    s += self.kappa4(&[idx[r[0]], idx[r[1]], idx[r[2]], idx[r[3]]]) * self.k(idx[a], idx[b]);
                }
                s + self.kappa6(idx)
            }
            n => panic!("deviation of order {n} is not implemented (n in 2, 4, 6)"),
        }
    }

    /// Exact full n-point function G^(n) = G_0^(n) + DeltaG^(n).
    pub fn g(&self, idx: &[usize]) -> f64 {
        self.g_free(idx) + self.delta_g(idx)
    }
}

/// E[prod over legs of W1_(o_a)] / (sigma_W^2/N)^(n/2) = prod_o (m_o - 1)!! over the outputs o with m_o legs (0
/// when some m_o is odd): independent outputs share the hidden units but not their output weights.
pub fn output_moment(outs: &[usize]) -> f64 {
    let mut sorted = outs.to_vec();
    sorted.sort_unstable();
    let mut m = 1.0;
    for run in sorted.chunk_by(|a, b| a == b) {
        if run.len() % 2 == 1 {
            return 0.0;
        }
        m *= crate::activation::double_factorial(run.len() as i32 - 1);
    }
    m
}

/// Wick sum over the perfect pairings of n positions with two-point function `k(a, b)` (positions).
pub fn wick(n: usize, k: impl Fn(usize, usize) -> f64) -> f64 {
    match n {
        2 => k(0, 1),
        4 => k(0, 1) * k(2, 3) + k(0, 2) * k(1, 3) + k(0, 3) * k(1, 2),
        _ => pairings(n)
            .iter()
            .map(|p| p.iter().map(|&(a, b)| k(a, b)).product::<f64>())
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quad::hermite_normal;
    use crate::tol::{QUADRATURE_REL, close};

    fn cfg(arch: Arch, d: usize, sw: f64, sb: f64, pts: &[Vec<f64>]) -> Config {
        Config::new(arch, d, 7, sw, sb, pts).unwrap()
    }

    #[test]
    fn exact_two_point_moment_reproduces_analytic_kernel() {
        let pts = vec![vec![-1.0], vec![-0.3], vec![0.4], vec![1.2]];
        for arch in [Arch::GaussNet, Arch::Erf, Arch::Relu] {
            for (sw, sb) in [(1.0, 0.0), (1.3, 0.7), (2.5, 1.0)] {
                let c = cfg(arch, 1, sw, sb, &pts);
                let e = Exact::new(&c).unwrap();
                for i in 0..4 {
                    for j in 0..4 {
                        let lhs = sw * sw * e.c(&[i, j]);
                        let rhs = kernel::k_w(&c, i, j);
                        let floor = QUADRATURE_REL * (kernel::k_w(&c, i, i) * kernel::k_w(&c, j, j)).sqrt();
                        assert!(
                            close(lhs, rhs, QUADRATURE_REL) || (lhs - rhs).abs() <= floor,
                            "{arch:?} sw={sw} sb={sb} ({i},{j}) {lhs} {rhs}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gaussnet_closed_form_matches_quadrature() {
        // C_n for d = 1 by tensor Gauss-Hermite over (w, b): g = exp(sw x w + sb b - s(x)).
        let pts = vec![vec![-0.4], vec![0.1], vec![0.5]];
        let (sw, sb) = (1.2, 0.6);
        let c = cfg(Arch::GaussNet, 1, sw, sb, &pts);
        let e = Exact::new(&c).unwrap();
        let r = hermite_normal(60);
        for idx in [
            vec![0, 1],
            vec![0, 1, 2, 2],
            vec![0, 0, 1, 1, 2, 2],
            vec![2, 2, 2, 2, 2, 2],
        ] {
            let mut q = 0.0;
            for (w, ww) in r.nodes.iter().zip(&r.weights) {
                for (b, wb) in r.nodes.iter().zip(&r.weights) {
                    let prod: f64 = idx
                        .iter()
                        .map(|&a| (sw * pts[a][0] * w + sb * b - c.s(a)).exp())
                        .product();
                    q += ww * wb * prod;
                }
            }
            assert!(close(q, e.c(&idx), QUADRATURE_REL), "{idx:?} {q} {}", e.c(&idx));
        }
    }

    #[test]
    fn quadrature_is_converged_under_refinement() {
        let pts = vec![vec![-1.0], vec![-0.2], vec![0.6], vec![1.0]];
        for arch in [Arch::Erf, Arch::Relu] {
            for (sw, sb) in [(1.0, 0.0), (3.0, 1.0), (20.0, 0.5)] {
                let c = cfg(arch, 1, sw, sb, &pts);
                let a = Exact::new(&c).unwrap();
                let b = Exact::with_resolution(&c, Resolution::default().refine()).unwrap();
                for idx in [vec![0, 1, 2, 3], vec![0, 0, 1, 2, 3, 3], vec![1, 1, 1, 1, 1, 1]] {
                    assert!(
                        close(a.c(&idx), b.c(&idx), QUADRATURE_REL),
                        "{arch:?} sw={sw} {idx:?} {} {}",
                        a.c(&idx),
                        b.c(&idx)
                    );
                }
            }
        }
    }

    #[test]
    fn relu_without_bias_has_exact_m4_and_m6() {
        // sigma_b = 0, x > 0: f = x Z, m_4 = 5/N and m_6 = 15/N + 44/N^2 for every combination.
        let pts: Vec<Vec<f64>> = (1..=6).map(|i| vec![0.2 * i as f64]).collect();
        for n in [1u64, 2, 7, 100] {
            let c = Config::new(Arch::Relu, 1, n, 1.3, 0.0, &pts).unwrap();
            let e = Exact::new(&c).unwrap();
            let nf = n as f64;
            for idx in [vec![0, 1, 2, 3], vec![5, 5, 5, 5], vec![0, 0, 2, 4]] {
                let m4 = e.delta_g(&idx) / e.g_free(&idx);
                assert!(close(m4, 5.0 / nf, QUADRATURE_REL), "N={n} {m4}");
            }
            for idx in [vec![0, 1, 2, 3, 4, 5], vec![1, 1, 3, 3, 5, 5]] {
                let m6 = e.delta_g(&idx) / e.g_free(&idx);
                assert!(
                    close(m6, 15.0 / nf + 44.0 / (nf * nf), QUADRATURE_REL),
                    "N={n} {m6}"
                );
            }
        }
    }

    #[test]
    fn erf_and_relu_beyond_one_dimension_are_unsupported() {
        let c = cfg(Arch::Erf, 2, 1.0, 0.0, &[vec![0.1, 0.2]]);
        let err = Exact::new(&c).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)));
        assert!(err.to_string().contains("d = 2"));
        assert!(Exact::new(&cfg(Arch::GaussNet, 3, 1.0, 0.0, &[vec![0.1, 0.2, 0.3]])).is_ok());
    }

    #[test]
    fn wick_sums_on_hand_checkable_cases() {
        // All K = 1: G0^(4) = 3, G0^(6) = 15. Single point: G0^(4) = 3 K^2.
        assert_eq!(wick(4, |_, _| 1.0), 3.0);
        assert_eq!(wick(6, |_, _| 1.0), 15.0);
        assert_eq!(wick(4, |_, _| 2.0), 12.0);
        // Diagonal K (independent unit variables): <x0 x0 x1 x1> = 1, <x0 x1 x2 x3> = 0.
        let idx = [0usize, 0, 1, 1];
        assert_eq!(wick(4, |a, b| if idx[a] == idx[b] { 1.0 } else { 0.0 }), 1.0);
        let idx6 = [0usize, 0, 0, 0, 1, 1];
        // <x0^4 x1^2> = 3 for independent unit normals.
        assert_eq!(wick(6, |a, b| if idx6[a] == idx6[b] { 1.0 } else { 0.0 }), 3.0);
        assert_eq!(wick(6, |a, b| if a / 3 == b / 3 { 0.0 } else { 1.0 }), 6.0);
    }
}
