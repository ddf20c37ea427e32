//! Drawing network outputs (PHYSICS.md 1): f(x) = b1 + sum_i W1_i g(W0_i . x + b0_i).
//!
//! Randomness is organised in *streams*: one Xoshiro256++ generator per (configuration, seed, bag, block of
//! [`BLOCK_NETS`] networks), seeded from a blake3 hash of those four, so the output never depends on thread
//! scheduling, on how bags are sharded, or on the thread count (DESIGN.md invariant 4).
//!
//! Speed: for GaussNet the 2-3 normal draws per neuron are the irreducible cost. When the points form an
//! arithmetic progression x_p = x_0 + p delta (the usual sweep), exp(W0.x_p + b0) = exp(W0.x_0 + b0) exp(W0.delta)^p,
//! so each neuron needs two exponentials whatever P is, evaluated by the vectorisable [`crate::fastexp::exp`].

use crate::normal::Ziggurat;
use crate::{Arch, Config, Error, fastexp};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Networks per random stream (and per unit of parallel work).
pub const BLOCK_NETS: usize = 1024;

/// Points closer than this (relative to their scale) to an arithmetic progression use the two-exponential path.
const PROGRESSION_REL: f64 = 1e-12;
/// The progression path multiplies exp(z_0 - s_0) by powers; beyond this spread of s_p the intermediate could
/// underflow while the true value does not, so the direct path is used instead.
const PROGRESSION_MAX_DS: f64 = 300.0;

/// A stable 32-byte identity of a configuration (architecture, d, N, sigma_W, sigma_b, points).
pub fn config_id(cfg: &Config) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"nnqft-config-v1");
    h.update(cfg.arch().name().as_bytes());
    h.update(&(cfg.d() as u64).to_le_bytes());
    h.update(&cfg.width().to_le_bytes());
    h.update(&cfg.sigma_w().to_bits().to_le_bytes());
    h.update(&cfg.sigma_b().to_bits().to_le_bytes());
    for i in 0..cfg.n_points() {
        for v in cfg.point(i) {
            h.update(&v.to_bits().to_le_bytes());
        }
    }
    // Only networks beyond the papers' setting hash their layers and outputs, so that every one-hidden-layer,
    // one-output configuration keeps its streams (and its sample bytes).
    if !cfg.is_shallow_scalar() {
        h.update(b"layers");
        h.update(&(cfg.depth() as u64).to_le_bytes());
        for w in cfg.widths() {
            h.update(&w.to_le_bytes());
        }
        h.update(&(cfg.d_out() as u64).to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// Entries p <= q of a symmetric P x P matrix: the conditional-covariance values per network.
pub fn cov_len(p: usize) -> usize {
    p * (p + 1) / 2
}

/// The pairs (p, q), p <= q, in the order of the covariance layout and of the sample stage's `s_<p>_<q>`
/// columns: (0, 0), (0, 1), ..., (0, P-1), (1, 1), (1, 2), ...
pub fn cov_pairs(p: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..p).flat_map(move |a| (a..p).map(move |b| (a, b)))
}

/// Seed of the stream for (configuration, user seed, bag, block).
pub fn stream_seed(cfg_id: &[u8; 32], seed: u64, bag: u32, block: u32) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"nnqft-stream-v1");
    h.update(cfg_id);
    h.update(&seed.to_le_bytes());
    h.update(&bag.to_le_bytes());
    h.update(&block.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Precomputed evaluation plan for one configuration.
#[derive(Debug, Clone)]
pub struct Sampler {
    cfg: Config,
    id: [u8; 32],
    /// s(x_p) for every point.
    s: Vec<f64>,
    /// Some((x_0, delta)) when the points are an arithmetic progression.
    progression: Option<(Vec<f64>, Vec<f64>)>,
    /// exp(s_0 - s_p) for every point p (the progression path's per-point factors).
    shift: Vec<f64>,
    normal: Ziggurat,
    /// The layer-by-layer sampler, for every network but one hidden layer with one output.
    layered: Option<crate::deep::Layered>,
}

/// Reusable scratch buffers of one worker.
#[derive(Debug, Default)]
pub struct Scratch {
    w: Vec<f64>,
    b0: Vec<f64>,
    v: Vec<f64>,
    a: Vec<f64>,
    e: Vec<f64>,
    z: Vec<f64>,
    acc: Vec<[f64; 4]>,
    /// Conditional covariance only: the power sums sum_i a_i^2 e_i^m (progression path), every point's
    /// activations (P rows of N, direct path), their P x P Gram matrix and one network's P(P+1)/2 values.
    acc2: Vec<[f64; 8]>,
    g: Vec<f64>,
    s: Vec<f64>,
    tri: Vec<f64>,
    layered: crate::deep::LayeredScratch,
}

crate::multiversion! {
    /// acc[q][l] += sum over neurons i = l (mod 4) of v_i a_i e_i^q: four interleaved partial sums per point, in
    /// a fixed order, so the result is deterministic whatever the vector level.
    fn progression_sums / progression_sums_at(v: &[f64], a: &[f64], e: &[f64], acc: &mut [[f64; 4]]) => progression_sums_body
}

#[inline(always)]
fn progression_sums_body(v: &[f64], a: &[f64], e: &[f64], acc: &mut [[f64; 4]]) {
    let width = v.len().min(a.len()).min(e.len());
    // Two chunks of four neurons per step: their power chains t *= e are independent, so they overlap instead
    // of waiting on each other's multiply latency; the additions into acc keep the order chunk by chunk, so the
    // sums are the same bits as one chunk at a time.
    let pairs = width / 8;
    for c in 0..pairs {
        let base = 8 * c;
        let mut t = [0.0f64; 8];
        let mut ee = [0.0f64; 8];
        for l in 0..8 {
            t[l] = v[base + l] * a[base + l];
            ee[l] = e[base + l];
        }
        for accq in acc.iter_mut() {
            for l in 0..4 {
                accq[l] += t[l];
            }
            for l in 0..4 {
                accq[l] += t[4 + l];
            }
            for l in 0..8 {
                t[l] *= ee[l];
            }
        }
    }
    let mut done = 8 * pairs;
    if width - done >= 4 {
        let mut t = [0.0f64; 4];
        let mut ee = [0.0f64; 4];
        for l in 0..4 {
            t[l] = v[done + l] * a[done + l];
            ee[l] = e[done + l];
        }
        for accq in acc.iter_mut() {
            for l in 0..4 {
                accq[l] += t[l];
                t[l] *= ee[l];
            }
        }
        done += 4;
    }
    for i in done..width {
        let mut t = v[i] * a[i];
        for accq in acc.iter_mut() {
            accq[0] += t;
            t *= e[i];
        }
    }
}

crate::multiversion! {
    /// The conditional covariance's power sums of the progression path: acc[m][l] += sum over neurons i = l
    /// (mod 8) of a_i^2 e_i^m, for m < acc.len() = 2P - 1. Walking up the powers u = a e^x, m = 2x takes u u
    /// and m = 2x + 1 takes u (u e): a chain of P - 1 multiplies per neuron (the chain of 2P - 2 multiplies of
    /// [`progression_sums`] made that loop latency-bound), and eight lanes halve the adds. Every sum in a fixed
    /// order, so every vector level gives the same bits.
    fn cov_sums / cov_sums_at(a: &[f64], e: &[f64], acc: &mut [[f64; 8]]) => cov_sums_body
}

#[inline(always)]
fn cov_sums_body(a: &[f64], e: &[f64], acc: &mut [[f64; 8]]) {
    // A constant P lets the accumulators live in registers (the memory accumulators of the general loop cost
    // about twice as much); same operations in the same order, so the same bits.
    match acc.len().div_ceil(2) {
        2 => cov_sums_fixed::<2>(a, e, acc),
        3 => cov_sums_fixed::<3>(a, e, acc),
        4 => cov_sums_fixed::<4>(a, e, acc),
        5 => cov_sums_fixed::<5>(a, e, acc),
        6 => cov_sums_fixed::<6>(a, e, acc),
        7 => cov_sums_fixed::<7>(a, e, acc),
        8 => cov_sums_fixed::<8>(a, e, acc),
        _ => cov_sums_any(a, e, acc),
    }
}

/// [`cov_sums_body`] for P points known at compile time.
#[inline(always)]
fn cov_sums_fixed<const P: usize>(a: &[f64], e: &[f64], acc: &mut [[f64; 8]]) {
    debug_assert!(P <= 8 && acc.len() == 2 * P - 1);
    let mut loc = [[0.0f64; 8]; 15];
    loc[..2 * P - 1].copy_from_slice(&acc[..2 * P - 1]);
    let width = a.len().min(e.len());
    let full = width / 8 * 8;
    for c in (0..full).step_by(8) {
        let mut ee = [0.0f64; 8];
        ee.copy_from_slice(&e[c..c + 8]);
        let mut u = [0.0f64; 8];
        u.copy_from_slice(&a[c..c + 8]);
        for x in 0..P {
            for l in 0..8 {
                loc[2 * x][l] += u[l] * u[l];
            }
            if x + 1 < P {
                for l in 0..8 {
                    let next = u[l] * ee[l];
                    loc[2 * x + 1][l] += u[l] * next;
                    u[l] = next;
                }
            }
        }
    }
    acc[..2 * P - 1].copy_from_slice(&loc[..2 * P - 1]);
    cov_sums_tail(&a[full..width], &e[full..width], acc);
}

/// The neurons after the last whole group of eight (lane = index mod 8, as in the groups).
#[inline(always)]
fn cov_sums_tail(a: &[f64], e: &[f64], acc: &mut [[f64; 8]]) {
    let p = acc.len().div_ceil(2);
    for (l, (&ai, &ei)) in a.iter().zip(e).enumerate() {
        let mut u = ai;
        for x in 0..p {
            acc[2 * x][l] += u * u;
            if x + 1 == p {
                break;
            }
            let next = u * ei;
            acc[2 * x + 1][l] += u * next;
            u = next;
        }
    }
}

/// [`cov_sums_body`] for any P.
#[inline(always)]
fn cov_sums_any(a: &[f64], e: &[f64], acc: &mut [[f64; 8]]) {
    let width = a.len().min(e.len());
    let p = acc.len().div_ceil(2);
    debug_assert!(acc.len() == 2 * p - 1);
    let full = width / 8 * 8;
    for c in (0..full).step_by(8) {
        let mut ee = [0.0f64; 8];
        ee.copy_from_slice(&e[c..c + 8]);
        let mut u = [0.0f64; 8];
        u.copy_from_slice(&a[c..c + 8]);
        for x in 0..p {
            let even = &mut acc[2 * x];
            for l in 0..8 {
                even[l] += u[l] * u[l];
            }
            if x + 1 == p {
                break;
            }
            let odd = &mut acc[2 * x + 1];
            for l in 0..8 {
                let next = u[l] * ee[l];
                odd[l] += u[l] * next;
                u[l] = next;
            }
        }
    }
    cov_sums_tail(&a[full..width], &e[full..width], acc);
}

/// The fused d = 1 loop: draws W1 group by group (v_i = v_scale z) and adds v_i a_i e_i^q into the four partial
/// sums of every point q, in the order of [`progression_sums_body`], so the same bits. Its own function with its
/// own copy of the generator, so that the generator's state stays in registers (see `Ziggurat::sample`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline(never)]
fn w1_power_sums(
    z: &Ziggurat,
    rng_out: &mut Xoshiro256PlusPlus,
    v_scale: f64,
    a: &[f64],
    e: &[f64],
    sums: &mut [[f64; 4]],
) {
    let mut rng = rng_out.clone();
    let (a4, e4) = (a.chunks_exact(4), e.chunks_exact(4));
    let (a_rest, e_rest) = (a4.remainder(), e4.remainder());
    for (ac, ec) in a4.zip(e4) {
        let mut t = [0.0f64; 4];
        for (tl, al) in t.iter_mut().zip(ac) {
            *tl = v_scale * z.sample(&mut rng) * al;
        }
        let mut ee = [0.0f64; 4];
        ee.copy_from_slice(ec);
        for s in sums.iter_mut() {
            for l in 0..4 {
                s[l] += t[l];
                t[l] *= ee[l];
            }
        }
    }
    for (ai, ei) in a_rest.iter().zip(e_rest) {
        let mut t = v_scale * z.sample(&mut rng) * ai;
        for s in sums.iter_mut() {
            s[0] += t;
            t *= ei;
        }
    }
    *rng_out = rng;
}

impl Sampler {
    pub fn new(cfg: &Config) -> Self {
        let mut sampler = Self::build(cfg);
        sampler.layered = (!direct(cfg)).then(|| crate::deep::Layered::new(cfg));
        sampler
    }

    /// The direct (weights-materialised) one-layer loop even where [`Sampler::new`] would draw layer by layer (the
    /// new activations at one hidden layer): the benchmark's yardstick for that choice. `cfg` must have one hidden
    /// layer and one output ([`Config::is_shallow_scalar`]).
    pub fn direct_loop(cfg: &Config) -> Self {
        assert!(
            cfg.is_shallow_scalar(),
            "the direct loop draws one hidden layer with one output"
        );
        Self::build(cfg)
    }

    /// The direct loop's tables (without the layered sampler).
    fn build(cfg: &Config) -> Self {
        let p = cfg.n_points();
        let s: Vec<f64> = (0..p).map(|i| cfg.s(i)).collect();
        let progression = if p >= 3 && cfg.arch() == Arch::GaussNet {
            let d = cfg.d();
            let x0 = cfg.point(0).to_vec();
            let delta: Vec<f64> = (0..d).map(|j| cfg.point(1)[j] - x0[j]).collect();
            let scale = (0..p)
                .flat_map(|i| cfg.point(i).iter().map(|v| v.abs()))
                .fold(0.0, f64::max);
            let on_line = (0..p).all(|i| {
                (0..d).all(|j| {
                    (cfg.point(i)[j] - (x0[j] + i as f64 * delta[j])).abs() <= PROGRESSION_REL * scale
                })
            });
            let ds = s.iter().map(|v| (v - s[0]).abs()).fold(0.0, f64::max);
            (on_line && ds < PROGRESSION_MAX_DS).then_some((x0, delta))
        } else {
            None
        };
        let shift = s.iter().map(|sp| fastexp::exp(s[0] - sp)).collect();
        Sampler {
            cfg: cfg.clone(),
            id: config_id(cfg),
            shift,
            s,
            progression,
            normal: Ziggurat::new(),
            layered: None,
        }
    }

    /// Whether the layer-by-layer (conditional-Gaussian) sampler is used: every network but the papers' (see
    /// [`direct`]).
    pub fn is_layered(&self) -> bool {
        self.layered.is_some()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Whether the two-exponential progression path is used.
    pub fn uses_progression(&self) -> bool {
        self.progression.is_some()
    }

    /// Draws `n` networks (n <= BLOCK_NETS) of block `block` of bag `bag` and writes their outputs
    /// column-major into `out`: `out[(o * P + p) * n + k]` is output o of network k at x_p. `out.len()` must be
    /// `d_out * P * n`.
    pub fn block(&self, seed: u64, bag: u32, block: u32, n: usize, out: &mut [f64], scratch: &mut Scratch) {
        self.block_with_covariance(seed, bag, block, n, out, None, scratch)
    }

    /// [`Sampler::block`], and with `cov` each network's conditional covariance given its last hidden layer
    /// (PHYSICS.md 9), S(p, q) = sigma_b^2 + (sigma_W^2 / n_L) sum_i phi_i(x_p) phi_i(x_q), where phi are the
    /// activations exactly as the sampler forms f from them (GaussNet's normalisation included):
    /// `cov[t * n + k]` is entry t of network k, t running over [`cov_pairs`] (`cov.len()` = P(P+1)/2 * n).
    /// One S serves every output. The outputs are the same bits with or without `cov`, and no extra random
    /// numbers are drawn.
    #[allow(clippy::too_many_arguments)]
    pub fn block_with_covariance(
        &self,
        seed: u64,
        bag: u32,
        block: u32,
        n: usize,
        out: &mut [f64],
        cov: Option<&mut [f64]>,
        scratch: &mut Scratch,
    ) {
        if let Some(layered) = &self.layered {
            layered.block_with_covariance(seed, bag, block, n, out, cov, &mut scratch.layered);
            return;
        }
        let p = self.cfg.n_points();
        assert_eq!(out.len(), p * n, "output buffer must hold P * n values");
        if let Some(c) = cov.as_deref() {
            assert_eq!(
                c.len(),
                cov_len(p) * n,
                "covariance buffer must hold P(P+1)/2 * n values"
            );
        }
        let mut rng = Xoshiro256PlusPlus::from_seed(stream_seed(&self.id, seed, bag, block));
        #[cfg(target_arch = "x86_64")]
        if self.cfg.d() == 1
            && self.progression.is_some()
            && crate::simd::Level::active() != crate::simd::Level::Baseline
            && std::arch::is_x86_feature_detected!("avx2")
        {
            // SAFETY: AVX2 support was just checked; plain IEEE arithmetic, no FMA (see crate::simd::Level).
            #[allow(unsafe_code)]
            unsafe {
                self.block_fused_avx2(&mut rng, n, out, cov, scratch)
            };
            return;
        }
        self.block_two_pass(&mut rng, n, out, cov, scratch)
    }

    /// sigma_b^2 and sigma_W^2 / N: S = sigma_b^2 + (sigma_W^2 / N) sum_i g_i g_i^T for the one-layer loops
    /// (b1 ~ N(0, sigma_b^2), W1_i ~ N(0, sigma_W^2 / N)).
    fn cov_scale(&self) -> (f64, f64) {
        let (sw, sb) = (self.cfg.sigma_w(), self.cfg.sigma_b());
        (sb * sb, sw * sw / self.cfg.width() as f64)
    }

    /// S of one network on the progression path, into `tri` ([`cov_pairs`] order): the activations are
    /// g_ip = a_i e_i^p exp(s_0 - s_p), so S(p, q) = sigma_b^2 + (sigma_W^2 / N) exp(s_0 - s_p) exp(s_0 - s_q)
    /// sum_i a_i^2 e_i^(p+q), from the 2P - 1 power sums ([`cov_sums`]).
    fn progression_cov(&self, a: &[f64], e: &[f64], acc: &mut Vec<[f64; 8]>, tri: &mut [f64]) {
        let p = self.cfg.n_points();
        acc.clear();
        acc.resize(2 * p - 1, [0.0; 8]);
        cov_sums(a, e, acc);
        let (sb2, scale) = self.cov_scale();
        for ((x, y), t) in cov_pairs(p).zip(tri.iter_mut()) {
            let m = &acc[x + y];
            let sum = ((m[0] + m[1]) + (m[2] + m[3])) + ((m[4] + m[5]) + (m[6] + m[7]));
            *t = sb2 + scale * (sum * (self.shift[x] * self.shift[y]));
        }
    }

    /// [`Sampler::block`] as draw-all-then-evaluate, per network.
    fn block_two_pass(
        &self,
        rng: &mut Xoshiro256PlusPlus,
        n: usize,
        out: &mut [f64],
        mut cov: Option<&mut [f64]>,
        scratch: &mut Scratch,
    ) {
        let p = self.cfg.n_points();
        let mut f = vec![0.0; p];
        let mut tri = vec![0.0; if cov.is_some() { cov_len(p) } else { 0 }];
        for k in 0..n {
            let b1 = self.draw(rng, scratch);
            self.evaluate(scratch, b1, &mut f, cov.is_some().then_some(&mut tri[..]));
            for (q, fq) in f.iter().enumerate() {
                out[q * n + k] = *fq;
            }
            if let Some(c) = cov.as_deref_mut() {
                for (t, v) in tri.iter().enumerate() {
                    c[t * n + k] = *v;
                }
            }
        }
    }

    /// The d = 1 progression path with the draws of W1 fused into the power sums (AVX2): each group of four
    /// neurons draws its W1 and adds its six powers, so the generator's scalar work and the vector arithmetic
    /// overlap. Same draws, same operations in the same order as
    /// [`Sampler::draw`] + [`Sampler::evaluate`], so the outputs are the same bits as that path's.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn block_fused_avx2(
        &self,
        rng: &mut Xoshiro256PlusPlus,
        n: usize,
        out: &mut [f64],
        mut cov: Option<&mut [f64]>,
        sc: &mut Scratch,
    ) {
        // The draws happen in `draw_first` and `w1_power_sums`, each on its own copy of the generator.
        let p = self.cfg.n_points();
        let width = self.cfg.width() as usize;
        let sw = self.cfg.sigma_w();
        let (w_scale, v_scale) = (sw, sw / (width as f64).sqrt()); // d = 1
        let (x0, dx) = match &self.progression {
            Some((x0, delta)) => (x0[0], delta[0]),
            None => unreachable!("the fused path needs the progression"),
        };
        let s0 = self.s[0];
        let z = &self.normal;
        sc.w.resize(width, 0.0);
        sc.b0.resize(width, 0.0);
        sc.a.resize(width, 0.0);
        sc.e.resize(width, 0.0);
        let mut sums = vec![[0.0f64; 4]; p];
        for k in 0..n {
            // b1, W0, b0 exactly as `draw` makes them; W1 comes group by group below.
            let b1 = self.draw_first(rng, sc, w_scale);
            for (((a, e), w), b0) in sc.a.iter_mut().zip(sc.e.iter_mut()).zip(&sc.w).zip(&sc.b0) {
                *a = b0 - s0 + w * x0;
                *e = w * dx;
            }
            // The exponentials in their own vectorised loops (interleaved with the draws they compete for the
            // floating-point ports and come out slower), then W1 drawn group by group into the power sums.
            fastexp::exp_in_place(&mut sc.a);
            fastexp::exp_in_place_auto(&mut sc.e);
            for a in sums.iter_mut() {
                *a = [0.0; 4];
            }
            w1_power_sums(z, rng, v_scale, &sc.a, &sc.e, &mut sums);
            for q in 0..p {
                let sum = (sums[q][0] + sums[q][1]) + (sums[q][2] + sums[q][3]);
                out[q * n + k] = b1 + sum * self.shift[q];
            }
            if let Some(c) = cov.as_deref_mut() {
                sc.tri.resize(cov_len(p), 0.0);
                self.progression_cov(&sc.a, &sc.e, &mut sc.acc2, &mut sc.tri);
                for (t, v) in sc.tri.iter().enumerate() {
                    c[t * n + k] = *v;
                }
            }
        }
    }

    /// Draws b1 (returned), then W0 (scaled by `w_scale`) and b0 into the scratch buffers, which must be sized.
    /// Shared by both sampling paths, so they draw the same numbers in the same order.
    #[inline(never)]
    fn draw_first(&self, rng_out: &mut Xoshiro256PlusPlus, sc: &mut Scratch, w_scale: f64) -> f64 {
        let mut local = rng_out.clone();
        let rng = &mut local;
        let sb = self.cfg.sigma_b();
        let z = &self.normal;
        let b1 = if sb > 0.0 { sb * z.sample(rng) } else { 0.0 };
        for x in sc.w.iter_mut() {
            *x = w_scale * z.sample(rng);
        }
        if sb > 0.0 {
            for x in sc.b0.iter_mut() {
                *x = sb * z.sample(rng);
            }
        } else {
            sc.b0.fill(0.0);
        }
        *rng_out = local;
        b1
    }

    /// Draws one network's parameters into the scratch buffers (in this fixed order: b1, W0, b0, W1) and
    /// returns b1. b0 and b1 are not drawn when sigma_b = 0.
    #[inline]
    fn draw(&self, rng: &mut Xoshiro256PlusPlus, sc: &mut Scratch) -> f64 {
        let width = self.cfg.width() as usize;
        let d = self.cfg.d();
        let sw = self.cfg.sigma_w();
        let w_scale = sw / (d as f64).sqrt();
        let v_scale = sw / (width as f64).sqrt();
        let z = &self.normal;
        sc.w.resize(width * d, 0.0);
        sc.b0.resize(width, 0.0);
        sc.v.resize(width, 0.0);
        sc.a.resize(width, 0.0);
        sc.e.resize(width, 0.0);
        sc.z.resize(width, 0.0);
        // A local generator, so that its state stays in registers (see `Ziggurat::sample`).
        let mut local = rng.clone();
        let b1 = self.draw_first(&mut local, sc, w_scale);
        for x in sc.v.iter_mut() {
            *x = v_scale * z.sample(&mut local);
        }
        *rng = local;
        b1
    }

    /// f(x_p) for one network whose parameters are in the scratch buffers, and with `tri` its conditional
    /// covariance ([`Sampler::block_with_covariance`]) without changing a bit of f.
    fn evaluate(&self, sc: &mut Scratch, b1: f64, f: &mut [f64], tri: Option<&mut [f64]>) {
        let cfg = &self.cfg;
        let d = cfg.d();
        let width = sc.v.len();
        if let Some((x0, delta)) = &self.progression {
            // a_i = W0_i.x_0 + b0_i - s_0 and e_i = W0_i.delta, then g_ip = exp(a_i) exp(e_i)^p exp(s_0 - s_p).
            if d == 1 {
                // The common case, written so that it vectorises.
                let (x0, dx, s0) = (x0[0], delta[0], self.s[0]);
                for (((a, e), w), b0) in sc.a.iter_mut().zip(sc.e.iter_mut()).zip(&sc.w).zip(&sc.b0) {
                    *a = b0 - s0 + w * x0;
                    *e = w * dx;
                }
            } else {
                for i in 0..width {
                    let w = &sc.w[i * d..(i + 1) * d];
                    let (mut a, mut e) = (sc.b0[i] - self.s[0], 0.0);
                    for j in 0..d {
                        a += w[j] * x0[j];
                        e += w[j] * delta[j];
                    }
                    sc.a[i] = a;
                    sc.e[i] = e;
                }
            }
            fastexp::exp_in_place(&mut sc.a);
            fastexp::exp_in_place_auto(&mut sc.e);
            let p = f.len();
            sc.acc.clear();
            sc.acc.resize(p, [0.0; 4]);
            progression_sums(&sc.v, &sc.a, &sc.e, &mut sc.acc);
            let acc = &sc.acc;
            for q in 0..p {
                let sum = (acc[q][0] + acc[q][1]) + (acc[q][2] + acc[q][3]);
                f[q] = b1 + sum * self.shift[q];
            }
            if let Some(tri) = tri {
                self.progression_cov(&sc.a, &sc.e, &mut sc.acc2, tri);
            }
            return;
        }
        let p = f.len();
        if tri.is_some() {
            sc.g.resize(p * width, 0.0);
        }
        for (q, fq) in f.iter_mut().enumerate() {
            let x = cfg.point(q);
            for i in 0..width {
                let w = &sc.w[i * d..(i + 1) * d];
                let mut z = sc.b0[i];
                for j in 0..d {
                    z += w[j] * x[j];
                }
                sc.z[i] = z;
            }
            match cfg.arch() {
                Arch::GaussNet => {
                    let s = self.s[q];
                    for z in sc.z.iter_mut() {
                        *z = fastexp::exp(*z - s);
                    }
                }
                Arch::Erf => {
                    for z in sc.z.iter_mut() {
                        *z = libm::erf(*z);
                    }
                }
                Arch::Relu => {
                    for z in sc.z.iter_mut() {
                        *z = z.max(0.0);
                    }
                }
                arch => crate::activation::apply_in_place(arch, &mut sc.z),
            }
            if tri.is_some() {
                sc.g[q * width..(q + 1) * width].copy_from_slice(&sc.z);
            }
            let mut acc = [0.0f64; 4];
            for (i, (g, v)) in sc.z.iter().zip(&sc.v).enumerate() {
                acc[i % 4] += g * v;
            }
            *fq = b1 + (acc[0] + acc[1]) + (acc[2] + acc[3]);
        }
        if let Some(tri) = tri {
            let (sb2, scale) = self.cov_scale();
            sc.s.resize(p * p, 0.0);
            crate::deep::gram(&sc.g, p, width, sb2, scale, &mut sc.s);
            for ((a, b), t) in cov_pairs(p).zip(tri.iter_mut()) {
                *t = sc.s[a * p + b];
            }
        }
    }

    /// Only the normal draws of a block, exactly as [`Sampler::block`] makes them (the benchmark's reference).
    pub fn draws_only(&self, seed: u64, bag: u32, block: u32, n: usize, scratch: &mut Scratch) -> f64 {
        let mut rng = Xoshiro256PlusPlus::from_seed(stream_seed(&self.id, seed, bag, block));
        let mut s = 0.0;
        for _ in 0..n {
            s += self.draw(&mut rng, scratch);
            s += scratch.v[0];
        }
        s
    }
}

/// Whether `cfg` is drawn by the direct (weights-materialised) one-layer sampler: one hidden layer, one output
/// and the papers' activations GaussNet, Erf or ReLU, whose sample bytes must not change (GaussNet is also 6x
/// faster this way). Everything else is drawn layer by layer, which measured as fast or faster (ARCHITECTURE.md).
pub fn direct(cfg: &Config) -> bool {
    cfg.is_shallow_scalar() && matches!(cfg.arch(), Arch::GaussNet | Arch::Erf | Arch::Relu)
}

/// Validates the ensemble size: at least one bag and one network per bag, bag indices fit in u32.
pub fn check_counts(n_bags: u64, n_nets: u64) -> Result<(), Error> {
    if n_bags == 0 {
        return Err(Error::Count {
            name: "n_bags",
            value: n_bags,
            why: "at least one bag is needed",
        });
    }
    if n_bags > u32::MAX as u64 {
        return Err(Error::Count {
            name: "n_bags",
            value: n_bags,
            why: "must fit in 32 bits",
        });
    }
    if n_nets == 0 {
        return Err(Error::Count {
            name: "n_nets",
            value: n_nets,
            why: "at least one network per bag is needed",
        });
    }
    if n_nets > u32::MAX as u64 {
        return Err(Error::Count {
            name: "n_nets",
            value: n_nets,
            why: "must fit in 32 bits",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol::close;

    /// The progression path and the direct path are algebraically identical; rounding differs by a few ulps
    /// per factor.
    const PATHS_REL: f64 = 1e-11;

    #[test]
    fn fused_path_gives_the_bits_of_the_two_pass_path() {
        // Without AVX2 `block` is the two-pass path itself, and the comparison below would prove nothing.
        #[cfg(target_arch = "x86_64")]
        let fused = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let fused = false;
        if !fused {
            eprintln!("skipped: no AVX2 here, so there is no fused path to compare");
            return;
        }
        // Widths with and without a remainder of four; small and large exponent steps (sigma_W = 20).
        let six = [-0.01, -0.006, -0.002, 0.002, 0.006, 0.01];
        let three = [0.1, 0.3, 0.5];
        for (width, sw, sb, points) in [
            (1000, 1.0, 1.0, &six[..]),
            (7, 20.0, 1.0, &six[..]),
            (10, 3.0, 0.0, &six[..]),
            (3, 1.0, 0.5, &six[..]),
            (9, 2.0, 1.0, &three[..]),
        ] {
            let pts: Vec<Vec<f64>> = points.iter().map(|&x| vec![x]).collect();
            let p = pts.len();
            let cfg = Config::new(Arch::GaussNet, 1, width, sw, sb, &pts).unwrap();
            let s = Sampler::new(&cfg);
            assert!(s.uses_progression());
            let n = 37;
            let (mut a, mut b) = (vec![0.0; p * n], vec![0.0; p * n]);
            let (mut ca, mut cb) = (vec![0.0; cov_len(p) * n], vec![0.0; cov_len(p) * n]);
            s.block_with_covariance(9, 2, 1, n, &mut a, Some(&mut ca), &mut Scratch::default());
            let mut rng = Xoshiro256PlusPlus::from_seed(stream_seed(&s.id, 9, 2, 1));
            s.block_two_pass(&mut rng, n, &mut b, Some(&mut cb), &mut Scratch::default());
            // The covariance neither draws nor changes a bit of the outputs.
            let mut plain = vec![0.0; p * n];
            s.block(9, 2, 1, n, &mut plain, &mut Scratch::default());
            assert!(plain.iter().zip(&a).all(|(x, y)| x.to_bits() == y.to_bits()));
            for (x, y) in a.iter().zip(&b).chain(ca.iter().zip(&cb)) {
                assert_eq!(
                    x.to_bits(),
                    y.to_bits(),
                    "N = {width}, sigma_W = {sw}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn progression_path_matches_direct_evaluation() {
        let pts: Vec<Vec<f64>> = (0..6)
            .map(|i| vec![-0.5 + 0.2 * i as f64, 0.1 * i as f64])
            .collect();
        let cfg = Config::new(Arch::GaussNet, 2, 37, 1.7, 0.8, &pts).unwrap();
        let fast = Sampler::new(&cfg);
        assert!(fast.uses_progression());
        let mut slow = fast.clone();
        slow.progression = None;
        let (mut a, mut b) = (vec![0.0; 6 * 50], vec![0.0; 6 * 50]);
        let (mut ca, mut cb) = (vec![0.0; 21 * 50], vec![0.0; 21 * 50]);
        fast.block_with_covariance(7, 3, 1, 50, &mut a, Some(&mut ca), &mut Scratch::default());
        slow.block_with_covariance(7, 3, 1, 50, &mut b, Some(&mut cb), &mut Scratch::default());
        // The progression path's power sums against the Gram matrix of the activations.
        for (x, y) in a.iter().zip(&b).chain(ca.iter().zip(&cb)) {
            assert!(close(*x, *y, PATHS_REL) || (x - y).abs() < PATHS_REL, "{x} {y}");
        }
        assert_ne!(a[0], a[1]);
    }

    #[test]
    fn progression_covariance_matches_the_gram_matrix_for_any_number_of_points() {
        // P = 3 and 8 take the constant-P power sums, P = 10 the general loop; N = 13 leaves a tail of five.
        for p in [3, 8, 10] {
            let pts: Vec<Vec<f64>> = (0..p).map(|i| vec![-0.2 + 0.05 * i as f64]).collect();
            let cfg = Config::new(Arch::GaussNet, 1, 13, 1.3, 0.7, &pts).unwrap();
            let fast = Sampler::new(&cfg);
            assert!(fast.uses_progression());
            let mut slow = fast.clone();
            slow.progression = None;
            let n = 20;
            let (mut ca, mut cb) = (vec![0.0; cov_len(p) * n], vec![0.0; cov_len(p) * n]);
            let mut out = vec![0.0; p * n];
            fast.block_with_covariance(5, 0, 2, n, &mut out, Some(&mut ca), &mut Scratch::default());
            slow.block_with_covariance(5, 0, 2, n, &mut out, Some(&mut cb), &mut Scratch::default());
            for (x, y) in ca.iter().zip(&cb) {
                assert!(close(*x, *y, PATHS_REL), "P = {p}: {x} {y}");
            }
        }
    }
}
