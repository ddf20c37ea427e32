//! Standard normal variates by the ziggurat method (Marsaglia & Tsang 2000, J. Stat. Softw. 5(8); with
//! Doornik's 2005 fix: the layer index and the uniform come from disjoint bits of one 64-bit draw).
//!
//! `rand_distr::StandardNormal` is a ziggurat too, but it is not inlined into the sampling loop, which then
//! spills the generator state on every draw; this one is `#[inline]` and keeps the state in registers.
//! 256 layers; about 99% of draws take the fast path (one 64-bit draw, one compare, one multiply).

use rand::Rng;

const LAYERS: usize = 256;
/// Start of the tail, x_1 = R (Marsaglia & Tsang's 256-layer constants).
const R: f64 = 3.654_152_885_361_009;
/// Area of every layer (and of the base strip including the tail).
const V: f64 = 4.928_673_233_99e-3;
/// Mask selecting the layer index from the low bits of a draw.
const LAYER_MASK: u64 = LAYERS as u64 - 1;
/// 2^-53: converts 53 random bits into [0, 1).
const TWO_M53: f64 = 1.0 / (1u64 << 53) as f64;

/// Precomputed layer edges x_i and ratios x_{i+1}/x_i.
#[derive(Debug, Clone)]
pub struct Ziggurat {
    x: [f64; LAYERS + 1],
    ratio: [f64; LAYERS],
    /// Density exp(-x_i^2 / 2) at every edge.
    fx: [f64; LAYERS + 1],
}

impl Default for Ziggurat {
    fn default() -> Self {
        Self::new()
    }
}

impl Ziggurat {
    pub fn new() -> Self {
        let mut x = [0.0; LAYERS + 1];
        let mut f = (-0.5 * R * R).exp();
        x[0] = V / f;
        x[1] = R;
        for i in 2..LAYERS {
            x[i] = (-2.0 * (V / x[i - 1] + f).ln()).sqrt();
            f = (-0.5 * x[i] * x[i]).exp();
        }
        x[LAYERS] = 0.0;
        let mut ratio = [0.0; LAYERS];
        for i in 0..LAYERS {
            ratio[i] = x[i + 1] / x[i];
        }
        let fx = x.map(|v| (-0.5 * v * v).exp());
        Ziggurat { x, ratio, fx }
    }

    /// One standard normal variate.
    #[inline(always)]
    pub fn sample<R: Rng + Clone>(&self, rng: &mut R) -> f64 {
        let bits = rng.next_u64();
        let u = 2.0 * ((bits >> 11) as f64 * TWO_M53) - 1.0;
        let i = (bits & LAYER_MASK) as usize;
        if u.abs() < self.ratio[i] {
            return u * self.x[i];
        }
        // The slow path works on a copy of the generator: were the caller's generator passed to a call, its
        // state would have to live in memory for the whole loop, and every draw would wait on a store and a
        // reload of it. With a copy, the caller's state stays in registers.
        let mut copy = rng.clone();
        let x = self.slow(&mut copy, u, i);
        *rng = copy;
        x
    }

    #[cold]
    fn slow<R: Rng + ?Sized>(&self, rng: &mut R, mut u: f64, mut i: usize) -> f64 {
        loop {
            if u.abs() < self.ratio[i] {
                return u * self.x[i];
            }
            if i == 0 {
                // Base strip beyond R: Marsaglia's tail method.
                loop {
                    let x = open01(rng).ln() / R;
                    let y = open01(rng).ln();
                    if -2.0 * y >= x * x {
                        return if u < 0.0 { x - R } else { R - x };
                    }
                }
            }
            let x = u * self.x[i];
            // Wedge: accept when a uniform height between the layer's edges lies under the density.
            if self.fx[i + 1] + open01(rng) * (self.fx[i] - self.fx[i + 1]) < (-0.5 * x * x).exp() {
                return x;
            }
            let bits = rng.next_u64();
            u = 2.0 * ((bits >> 11) as f64 * TWO_M53) - 1.0;
            i = (bits & LAYER_MASK) as usize;
        }
    }
}

/// Uniform in (0, 1].
#[inline]
fn open01<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * TWO_M53
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol::MC_SIGMAS;
    use rand::SeedableRng;

    /// Kolmogorov-Smirnov critical value sqrt(n) D at significance 1e-4 (asymptotic: sqrt(-ln(alpha/2)/2)).
    const KS_CRIT: f64 = 2.23;

    #[test]
    fn draws_are_standard_normal() {
        let z = Ziggurat::new();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(42);
        let n = 2_000_000;
        let mut xs: Vec<f64> = (0..n).map(|_| z.sample(&mut rng)).collect();
        let nf = n as f64;
        let m = |k: i32| xs.iter().map(|x| x.powi(k)).sum::<f64>() / nf;
        // Moments 1..6 against 0, 1, 0, 3, 0, 15, with the exact variance of each estimator.
        let exact = [0.0, 1.0, 0.0, 3.0, 0.0, 15.0];
        let var_of = [1.0, 2.0, 15.0, 96.0, 945.0, 10170.0];
        for k in 1..=6 {
            let se = (var_of[k - 1] / nf).sqrt();
            let zk = (m(k as i32) - exact[k - 1]) / se;
            assert!(
                zk.abs() < MC_SIGMAS,
                "moment {k}: {} ({zk:.1} sigma)",
                m(k as i32)
            );
        }
        // Tail beyond R (the slow path) has the right mass: P(|Z| > R) = erfc(R / sqrt 2).
        let p = libm::erfc(R / 2f64.sqrt());
        let tail = xs.iter().filter(|x| x.abs() > R).count() as f64;
        assert!(
            ((tail - nf * p) / (nf * p).sqrt()).abs() < MC_SIGMAS,
            "tail count {tail} vs {}",
            nf * p
        );
        // Kolmogorov-Smirnov against the normal CDF.
        xs.sort_by(f64::total_cmp);
        let mut d: f64 = 0.0;
        for (i, x) in xs.iter().enumerate() {
            let cdf = 0.5 * libm::erfc(-x / 2f64.sqrt());
            d = d
                .max((cdf - i as f64 / nf).abs())
                .max(((i + 1) as f64 / nf - cdf).abs());
        }
        assert!(d * nf.sqrt() < KS_CRIT, "KS statistic {}", d * nf.sqrt());
    }
}
