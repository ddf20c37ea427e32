//! The leading-order four-point vertex of deep networks at one input (PHYSICS.md 10; Roberts, Yaida and Hanin,
//! "The Principles of Deep Learning Theory", arXiv:2106.10165, ch. 4, eq. (4.90)-(4.93) in their notation).
//!
//! Derivation (single input x, widths n_l). The pre-activations of layer l+1 are, given layer l, i.i.d.
//! N(0, S^(l)) with S^(l) = sigma_b^2 + (sigma_W^2/n_l) sum_j g(z_j^(l))^2, so the output's connected four-point
//! function is exactly G_c^(4) = 3 Var(S^(L)) (law of total cumulance). To leading order in 1/n, write
//! S^(l-1) = K^(l) + delta with Var(delta) = v^(l); given S^(l-1) the n_l terms g(z_j)^2 are i.i.d., so
//!
//!   Var(S^(l)) = (sigma_W^4/n_l) (<g^4>_K - <g^2>_K^2) + (sigma_W^2 d<g^2>_K/dK)^2 v^(l) + O(1/n^2),
//!   K = K^(l),  K^(l+1) = sigma_b^2 + sigma_W^2 <g^2>_(K^(l)),  v^(1) = 0,
//!
//! the first term the units' own fluctuation, the second the common fluctuation of the previous layer's S
//! propagated through the kernel map. For equal widths n, n v^(l) = V^(l) of PHYSICS.md 10 and
//! n G_c^(4) -> 3 V^(L+1) with an O(1/n) remainder. ReLU without bias: V/K^2 grows by 5 per layer, the first
//! order of the exact 3 prod_l (1 + 5/n_l) of [`crate::relu_exact`]. For one hidden layer the formula is exact.
//!
//! Several inputs ([`multi_input`]): the same argument with the P x P matrix S. Given layer l-1, the n_l units
//! are i.i.d. with z_j ~ N(0, S^(l-1)), so with pairs (pq), (rs) and K = K^(l),
//!
//!   Cov(S^(l)_pq, S^(l)_rs) = (sigma_W^4/n_l) (<g_p g_q g_r g_s>_K - <g_p g_q>_K <g_r g_s>_K)
//!                            + sum_(ab),(cd) chi_(pq),(ab) chi_(rs),(cd) Cov(S^(l-1)_ab, S^(l-1)_cd) + O(1/n^2),
//!   chi_(pq),(ab) = d K^(l+1)_pq / d K^(l)_ab = sigma_W^2 d<g_p g_q>_K / dK_ab   (pairs a <= b),
//!
//! where K^(l+1)_pq = sigma_b^2 + sigma_W^2 <g_p g_q>_K depends on K_pp, K_pq and K_qq only, and
//! G_c^(4)(x_p, x_q, x_r, x_s) = Cov(S_pq, S_rs) + Cov(S_pr, S_qs) + Cov(S_ps, S_qr) exactly at S = S^(L). The
//! four-point averages are Gaussian integrals over the distinct points among p, q, r, s (up to four dimensions:
//! a tensor rule on a pivoted Cholesky factor, converged by doubling); chi_(pq),(pp) etc. are central differences
//! of the pair expectation (closed forms for ReLU, Erf, linear; quadrature otherwise), chi_(pp),(pp) is
//! sigma_W^2 d<g^2>/dK. The differences need each pair of distinct points to have a non-degenerate 2 x 2 kernel
//! (|correlation| < 1 - [`DEGENERATE_MARGIN`]) at every layer; on one ray without bias (ReLU: exactly collinear)
//! use [`single_input`] per point.

use crate::activation::{self, normal_rule};
use crate::{Arch, Config, Error};

/// The single-input kernel and vertex through the layers.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleInput {
    /// K^(1) .. K^(L+1): the infinite-width variance of each layer's pre-activations (the last: the output's).
    pub k: Vec<f64>,
    /// v^(1) .. v^(L+1): the leading-order variance of S^(l-1), with the 1/n_l factors included.
    pub v: Vec<f64>,
}

impl SingleInput {
    /// Leading-order G_c^(4)(x, x, x, x) = 3 v^(L+1).
    pub fn g_c4(&self) -> f64 {
        3.0 * self.v.last().expect("layers")
    }

    /// The normalised vertex v^(L+1) / K^(L+1)^2 (its growth with depth is the signature of criticality).
    pub fn normalised(&self) -> f64 {
        self.v.last().expect("layers") / self.k.last().expect("layers").powi(2)
    }
}

/// The recursion at the configuration's point `point` (its widths, activation and variances).
pub fn single_input(cfg: &Config, point: usize) -> Result<SingleInput, Error> {
    let (sw2, sb2) = (cfg.sigma_w() * cfg.sigma_w(), cfg.sigma_b() * cfg.sigma_b());
    let arch = cfg.arch();
    let mut k = vec![cfg.s(point)];
    let mut v = vec![0.0];
    for &n in cfg.widths() {
        let kl = *k.last().expect("layers");
        let vl = *v.last().expect("layers");
        let g2 = activation::moment(arch, kl, 2)?;
        let g4 = activation::moment(arch, kl, 4)?;
        let chi = sw2 * activation::moment_dk(arch, kl, 2)?;
        let own = sw2 * sw2 * (g4 - g2 * g2) / n as f64;
        // v^(1) = 0 exactly, so the first layer's chi (undefined for GaussNet's s-dependent g) never counts.
        let propagated = if vl == 0.0 { 0.0 } else { chi * chi * vl };
        k.push(sb2 + sw2 * g2);
        v.push(own + propagated);
    }
    Ok(SingleInput { k, v })
}

/// Relative step of the central differences of the pair expectation in the kernel entries (times
/// sqrt(K_pp K_qq)): truncation ~1e-6 relative, and the quadrature's 1e-9 noise over the step stays ~1e-6.
pub const FD_STEP: f64 = 1e-3;
/// Distinct points whose kernel correlation exceeds 1 - DEGENERATE_MARGIN at some layer are refused by
/// [`multi_input`] (the differences would leave the positive semi-definite cone).
pub const DEGENERATE_MARGIN: f64 = 1e-2;
/// Convergence of the four-point Gaussian integrals (relative to E|integrand|): the vertex is a leading-order
/// quantity compared with Monte Carlo at the percent level (measured: Erf at three points changes by 5e-7
/// relative from 64 to 128 nodes per dimension).
pub const VERTEX_QUAD_REL: f64 = 1e-6;
/// Gauss-Legendre nodes per smooth piece of the ReLU angle integral (a trigonometric polynomial of degree <= 4
/// between kinks: exact to rounding).
const ANGLE_NODES: usize = 24;
/// Pivots of the covariance factor below this fraction of the largest diagonal entry end the factor (rank).
const RANK_REL: f64 = 1e-12;
/// Largest panel count of the tensor rule per dimension (8 nodes each) for 1, 2, 3, 4 dimensions.
const PANELS_MAX: [usize; 4] = [128, 64, 16, 8];

/// The leading-order covariance of the entries of the output's conditional covariance S^(L) at P inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiInput {
    p: usize,
    /// K^(L+1): the infinite-width output kernel, P x P row-major.
    pub k: Vec<f64>,
    /// Cov(S^(L)_(pq), S^(L)_(rs)) to leading order (1/n factors included), M x M over the pairs p <= q in the
    /// order of [`pairs`].
    pub v: Vec<f64>,
    /// The last hidden layer's own-unit term alone (without what the earlier layers propagate), M x M.
    pub own: Vec<f64>,
}

/// The pairs (p, q), p <= q, of P points: (0, 0), (0, 1), ..., (0, P-1), (1, 1), ...
pub fn pairs(p: usize) -> Vec<(usize, usize)> {
    (0..p).flat_map(|a| (a..p).map(move |b| (a, b))).collect()
}

fn pair_index(p: usize, a: usize, b: usize) -> usize {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    // Pairs before row a: P + (P-1) + ... + (P-a+1).
    a * p - a * (a.saturating_sub(1)) / 2 + (b - a)
}

impl MultiInput {
    /// Cov(S_ab, S_cd) to leading order.
    pub fn cov(&self, a: usize, b: usize, c: usize, d: usize) -> f64 {
        let m = self.p * (self.p + 1) / 2;
        self.v[pair_index(self.p, a, b) * m + pair_index(self.p, c, d)]
    }

    /// Leading-order G_c^(4)(x_a, x_b, x_c, x_d) = sum over the 3 pairings of Cov(S, S).
    pub fn g_c4(&self, i: [usize; 4]) -> f64 {
        let [a, b, c, d] = i;
        self.cov(a, b, c, d) + self.cov(a, c, b, d) + self.cov(a, d, b, c)
    }
}

/// The multi-input recursion over every point of the configuration (see the module doc).
pub fn multi_input(cfg: &Config) -> Result<MultiInput, Error> {
    let (sw2, sb2) = (cfg.sigma_w() * cfg.sigma_w(), cfg.sigma_b() * cfg.sigma_b());
    let arch = cfg.arch();
    let p = cfg.n_points();
    let prs = pairs(p);
    let m = prs.len();
    let mut k: Vec<f64> = (0..p * p).map(|i| cfg.c(i / p, i % p)).collect();
    let mut v = vec![0.0; m * m];
    let mut own = vec![0.0; m * m];
    for (layer, &n) in cfg.widths().iter().enumerate() {
        // <g_a g_b>_K for every pair, and the Jacobian of K^(l+1) in K^(l) (only where something propagates).
        let pair = |a: usize, b: usize, kk: &[f64]| {
            activation::pair_expectation(arch, kk[a * p + a], kk[a * p + b], kk[b * p + b])
        };
        let e2: Vec<f64> = prs
            .iter()
            .map(|&(a, b)| pair(a, b, &k))
            .collect::<Result<_, _>>()?;
        let mut next_v = vec![0.0; m * m];
        if layer > 0 {
            let chi = jacobian(arch, sw2, &k, p, &prs, layer)?;
            // next_v = chi v chi^T.
            let mut t = vec![0.0; m * m];
            for i in 0..m {
                for j in 0..m {
                    t[i * m + j] = (0..m).map(|l| chi[i * m + l] * v[l * m + j]).sum();
                }
            }
            for i in 0..m {
                for j in 0..m {
                    next_v[i * m + j] = (0..m).map(|l| t[i * m + l] * chi[j * m + l]).sum();
                }
            }
        }
        for i in 0..m {
            for j in i..m {
                let (a, b) = prs[i];
                let (c, d) = prs[j];
                let e4 = gauss_product(arch, &k, p, &[a, b, c, d])?;
                let o = sw2 * sw2 * (e4 - e2[i] * e2[j]) / n as f64;
                own[i * m + j] = o;
                own[j * m + i] = o;
                next_v[i * m + j] += o;
                if j != i {
                    next_v[j * m + i] += o;
                }
            }
        }
        v = next_v;
        let mut next_k = vec![0.0; p * p];
        for (i, &(a, b)) in prs.iter().enumerate() {
            next_k[a * p + b] = sb2 + sw2 * e2[i];
            next_k[b * p + a] = next_k[a * p + b];
        }
        k = next_k;
    }
    Ok(MultiInput { p, k, v, own })
}

/// chi_(pq),(ab) = sigma_W^2 d<g_p g_q>_K / dK_ab (M x M, pairs of [`pairs`]).
fn jacobian(
    arch: Arch,
    sw2: f64,
    k: &[f64],
    p: usize,
    prs: &[(usize, usize)],
    layer: usize,
) -> Result<Vec<f64>, Error> {
    let m = prs.len();
    let mut chi = vec![0.0; m * m];
    for (i, &(a, b)) in prs.iter().enumerate() {
        let (kaa, kab, kbb) = (k[a * p + a], k[a * p + b], k[b * p + b]);
        if a == b {
            chi[i * m + i] = sw2 * activation::moment_dk(arch, kaa, 2)?;
            continue;
        }
        let scale = (kaa * kbb).sqrt();
        if scale.is_nan() || scale <= 0.0 || kab.abs() / scale > 1.0 - DEGENERATE_MARGIN {
            return Err(Error::Unsupported(format!(
                "the multi-input vertex needs non-degenerate kernels: points {a} and {b} have correlation {} at layer {}, above 1 - {DEGENERATE_MARGIN}; use vertex::single_input per point",
                kab / scale,
                layer + 1
            )));
        }
        let h = FD_STEP * scale;
        let f = |x: f64, y: f64, z: f64| activation::pair_expectation(arch, x, y, z);
        let d_aa = (f(kaa + h, kab, kbb)? - f(kaa - h, kab, kbb)?) / (2.0 * h);
        let d_ab = (f(kaa, kab + h, kbb)? - f(kaa, kab - h, kbb)?) / (2.0 * h);
        let d_bb = (f(kaa, kab, kbb + h)? - f(kaa, kab, kbb - h)?) / (2.0 * h);
        chi[i * m + pair_index(p, a, a)] = sw2 * d_aa;
        chi[i * m + pair_index(p, a, b)] = sw2 * d_ab;
        chi[i * m + pair_index(p, b, b)] = sw2 * d_bb;
    }
    Ok(chi)
}

/// E[prod_i g(u_(idx_i))] for u ~ N(0, K) (K P x P), GaussNet with its per-point normalisation exp(-K_aa):
/// a tensor rule over a pivoted Cholesky factor of the distinct points' covariance, doubled until converged;
/// ReLU (whose kinks the tensor rule does not resolve) by the angle integral of [`relu_angle`].
fn gauss_product(arch: Arch, k: &[f64], p: usize, idx: &[usize]) -> Result<f64, Error> {
    let mut pts: Vec<usize> = idx.to_vec();
    pts.sort_unstable();
    pts.dedup();
    let r = pts.len();
    let mult: Vec<i32> = pts
        .iter()
        .map(|a| idx.iter().filter(|b| *b == a).count() as i32)
        .collect();
    if r == 1 {
        return activation::moment(arch, k[pts[0] * p + pts[0]], mult[0]);
    }
    // Pivoted Cholesky of the r x r block: u = F z, F r x rank.
    let c: Vec<f64> = (0..r * r).map(|i| k[pts[i / r] * p + pts[i % r]]).collect();
    let mut f = vec![0.0; r * r];
    let mut diag: Vec<f64> = (0..r).map(|i| c[i * r + i]).collect();
    let mut used = vec![false; r];
    let top = diag.iter().copied().fold(0.0, f64::max);
    let mut rank = 0;
    while rank < r {
        let (piv, dv) = (0..r).filter(|&i| !used[i]).map(|i| (i, diag[i])).fold(
            (usize::MAX, f64::NEG_INFINITY),
            |acc, x| if x.1 > acc.1 { x } else { acc },
        );
        if piv == usize::MAX || dv <= RANK_REL * top {
            break;
        }
        used[piv] = true;
        let root = dv.sqrt();
        for i in 0..r {
            let dot: f64 = (0..rank).map(|j| f[i * r + j] * f[piv * r + j]).sum();
            f[i * r + rank] = if i == piv {
                root
            } else if used[i] {
                0.0
            } else {
                (c[i * r + piv] - dot) / root
            };
        }
        for i in 0..r {
            if !used[i] {
                diag[i] -= f[i * r + rank] * f[i * r + rank];
            }
        }
        rank += 1;
    }
    if arch == Arch::Relu {
        return relu_angle(&f, r, rank, &mult);
    }
    let norm = if arch == Arch::GaussNet {
        (-(0..r).map(|i| mult[i] as f64 * c[i * r + i]).sum::<f64>()).exp()
    } else {
        1.0
    };
    let estimate = |panels: usize| -> (f64, f64) {
        let rule = normal_rule(panels);
        let nn = rule.nodes.len();
        let (mut total, mut abs) = (0.0, 0.0);
        let mut ix = vec![0usize; rank];
        loop {
            let mut w = 1.0;
            for &j in &ix {
                w *= rule.weights[j];
            }
            let mut val = 1.0;
            for a in 0..r {
                let u: f64 = (0..rank).map(|j| f[a * r + j] * rule.nodes[ix[j]]).sum();
                val *= activation::apply(arch, u).powi(mult[a]);
            }
            total += w * val;
            abs += w * val.abs();
            // Next multi-index.
            let mut d = 0;
            while d < rank {
                ix[d] += 1;
                if ix[d] < nn {
                    break;
                }
                ix[d] = 0;
                d += 1;
            }
            if d == rank {
                break;
            }
        }
        (total * norm, abs * norm)
    };
    let max = PANELS_MAX[rank - 1];
    let mut panels = 2;
    let (mut prev, _) = estimate(panels);
    while panels < max {
        panels *= 2;
        let (next, scale) = estimate(panels);
        if (next - prev).abs() <= VERTEX_QUAD_REL * scale.max(f64::MIN_POSITIVE) {
            return Ok(next);
        }
        prev = next;
    }
    Err(Error::Unsupported(format!(
        "the {rank}-dimensional Gaussian integral of the four-point vertex did not converge to {VERTEX_QUAD_REL:e} with {} nodes per dimension",
        max * 8
    )))
}

/// ReLU: E[prod_a relu(u_a)^(m_a)] with u = F z, z standard normal of dimension `rank` <= 2. In polar
/// coordinates z = r (cos t, sin t), u_a = rho_a r cos(t - phi_a), so the expectation is
/// E[r^M] prod_a rho_a^(m_a) (1/2pi) int prod_a max(cos(t - phi_a), 0)^(m_a) dt, E[r^M] = 2^(M/2) Gamma(1 + M/2),
/// M = sum m_a; the angle integral is smooth between the kinks phi_a +- pi/2 and integrated piecewise (PHYSICS.md
/// 4 does the same for one hidden layer). A factor of rank 3 or 4 (three or more points with a full-rank kernel)
/// is refused.
fn relu_angle(f: &[f64], r: usize, rank: usize, mult: &[i32]) -> Result<f64, Error> {
    use std::f64::consts::{FRAC_PI_2, PI};
    if rank > 2 {
        return Err(Error::Unsupported(format!(
            "the ReLU four-point vertex needs Gaussian integrals over {rank} dimensions (three or more distinct points with a full-rank kernel); it is computed for at most two distinct points per four-point function (e.g. two inputs at any depth)"
        )));
    }
    let coef = |a: usize, j: usize| if j < rank { f[a * r + j] } else { 0.0 };
    let rho: Vec<f64> = (0..r).map(|a| coef(a, 0).hypot(coef(a, 1))).collect();
    if rho.contains(&0.0) {
        return Ok(0.0);
    }
    let phi: Vec<f64> = (0..r).map(|a| coef(a, 1).atan2(coef(a, 0))).collect();
    let mut cuts: Vec<f64> = vec![0.0, 2.0 * PI];
    for &p in &phi {
        for c in [p - FRAC_PI_2, p + FRAC_PI_2] {
            cuts.push(c.rem_euclid(2.0 * PI));
        }
    }
    cuts.sort_by(f64::total_cmp);
    let gl = crate::quad::legendre(ANGLE_NODES);
    let mut integral = 0.0;
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        if hi - lo <= 0.0 {
            continue;
        }
        integral += crate::quad::integrate(
            |t| {
                (0..r)
                    .map(|a| (t - phi[a]).cos().max(0.0).powi(mult[a]))
                    .product::<f64>()
            },
            lo,
            hi,
            &gl,
            1,
        );
    }
    let m_tot: i32 = mult.iter().sum();
    let radial = 2f64.powf(m_tot as f64 / 2.0) * libm::tgamma(1.0 + m_tot as f64 / 2.0);
    let scale: f64 = (0..r).map(|a| rho[a].powi(mult[a])).product();
    Ok(radial * scale * integral / (2.0 * PI))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arch;
    use crate::exact::Exact;
    use crate::relu_exact::ReluExact;
    use crate::tol::close;

    #[test]
    fn one_layer_vertex_is_the_exact_kappa_4() {
        for arch in [Arch::Erf, Arch::Tanh, Arch::Relu, Arch::Gelu, Arch::GaussNet] {
            let cfg = Config::new(arch, 1, 7, 1.3, 0.4, &[vec![0.8]]).unwrap();
            let e = Exact::new(&cfg).unwrap().kappa4(&[0, 0, 0, 0]);
            let v = single_input(&cfg, 0).unwrap();
            assert!(close(v.g_c4(), e, 1e-8), "{arch:?}: {} vs {e}", v.g_c4());
            assert!(close(v.k[1], crate::kernel::k(&cfg, 0, 0), 1e-8));
        }
    }

    #[test]
    fn deep_relu_vertex_is_the_first_order_of_the_exact_product() {
        // n G_c^(4) / 3 -> V^(L+1); the exact finite-n value differs at relative O(L/n).
        for depth in 1..=4 {
            for n in [100u64, 10_000] {
                let cfg =
                    Config::deep(Arch::Relu, 1, &vec![n; depth], 1, 2f64.sqrt(), 0.0, &[vec![0.9]]).unwrap();
                let v = single_input(&cfg, 0).unwrap();
                let k = v.k.last().copied().unwrap();
                // V/K^2 grows by 5 per layer: n v / K^2 = 5 L.
                assert!(
                    close(n as f64 * v.normalised(), 5.0 * depth as f64, 1e-12),
                    "L={depth}"
                );
                let r = ReluExact::new(&cfg).unwrap();
                let exact = r.connected_legs(&[0; 4], &[0; 4]);
                let rel = (exact - v.g_c4()).abs() / exact;
                // The remainder: 3 K^2 [prod (1 + 5/n) - 1 - 5L/n] ~ 3 K^2 (25 L(L-1)/2) / n^2 relative to 15 L K^2 / n.
                let expect = 25.0 * (depth * (depth - 1)) as f64 / 2.0 / (5.0 * depth as f64) / n as f64;
                assert!(rel <= 1.01 * expect + 1e-12, "L={depth} n={n}: {rel} vs {expect}");
                assert!(close(k, 2.0 * 0.81, 1e-12));
            }
        }
    }

    #[test]
    fn tanh_at_criticality_grows_by_two_thirds_per_layer() {
        // Roberts-Yaida-Hanin ch. 5: in the K* = 0 universality class (tanh, sigma_b = 0, sigma_W = 1) the
        // normalised vertex V / K^2 grows like (2/3) L at large depth (ReLU: exactly 5 per layer, above).
        let normalised = |depth: usize| {
            let cfg = Config::deep(Arch::Tanh, 1, &vec![1000; depth], 1, 1.0, 0.0, &[vec![1.0]]).unwrap();
            1000.0 * single_input(&cfg, 0).unwrap().normalised()
        };
        let slope = (normalised(200) - normalised(100)) / 100.0;
        assert!((slope - 2.0 / 3.0).abs() < 0.02 * 2.0 / 3.0, "{slope}");
        // A deep linear network (sigma_b = 0): each layer adds exactly 2/n (own term 2 K^2/n, propagated term
        // carried over unchanged), whatever sigma_W.
        for depth in [1usize, 3, 7] {
            let cfg = Config::deep(Arch::Linear, 1, &vec![50; depth], 1, 1.3, 0.0, &[vec![0.7]]).unwrap();
            let v = single_input(&cfg, 0).unwrap();
            assert!(
                close(50.0 * v.normalised(), 2.0 * depth as f64, 1e-13),
                "L={depth}"
            );
        }
    }
}
