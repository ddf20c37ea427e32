//! Networks of any depth and output dimension (PHYSICS.md 10), sampled layer by layer in the
//! conditional-Gaussian form.
//!
//! Given layer l's activations at the P points, the pre-activations of every neuron of layer l+1 are i.i.d.
//! N(0, S^(l)), S^(l)(p, q) = sigma_b^2 + (sigma_W^2 / n_l) sum_i g(z_i(x_p)) g(z_i(x_q)), and the outputs are
//! i.i.d. N(0, S^(L)). So a network costs n_(l+1) * r normals per layer (r <= P the numerical rank of S) instead
//! of n_(l+1) * n_l weights, and the first layer's pre-activations come from the fixed covariance
//! sigma_b^2 + sigma_W^2 x.y / d (rank <= d + 1). S is factored by a pivoted Cholesky decomposition that stops
//! at the numerical rank ([`pivoted_cholesky`]), so it stays correct for the singular matrices that close
//! points produce (the ELS points give condition numbers beyond 1e16).
//!
//! Determinism: each (configuration, seed, bag, block) has its own stream ([`crate::sampler::stream_seed`]),
//! the draws of a network come in a fixed order (layer by layer, neuron-major within a layer), and every sum
//! runs in a fixed order with plain IEEE arithmetic, so the bytes do not depend on threads or vector level.
//!
//! [`direct_block`] draws the same ensemble with every weight materialised: the reference for tests (same
//! distribution, independent code) and for the benchmark.

use crate::normal::Ziggurat;
use crate::sampler::{config_id, cov_len, cov_pairs, stream_seed};
use crate::{Arch, Config, activation};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Pivots below this fraction of the largest diagonal entry of S end the factorisation: the remaining Schur
/// complement (whose entries are bounded by its diagonal) is dropped. Its effect on the covariance is below
/// 1e-12 relative, far under any statistical resolution, and it keeps round-off from being amplified by
/// divisions by tiny pivots.
pub const PSD_REL: f64 = 1e-12;

/// Factors a symmetric positive semi-definite p x p matrix `s` (row-major) as F F^T with F of size p x r
/// (row-major, `f[i * p + k]`, k < r; stride p), by Cholesky with complete (diagonal) pivoting stopped at the
/// numerical rank r: the first pivot below [`PSD_REL`] times the largest diagonal ends it. Negative diagonals
/// from round-off count as zero. Returns r (0 for a zero matrix).
pub fn pivoted_cholesky(s: &[f64], p: usize, f: &mut [f64], diag: &mut [f64], done: &mut [bool]) -> usize {
    debug_assert!(s.len() >= p * p && f.len() >= p * p && diag.len() >= p && done.len() >= p);
    let mut max0 = 0.0f64;
    for i in 0..p {
        diag[i] = s[i * p + i];
        max0 = max0.max(diag[i]);
        done[i] = false;
    }
    if !(0..p).all(|i| diag[i].is_finite()) {
        // An overflowed layer (e.g. sigma_W = 1e160): a NaN factor, so that the outputs are NaN and the sample
        // stage reports the network, instead of a rank-0 factor that would silently give zeros.
        for i in 0..p {
            f[i * p] = f64::NAN;
        }
        return 1;
    }
    let floor = PSD_REL * max0;
    let mut r = 0;
    while r < p {
        // Largest remaining diagonal (first index on ties, so the choice is deterministic).
        let mut j = usize::MAX;
        let mut best = floor;
        for i in 0..p {
            if !done[i] && diag[i] > best {
                best = diag[i];
                j = i;
            }
        }
        if j == usize::MAX {
            break;
        }
        let piv = best.sqrt();
        done[j] = true;
        for i in 0..p {
            let v = if i == j {
                piv
            } else if done[i] {
                0.0
            } else {
                let mut a = s[i * p + j];
                for k in 0..r {
                    a -= f[i * p + k] * f[j * p + k];
                }
                a / piv
            };
            f[i * p + r] = v;
            if !done[i] {
                diag[i] -= v * v;
            }
        }
        r += 1;
    }
    r
}

/// Reusable buffers of one worker of the layered sampler.
#[derive(Debug, Default)]
pub struct LayeredScratch {
    /// Activations of the current layer, point-major (P rows of n_l).
    act: Vec<f64>,
    /// Normals of the next layer, rank-major (r rows of n_(l+1)).
    xi: Vec<f64>,
    s: Vec<f64>,
    f: Vec<f64>,
    diag: Vec<f64>,
    done: Vec<bool>,
}

impl LayeredScratch {
    /// S = sigma_b^2 + (sigma_W^2 / n_prev) sum_i g g^T of the current activations (P rows of `n_prev`) into
    /// `s`, and its pivoted Cholesky factor into `f`; returns the rank.
    fn factor_next(&mut self, p: usize, n_prev: usize, sb2: f64, sw2: f64) -> usize {
        gram(
            &self.act[..p * n_prev],
            p,
            n_prev,
            sb2,
            sw2 / n_prev as f64,
            &mut self.s,
        );
        pivoted_cholesky(&self.s, p, &mut self.f, &mut self.diag, &mut self.done)
    }
}

/// The layer-by-layer sampler of one configuration.
#[derive(Debug, Clone)]
pub struct Layered {
    cfg: Config,
    id: [u8; 32],
    /// Factor of the first layer's pre-activation covariance (P x P storage, `r1` columns used).
    f1: Vec<f64>,
    r1: usize,
    /// s(x_p) of every point (GaussNet's normalisation).
    s: Vec<f64>,
    normal: Ziggurat,
}

/// Draws `rows * cols` normals into `out` (row-major) from the generator, on a local copy so that its state
/// stays in registers (see `Ziggurat::sample`).
#[inline(never)]
fn draw_normals(z: &Ziggurat, rng_out: &mut Xoshiro256PlusPlus, out: &mut [f64]) {
    let mut rng = rng_out.clone();
    for x in out.iter_mut() {
        *x = z.sample(&mut rng);
    }
    *rng_out = rng;
}

crate::multiversion! {
    /// out[p][i] = sum_k f[p][k] xi[k][i] for p < P, i < n: each element's sum in the order of k with plain IEEE
    /// multiplies and adds, so every vector level gives the same bits.
    fn mix / mix_at(f: &[f64], p: usize, r: usize, xi: &[f64], n: usize, out: &mut [f64]) => mix_body
}

crate::multiversion! {
    /// S(p, q) = sb2 + scale * sum_i a[p][i] a[q][i], four interleaved partial sums per entry in a fixed order.
    pub(crate) fn gram / gram_at(act: &[f64], p: usize, n: usize, sb2: f64, scale: f64, s: &mut [f64]) => gram_body
}

#[inline(always)]
fn mix_body(f: &[f64], p: usize, r: usize, xi: &[f64], n: usize, out: &mut [f64]) {
    if r == 0 {
        out[..p * n].fill(0.0);
        return;
    }
    // Eight neurons at a time: each output chunk stays in registers while the r normals' chunks stream in. Up to
    // eight points, all P chunks at once (k outside): their add chains are independent and overlap (one point at
    // a time waits on the add latency at every k). Either way each element adds its r terms in the order of k.
    const W: usize = 8;
    const P_REG: usize = 8;
    let full = n / W * W;
    if p <= P_REG {
        for c in (0..full).step_by(W) {
            let mut o = [[0.0f64; W]; P_REG];
            let x0 = &xi[c..c + W];
            for q in 0..p {
                for l in 0..W {
                    o[q][l] = f[q * p] * x0[l];
                }
            }
            for k in 1..r {
                let xk = &xi[k * n + c..k * n + c + W];
                for q in 0..p {
                    let fk = f[q * p + k];
                    for l in 0..W {
                        o[q][l] += fk * xk[l];
                    }
                }
            }
            for q in 0..p {
                out[q * n + c..q * n + c + W].copy_from_slice(&o[q]);
            }
        }
    }
    for c in (0..if p <= P_REG { 0 } else { full }).step_by(W) {
        for q in 0..p {
            let fq = &f[q * p..q * p + r];
            let mut o = [0.0f64; W];
            let x0 = &xi[c..c + W];
            for l in 0..W {
                o[l] = fq[0] * x0[l];
            }
            for k in 1..r {
                let xk = &xi[k * n + c..k * n + c + W];
                for l in 0..W {
                    o[l] += fq[k] * xk[l];
                }
            }
            out[q * n + c..q * n + c + W].copy_from_slice(&o);
        }
    }
    for i in full..n {
        for q in 0..p {
            let fq = &f[q * p..q * p + r];
            let mut o = fq[0] * xi[i];
            for k in 1..r {
                o += fq[k] * xi[k * n + i];
            }
            out[q * n + i] = o;
        }
    }
}

/// sum_i x_i y_(j,i) for three rows y_j at once, in four lanes (lane l takes the neurons i = l mod 4, in order):
/// the three accumulator chains are independent, so their adds overlap instead of waiting on one chain's
/// latency, and each sum is the same bits as [`dot`]'s.
#[inline(always)]
fn dots3(x: &[f64], y0: &[f64], y1: &[f64], y2: &[f64]) -> [[f64; 4]; 3] {
    let mut acc = [[0.0f64; 4]; 3];
    let it = x
        .chunks_exact(4)
        .zip(y0.chunks_exact(4))
        .zip(y1.chunks_exact(4))
        .zip(y2.chunks_exact(4));
    for (((cx, c0), c1), c2) in it {
        for l in 0..4 {
            acc[0][l] += cx[l] * c0[l];
            acc[1][l] += cx[l] * c1[l];
            acc[2][l] += cx[l] * c2[l];
        }
    }
    let full = x.len() / 4 * 4;
    for i in full..x.len() {
        acc[0][i - full] += x[i] * y0[i];
        acc[1][i - full] += x[i] * y1[i];
        acc[2][i - full] += x[i] * y2[i];
    }
    acc
}

/// sum_i x_i y_i in four lanes (lane l takes the neurons i = l mod 4, in order).
#[inline(always)]
fn dot(x: &[f64], y: &[f64]) -> [f64; 4] {
    let mut acc = [0.0f64; 4];
    for (cx, cy) in x.chunks_exact(4).zip(y.chunks_exact(4)) {
        for l in 0..4 {
            acc[l] += cx[l] * cy[l];
        }
    }
    let full = x.len() / 4 * 4;
    for i in full..x.len() {
        acc[i - full] += x[i] * y[i];
    }
    acc
}

#[inline(always)]
fn gram_body(act: &[f64], p: usize, n: usize, sb2: f64, scale: f64, s: &mut [f64]) {
    let row = |a: usize| &act[a * n..(a + 1) * n];
    let mut put = |a: usize, b: usize, acc: [f64; 4]| {
        let v = sb2 + scale * ((acc[0] + acc[1]) + (acc[2] + acc[3]));
        s[a * p + b] = v;
        s[b * p + a] = v;
    };
    for a in 0..p {
        let mut b = a;
        while b + 3 <= p {
            let [x, y, z] = dots3(row(a), row(b), row(b + 1), row(b + 2));
            put(a, b, x);
            put(a, b + 1, y);
            put(a, b + 2, z);
            b += 3;
        }
        while b < p {
            put(a, b, dot(row(a), row(b)));
            b += 1;
        }
    }
}

impl Layered {
    pub fn new(cfg: &Config) -> Self {
        let p = cfg.n_points();
        let mut c = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..p {
                c[i * p + j] = cfg.c(i, j);
            }
        }
        let mut f1 = vec![0.0; p * p];
        let r1 = pivoted_cholesky(&c, p, &mut f1, &mut vec![0.0; p], &mut vec![false; p]);
        Layered {
            cfg: cfg.clone(),
            id: config_id(cfg),
            f1,
            r1,
            s: (0..p).map(|i| cfg.s(i)).collect(),
            normal: Ziggurat::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Draws `n` networks of block `block` of bag `bag`; `out[(o * P + p) * n + k]` is output o of network k at
    /// point p (`out.len()` = d_out * P * n).
    pub fn block(&self, seed: u64, bag: u32, block: u32, n: usize, out: &mut [f64], sc: &mut LayeredScratch) {
        self.block_with_covariance(seed, bag, block, n, out, None, sc)
    }

    /// [`Layered::block`], and with `cov` each network's last-layer conditional covariance S^(L) (PHYSICS.md 9:
    /// the covariance the outputs are drawn from), in the layout of
    /// [`crate::sampler::Sampler::block_with_covariance`]. The outputs are the same bits either way.
    #[allow(clippy::too_many_arguments)]
    pub fn block_with_covariance(
        &self,
        seed: u64,
        bag: u32,
        block: u32,
        n: usize,
        out: &mut [f64],
        mut cov: Option<&mut [f64]>,
        sc: &mut LayeredScratch,
    ) {
        let cfg = &self.cfg;
        let p = cfg.n_points();
        let d_out = cfg.d_out();
        assert_eq!(
            out.len(),
            d_out * p * n,
            "output buffer must hold d_out * P * n values"
        );
        if let Some(c) = cov.as_deref() {
            assert_eq!(
                c.len(),
                cov_len(p) * n,
                "covariance buffer must hold P(P+1)/2 * n values"
            );
        }
        let mut rng = Xoshiro256PlusPlus::from_seed(stream_seed(&self.id, seed, bag, block));
        let sw2 = cfg.sigma_w() * cfg.sigma_w();
        let sb2 = cfg.sigma_b() * cfg.sigma_b();
        let widths = cfg.widths();
        let max_w = *widths.iter().max().expect("layers") as usize;
        sc.act.resize(p * max_w.max(d_out), 0.0);
        sc.xi.resize(p * max_w.max(d_out), 0.0);
        sc.s.resize(p * p, 0.0);
        sc.f.resize(p * p, 0.0);
        sc.diag.resize(p, 0.0);
        sc.done.resize(p, false);
        let mut fo = vec![0.0; d_out * p];
        for k in 0..n {
            // Layer 1: pre-activations from the fixed factor of sigma_b^2 + sigma_W^2 x.y / d.
            let n1 = widths[0] as usize;
            draw_normals(&self.normal, &mut rng, &mut sc.xi[..self.r1 * n1]);
            mix(&self.f1, p, self.r1, &sc.xi, n1, &mut sc.act[..p * n1]);
            self.activate(&mut sc.act[..p * n1], n1);
            let mut n_prev = n1;
            for &width in &widths[1..] {
                let w = width as usize;
                let r = sc.factor_next(p, n_prev, sb2, sw2);
                draw_normals(&self.normal, &mut rng, &mut sc.xi[..r * w]);
                mix(&sc.f, p, r, &sc.xi, w, &mut sc.act[..p * w]);
                self.activate(&mut sc.act[..p * w], w);
                n_prev = w;
            }
            // Outputs: d_out independent draws from N(0, S^(L)).
            let r = sc.factor_next(p, n_prev, sb2, sw2);
            if let Some(c) = cov.as_deref_mut() {
                for (t, (a, b)) in cov_pairs(p).enumerate() {
                    c[t * n + k] = sc.s[a * p + b];
                }
            }
            draw_normals(&self.normal, &mut rng, &mut sc.xi[..r * d_out]);
            // fo[q * d_out + o]: the outputs as the `mix` of d_out "neurons".
            mix(&sc.f, p, r, &sc.xi, d_out, &mut fo);
            for o in 0..d_out {
                for q in 0..p {
                    out[(o * p + q) * n + k] = fo[q * d_out + o];
                }
            }
        }
    }

    /// g in place on point-major pre-activations (P rows of `w`); GaussNet divides by exp(s(x_p)).
    fn activate(&self, z: &mut [f64], w: usize) {
        let arch = self.cfg.arch();
        if arch == Arch::GaussNet {
            for (q, row) in z.chunks_mut(w).enumerate() {
                let s = self.s[q];
                for v in row.iter_mut() {
                    *v = libm::exp(*v - s);
                }
            }
        } else {
            activation::apply_in_place(arch, z);
        }
    }
}

/// Draws `n` networks with every weight and bias materialised (W^(0) ~ N(0, sigma_W^2/d), W^(l) ~
/// N(0, sigma_W^2/n_l), biases N(0, sigma_b^2)), in the layout of [`Layered::block`]. Its own streams (the
/// draws differ from the layered sampler's; the distribution is the same). The reference for tests and the
/// benchmark: n_(l+1) * n_l normals per layer.
pub fn direct_block(cfg: &Config, seed: u64, bag: u32, block: u32, n: usize, out: &mut [f64]) {
    let p = cfg.n_points();
    let d = cfg.d();
    let d_out = cfg.d_out();
    assert_eq!(
        out.len(),
        d_out * p * n,
        "output buffer must hold d_out * P * n values"
    );
    let mut id = config_id(cfg);
    id[0] ^= 0x5a; // a different family of streams from the layered sampler's
    let mut rng = Xoshiro256PlusPlus::from_seed(stream_seed(&id, seed, bag, block));
    let z = Ziggurat::new();
    let (sw, sb) = (cfg.sigma_w(), cfg.sigma_b());
    let mut sizes: Vec<usize> = vec![d];
    sizes.extend(cfg.widths().iter().map(|&w| w as usize));
    sizes.push(d_out);
    let mut w = Vec::new();
    let mut b = Vec::new();
    for k in 0..n {
        // Point-major activations of the current layer; the input layer is the points themselves.
        let mut act: Vec<f64> = (0..p).flat_map(|q| cfg.point(q).to_vec()).collect();
        for l in 0..sizes.len() - 1 {
            let (fan_in, fan_out) = (sizes[l], sizes[l + 1]);
            let scale = sw / (fan_in as f64).sqrt();
            w.clear();
            w.extend((0..fan_in * fan_out).map(|_| scale * z.sample(&mut rng)));
            b.clear();
            b.extend((0..fan_out).map(|_| sb * z.sample(&mut rng)));
            let mut next = vec![0.0; p * fan_out];
            for q in 0..p {
                let x = &act[q * fan_in..(q + 1) * fan_in];
                for j in 0..fan_out {
                    let row = &w[j * fan_in..(j + 1) * fan_in];
                    let pre = b[j] + row.iter().zip(x).map(|(a, c)| a * c).sum::<f64>();
                    next[q * fan_out + j] = if l + 1 == sizes.len() - 1 {
                        pre
                    } else if cfg.arch() == Arch::GaussNet {
                        libm::exp(pre - cfg.s(q))
                    } else {
                        activation::apply(cfg.arch(), pre)
                    };
                }
            }
            act = next;
        }
        for q in 0..p {
            for o in 0..d_out {
                out[(o * p + q) * n + k] = act[q * d_out + o];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reconstruction error of the factor relative to the largest diagonal entry.
    const RECON_REL: f64 = 1e-10;

    fn check_factor(s: &[f64], p: usize, expect_rank: usize) {
        let mut f = vec![0.0; p * p];
        let r = pivoted_cholesky(s, p, &mut f, &mut vec![0.0; p], &mut vec![false; p]);
        assert_eq!(r, expect_rank, "rank of {s:?}");
        let max = (0..p).map(|i| s[i * p + i]).fold(0.0, f64::max);
        for i in 0..p {
            for j in 0..p {
                let v: f64 = (0..r).map(|k| f[i * p + k] * f[j * p + k]).sum();
                assert!(
                    (v - s[i * p + j]).abs() <= RECON_REL * max,
                    "({i},{j}): {v} vs {}",
                    s[i * p + j]
                );
            }
        }
    }

    #[test]
    fn pivoted_cholesky_factors_full_rank_singular_and_zero_matrices() {
        // Full rank.
        check_factor(&[4.0, 2.0, 0.6, 2.0, 2.0, 0.5, 0.6, 0.5, 3.0], 3, 3);
        // Rank 1 (outer product) and rank 2 (c(x, y) = 1 + x y on three points, d = 1).
        let v = [1.0, -2.0, 0.5];
        let outer: Vec<f64> = (0..9).map(|k| v[k / 3] * v[k % 3]).collect();
        check_factor(&outer, 3, 1);
        let x = [-0.01, -0.006, -0.002, 0.002, 0.006, 0.01];
        let c: Vec<f64> = (0..36).map(|k| 1.0 + x[k / 6] * x[k % 6]).collect();
        check_factor(&c, 6, 2);
        // The ELS points' GaussNet kernel exp(-(x - y)^2 / 2): full rank in exact arithmetic, condition number
        // beyond 1e16, so the factor stops at the numerical rank and still reproduces the matrix.
        let k: Vec<f64> = (0..36)
            .map(|i| (-0.5 * (x[i / 6] - x[i % 6]).powi(2)).exp())
            .collect();
        let mut f = vec![0.0; 36];
        let r = pivoted_cholesky(&k, 6, &mut f, &mut [0.0; 6], &mut [false; 6]);
        assert!((2..6).contains(&r), "numerical rank {r}");
        check_factor(&k, 6, r);
        // An overflowed matrix gives a NaN factor (so the outputs show it), not a silent rank 0.
        let mut f = vec![0.0; 4];
        let r = pivoted_cholesky(
            &[f64::INFINITY, 1.0, 1.0, 1.0],
            2,
            &mut f,
            &mut [0.0; 2],
            &mut [false; 2],
        );
        assert!(r == 1 && f[0].is_nan() && f[2].is_nan());
        // Zero matrix: rank 0; round-off negatives on the diagonal count as zero.
        check_factor(&[0.0; 4], 2, 0);
        check_factor(&[1.0, 1.0, 1.0, 1.0 - 1e-17], 2, 1);
    }

    #[test]
    fn layered_and_direct_samplers_agree_on_one_layer_moments() {
        // One hidden layer: E[f(x) f(y)] = K exactly, E[f^4] = 3 K^2 + kappa_4 (exact, PHYSICS.md 4), both
        // samplers within five standard errors, d_out = 2 (outputs independent: E[f_0 f_1] = 0).
        let pts = vec![vec![-0.7], vec![0.4]];
        let cfg = Config::deep(Arch::Tanh, 1, &[3], 2, 1.4, 0.5, &pts).unwrap();
        let n = 4000;
        let (mut a, mut b) = (vec![0.0; 4 * n], vec![0.0; 4 * n]);
        let layered = Layered::new(&cfg);
        layered.block(1, 0, 0, n, &mut a, &mut LayeredScratch::default());
        direct_block(&cfg, 1, 0, 0, n, &mut b);
        let k01 = crate::kernel::k(&cfg, 0, 1);
        for out in [&a, &b] {
            let col = |c: usize| &out[c * n..(c + 1) * n];
            for (c0, c1, expect) in [(0, 1, k01), (2, 3, k01), (0, 2, 0.0), (1, 3, 0.0)] {
                let prods: Vec<f64> = col(c0).iter().zip(col(c1)).map(|(x, y)| x * y).collect();
                let (m, se) = mean_se(&prods);
                assert!(
                    (m - expect).abs() <= crate::tol::MC_SIGMAS * se,
                    "{c0}{c1}: {m} +- {se} vs {expect}"
                );
            }
        }
    }

    pub(crate) fn mean_se(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (m, (v / n).sqrt())
    }
}
