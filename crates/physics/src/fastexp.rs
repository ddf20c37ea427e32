//! A branch-free exponential that the compiler can vectorise, accurate to a few ulps.
//!
//! Sampling GaussNet evaluates one or two exponentials per neuron; `f64::exp` calls libm and blocks
//! vectorisation, which makes it cost more than the normal draws themselves. Cody-Waite range reduction
//! x = k ln2 + r with |r| <= ln2/2, a degree-12 Taylor polynomial (truncation error < 2e-16 relative) and the
//! exponent bits set directly. Results depend only on the input, never on the vector width (no reassociation).

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// fdlibm's ln2_hi (trailing mantissa bits zero, so k * LN2_HI is exact) and ln2_lo.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Inputs are clamped to where 2^k stays a normal number; exp(-708) ~ 3e-308, exp(709) ~ 8e307.
const X_MIN: f64 = -708.0;
const X_MAX: f64 = 709.0;

/// e^x for finite x; saturates at exp(-708) and exp(709) outside that range.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(X_MIN, X_MAX);
    let t = x * LOG2E + ROUND_MAGIC;
    let k = t - ROUND_MAGIC;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Estrin's scheme: the same polynomial with a dependency chain 7 operations deep instead of Horner's 26, so
    // the vectorised loop is not held up by multiply-add latency.
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let (s0, p89) = estrin_low(r, r2, r4);
    let p1011 = 1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0);
    let q2 = p89 + r2 * p1011;
    let s1 = q2 + r4 * (1.0 / 479_001_600.0);
    let p = s0 + r8 * s1;
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    p * scale
}

/// Runs `f` compiled for AVX2 where the CPU has it, else for the baseline target. `f` must do plain IEEE
/// arithmetic (no FMA, no reassociation): AVX2 then rounds lane by lane exactly as SSE2 does, so both paths give
/// bit-identical results and only their speed differs. Only a small closure is inlined into the AVX2 function
/// (the two elementwise exponentials here are, as `objdump` shows); a larger body needs its own
/// `#[target_feature]` function, as in `sampler::progression_sums`.
#[inline(always)]
pub fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 support was just checked.
            #[allow(unsafe_code)]
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Applies [`exp`] elementwise in place, four lanes at a time where the CPU has AVX2.
pub fn exp_in_place(xs: &mut [f64]) {
    with_avx2(|| {
        for x in xs.iter_mut() {
            *x = exp(*x);
        }
    })
}

/// Largest |x| for which [`exp_small`] is used: its degree-9 Taylor polynomial then errs by < 3e-19 relative.
pub const SMALL: f64 = 0.0625;

/// e^x for |x| <= [`SMALL`] without range reduction (Taylor, degree 9).
#[inline(always)]
pub fn exp_small(x: f64) -> f64 {
    // Estrin's scheme (see `exp`).
    let x2 = x * x;
    let x4 = x2 * x2;
    let (s0, p89) = estrin_low(x, x2, x4);
    s0 + (x4 * x4) * p89
}

/// The Taylor terms of degree 0-7 of e^x by Estrin's scheme, and the pair of degree 8-9 (x^8 not applied).
#[inline(always)]
fn estrin_low(x: f64, x2: f64, x4: f64) -> (f64, f64) {
    let p01 = 1.0 + x;
    let p23 = 0.5 + x * (1.0 / 6.0);
    let p45 = 1.0 / 24.0 + x * (1.0 / 120.0);
    let p67 = 1.0 / 720.0 + x * (1.0 / 5_040.0);
    let p89 = 1.0 / 40_320.0 + x * (1.0 / 362_880.0);
    let q0 = p01 + x2 * p23;
    let q1 = p45 + x2 * p67;
    (q0 + x4 * q1, p89)
}

/// Whether every |x| <= [`SMALL`] (a NaN is not small). Branch-free, so it vectorises.
pub fn all_small(xs: &[f64]) -> bool {
    xs.iter().fold(true, |ok, x| ok & (x.abs() <= SMALL))
}

/// Like [`exp_in_place`], choosing the cheaper [`exp_small`] when every |x| <= [`SMALL`] (the exponent steps of
/// closely spaced points). The choice depends only on the data, so results stay deterministic.
pub fn exp_in_place_auto(xs: &mut [f64]) {
    if !all_small(xs) {
        return exp_in_place(xs);
    }
    with_avx2(|| {
        for x in xs.iter_mut() {
            *x = exp_small(*x);
        }
    })
}

#[cfg(test)]
mod tests {
    /// Relative agreement with libm's exp: a few ulps.
    const FAST_EXP_REL: f64 = 1e-15;

    #[test]
    fn agrees_with_std_exp_over_the_range() {
        let mut worst = 0f64;
        let mut x = -700.0;
        while x < 700.0 {
            let (a, b) = (super::exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.012_345_67;
        }
        for x in [-1e-12, 0.0, 1e-12, 0.5, -0.5, 0.346, -0.347] {
            let (a, b) = (super::exp(x), f64::exp(x));
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < FAST_EXP_REL, "worst relative error {worst}");
        let mut x = -super::SMALL;
        while x <= super::SMALL {
            let (a, b) = (super::exp_small(x), x.exp());
            assert!(((a - b) / b).abs() < FAST_EXP_REL, "exp_small({x})");
            x += 1e-4;
        }
        let mut small: Vec<f64> = (0..100).map(|i| (i as f64 - 50.0) * 1e-3).collect();
        super::exp_in_place_auto(&mut small);
        assert!((small[60] - 0.01f64.exp()).abs() < 1e-15);
        assert_eq!(super::exp(-1000.0), super::exp(-708.0));
        assert!(super::exp(1000.0).is_finite());
        // The vectorised path gives the same bits as the scalar one.
        let xs: Vec<f64> = (0..1001).map(|i| -30.0 + 0.0637 * i as f64).collect();
        let mut v = xs.clone();
        super::exp_in_place(&mut v);
        for (x, y) in xs.iter().zip(&v) {
            assert_eq!(super::exp(*x).to_bits(), y.to_bits());
        }
    }
}
