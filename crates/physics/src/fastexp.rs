//! A branch-free exponential that the compiler can vectorise, accurate to about one ulp.
//!
//! Sampling GaussNet evaluates one or two exponentials per neuron; `f64::exp` calls libm and blocks
//! vectorisation, which makes it cost more than the normal draws themselves. Tang's table method: x = (256 m + j)
//! ln2/256 + r with |r| <= ln2/512, e^x = 2^m 2^(j/256) e^r, with 2^(j/256) from a table of correctly rounded
//! constants (a vector gather), e^r by a degree-5 Taylor polynomial (truncation error < 1e-20 relative) and 2^m
//! set directly in the exponent bits. Results depend only on the input, never on the vector width (no
//! reassociation, no FMA), so every [`Level`](crate::simd::Level) gives the same bits.

/// Entries of the table of 2^(j/256).
const TABLE_BITS: u32 = 8;
const TABLE_LEN: usize = 1 << TABLE_BITS;
/// 256 / ln 2.
const INV_STEP: f64 = TABLE_LEN as f64 * std::f64::consts::LOG2_E;
/// fdlibm's ln2_hi and ln2_lo divided by 256 (exactly: a power of two). ln2_hi has 21 trailing zero bits, so
/// k * STEP_HI is exact for |k| < 2^21 (here |k| <= 709 * 370).
const STEP_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000) / TABLE_LEN as f64;
const STEP_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76) / TABLE_LEN as f64;
/// 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Inputs are clamped to where 2^m stays a normal number; exp(-708) ~ 3e-308, exp(709) ~ 8e307.
const X_MIN: f64 = -708.0;
const X_MAX: f64 = 709.0;

/// The bits of 2^(j/256) for j = 0..255, each the f64 nearest to the exact value (computed with 60-digit decimal
/// arithmetic; the unit test `table_is_correctly_rounded` checks every entry in double-double arithmetic).
#[rustfmt::skip]
static TABLE: [u64; TABLE_LEN] = [
    0x3ff0000000000000, 0x3ff00b1afa5abcbf, 0x3ff0163da9fb3335, 0x3ff02168143b0281,
    0x3ff02c9a3e778061, 0x3ff037d42e11bbcc, 0x3ff04315e86e7f85, 0x3ff04e5f72f654b1,
    0x3ff059b0d3158574, 0x3ff0650a0e3c1f89, 0x3ff0706b29ddf6de, 0x3ff07bd42b72a836,
    0x3ff0874518759bc8, 0x3ff092bdf66607e0, 0x3ff09e3ecac6f383, 0x3ff0a9c79b1f3919,
    0x3ff0b5586cf9890f, 0x3ff0c0f145e46c85, 0x3ff0cc922b7247f7, 0x3ff0d83b23395dec,
    0x3ff0e3ec32d3d1a2, 0x3ff0efa55fdfa9c5, 0x3ff0fb66affed31b, 0x3ff1073028d7233e,
    0x3ff11301d0125b51, 0x3ff11edbab5e2ab6, 0x3ff12abdc06c31cc, 0x3ff136a814f204ab,
    0x3ff1429aaea92de0, 0x3ff14e95934f312e, 0x3ff15a98c8a58e51, 0x3ff166a45471c3c2,
    0x3ff172b83c7d517b, 0x3ff17ed48695bbc0, 0x3ff18af9388c8dea, 0x3ff1972658375d2f,
    0x3ff1a35beb6fcb75, 0x3ff1af99f8138a1c, 0x3ff1bbe084045cd4, 0x3ff1c82f95281c6b,
    0x3ff1d4873168b9aa, 0x3ff1e0e75eb44027, 0x3ff1ed5022fcd91d, 0x3ff1f9c18438ce4d,
    0x3ff2063b88628cd6, 0x3ff212be3578a819, 0x3ff21f49917ddc96, 0x3ff22bdda27912d1,
    0x3ff2387a6e756238, 0x3ff2451ffb82140a, 0x3ff251ce4fb2a63f, 0x3ff25e85711ece75,
    0x3ff26b4565e27cdd, 0x3ff2780e341ddf29, 0x3ff284dfe1f56381, 0x3ff291ba7591bb70,
    0x3ff29e9df51fdee1, 0x3ff2ab8a66d10f13, 0x3ff2b87fd0dad990, 0x3ff2c57e39771b2f,
    0x3ff2d285a6e4030b, 0x3ff2df961f641589, 0x3ff2ecafa93e2f56, 0x3ff2f9d24abd886b,
    0x3ff306fe0a31b715, 0x3ff31432edeeb2fd, 0x3ff32170fc4cd831, 0x3ff32eb83ba8ea32,
    0x3ff33c08b26416ff, 0x3ff3496266e3fa2d, 0x3ff356c55f929ff1, 0x3ff36431a2de883b,
    0x3ff371a7373aa9cb, 0x3ff37f26231e754a, 0x3ff38cae6d05d866, 0x3ff39a401b7140ef,
    0x3ff3a7db34e59ff7, 0x3ff3b57fbfec6cf4, 0x3ff3c32dc313a8e5, 0x3ff3d0e544ede173,
    0x3ff3dea64c123422, 0x3ff3ec70df1c5175, 0x3ff3fa4504ac801c, 0x3ff40822c367a024,
    0x3ff4160a21f72e2a, 0x3ff423fb2709468a, 0x3ff431f5d950a897, 0x3ff43ffa3f84b9d4,
    0x3ff44e086061892d, 0x3ff45c2042a7d232, 0x3ff46a41ed1d0057, 0x3ff4786d668b3237,
    0x3ff486a2b5c13cd0, 0x3ff494e1e192aed2, 0x3ff4a32af0d7d3de, 0x3ff4b17dea6db7d7,
    0x3ff4bfdad5362a27, 0x3ff4ce41b817c114, 0x3ff4dcb299fddd0d, 0x3ff4eb2d81d8abff,
    0x3ff4f9b2769d2ca7, 0x3ff508417f4531ee, 0x3ff516daa2cf6642, 0x3ff5257de83f4eef,
    0x3ff5342b569d4f82, 0x3ff542e2f4f6ad27, 0x3ff551a4ca5d920f, 0x3ff56070dde910d2,
    0x3ff56f4736b527da, 0x3ff57e27dbe2c4cf, 0x3ff58d12d497c7fd, 0x3ff59c0827ff07cc,
    0x3ff5ab07dd485429, 0x3ff5ba11fba87a03, 0x3ff5c9268a5946b7, 0x3ff5d84590998b93,
    0x3ff5e76f15ad2148, 0x3ff5f6a320dceb71, 0x3ff605e1b976dc09, 0x3ff6152ae6cdf6f4,
    0x3ff6247eb03a5585, 0x3ff633dd1d1929fd, 0x3ff6434634ccc320, 0x3ff652b9febc8fb7,
    0x3ff6623882552225, 0x3ff671c1c70833f6, 0x3ff68155d44ca973, 0x3ff690f4b19e9538,
    0x3ff6a09e667f3bcd, 0x3ff6b052fa75173e, 0x3ff6c012750bdabf, 0x3ff6cfdcddd47645,
    0x3ff6dfb23c651a2f, 0x3ff6ef9298593ae5, 0x3ff6ff7df9519484, 0x3ff70f7466f42e87,
    0x3ff71f75e8ec5f74, 0x3ff72f8286ead08a, 0x3ff73f9a48a58174, 0x3ff74fbd35d7cbfd,
    0x3ff75feb564267c9, 0x3ff77024b1ab6e09, 0x3ff780694fde5d3f, 0x3ff790b938ac1cf6,
    0x3ff7a11473eb0187, 0x3ff7b17b0976cfdb, 0x3ff7c1ed0130c132, 0x3ff7d26a62ff86f0,
    0x3ff7e2f336cf4e62, 0x3ff7f3878491c491, 0x3ff80427543e1a12, 0x3ff814d2add106d9,
    0x3ff82589994cce13, 0x3ff8364c1eb941f7, 0x3ff8471a4623c7ad, 0x3ff857f4179f5b21,
    0x3ff868d99b4492ed, 0x3ff879cad931a436, 0x3ff88ac7d98a6699, 0x3ff89bd0a478580f,
    0x3ff8ace5422aa0db, 0x3ff8be05bad61778, 0x3ff8cf3216b5448c, 0x3ff8e06a5e0866d9,
    0x3ff8f1ae99157736, 0x3ff902fed0282c8a, 0x3ff9145b0b91ffc6, 0x3ff925c353aa2fe2,
    0x3ff93737b0cdc5e5, 0x3ff948b82b5f98e5, 0x3ff95a44cbc8520f, 0x3ff96bdd9a7670b3,
    0x3ff97d829fde4e50, 0x3ff98f33e47a22a2, 0x3ff9a0f170ca07ba, 0x3ff9b2bb4d53fe0d,
    0x3ff9c49182a3f090, 0x3ff9d674194bb8d5, 0x3ff9e86319e32323, 0x3ff9fa5e8d07f29e,
    0x3ffa0c667b5de565, 0x3ffa1e7aed8eb8bb, 0x3ffa309bec4a2d33, 0x3ffa42c980460ad8,
    0x3ffa5503b23e255d, 0x3ffa674a8af46052, 0x3ffa799e1330b358, 0x3ffa8bfe53c12e59,
    0x3ffa9e6b5579fdbf, 0x3ffab0e521356eba, 0x3ffac36bbfd3f37a, 0x3ffad5ff3a3c2774,
    0x3ffae89f995ad3ad, 0x3ffafb4ce622f2ff, 0x3ffb0e07298db666, 0x3ffb20ce6c9a8952,
    0x3ffb33a2b84f15fb, 0x3ffb468415b749b1, 0x3ffb59728de5593a, 0x3ffb6c6e29f1c52a,
    0x3ffb7f76f2fb5e47, 0x3ffb928cf22749e4, 0x3ffba5b030a1064a, 0x3ffbb8e0b79a6f1f,
    0x3ffbcc1e904bc1d2, 0x3ffbdf69c3f3a207, 0x3ffbf2c25bd71e09, 0x3ffc06286141b33d,
    0x3ffc199bdd85529c, 0x3ffc2d1cd9fa652c, 0x3ffc40ab5fffd07a, 0x3ffc544778fafb22,
    0x3ffc67f12e57d14b, 0x3ffc7ba88988c933, 0x3ffc8f6d9406e7b5, 0x3ffca3405751c4db,
    0x3ffcb720dcef9069, 0x3ffccb0f2e6d1675, 0x3ffcdf0b555dc3fa, 0x3ffcf3155b5bab74,
    0x3ffd072d4a07897c, 0x3ffd1b532b08c968, 0x3ffd2f87080d89f2, 0x3ffd43c8eacaa1d6,
    0x3ffd5818dcfba487, 0x3ffd6c76e862e6d3, 0x3ffd80e316c98398, 0x3ffd955d71ff6075,
    0x3ffda9e603db3285, 0x3ffdbe7cd63a8315, 0x3ffdd321f301b460, 0x3ffde7d5641c0658,
    0x3ffdfc97337b9b5f, 0x3ffe11676b197d17, 0x3ffe264614f5a129, 0x3ffe3b333b16ee12,
    0x3ffe502ee78b3ff6, 0x3ffe653924676d76, 0x3ffe7a51fbc74c83, 0x3ffe8f7977cdb740,
    0x3ffea4afa2a490da, 0x3ffeb9f4867cca6e, 0x3ffecf482d8e67f1, 0x3ffee4aaa2188510,
    0x3ffefa1bee615a27, 0x3fff0f9c1cb6412a, 0x3fff252b376bba97, 0x3fff3ac948dd7274,
    0x3fff50765b6e4540, 0x3fff6632798844f8, 0x3fff7bfdad9cbe14, 0x3fff91d802243c89,
    0x3fffa7c1819e90d8, 0x3fffbdba3692d514, 0x3fffd3c22b8f71f1, 0x3fffe9d96b2a23d9,
];

/// e^x for finite x; saturates at exp(-708) and exp(709) outside that range.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(X_MIN, X_MAX);
    let t = x * INV_STEP + ROUND_MAGIC;
    let k = t - ROUND_MAGIC;
    let r = (x - k * STEP_HI) - k * STEP_LO;
    // e^r - 1 by Estrin's scheme (a short dependency chain, so the vectorised loop is not latency-bound).
    let r2 = r * r;
    let r4 = r2 * r2;
    let q = (r + r2 * (0.5 + r * (1.0 / 6.0))) + r4 * (1.0 / 24.0 + r * (1.0 / 120.0));
    // The low mantissa bits of t hold k = 256 m + j (two's complement): j indexes the table, m goes into the
    // exponent field (bits above the exponent's 11 fall off the shift, as does the 2^51 of ROUND_MAGIC).
    let bits = t.to_bits();
    let tj = f64::from_bits(TABLE[(bits & (TABLE_LEN as u64 - 1)) as usize]);
    let scale = f64::from_bits((bits >> TABLE_BITS).wrapping_add(1023) << 52);
    (tj + tj * q) * scale
}

#[inline(always)]
fn exp_in_place_body(xs: &mut [f64]) {
    for x in xs.iter_mut() {
        *x = exp(*x);
    }
}

crate::multiversion! {
    /// Applies [`exp`] elementwise in place, with the widest vectors the CPU has (see [`Level`](crate::simd::Level)).
    pub fn exp_in_place / exp_in_place_at(xs: &mut [f64]) => exp_in_place_body
}

/// Largest |x| for which [`exp_small`] is used: its degree-9 Taylor polynomial then errs by < 3e-19 relative.
pub const SMALL: f64 = 0.0625;

/// e^x for |x| <= [`SMALL`] without range reduction or table (Taylor, degree 9).
#[inline(always)]
pub fn exp_small(x: f64) -> f64 {
    // Estrin's scheme (see `exp`).
    let x2 = x * x;
    let x4 = x2 * x2;
    let p01 = 1.0 + x;
    let p23 = 0.5 + x * (1.0 / 6.0);
    let p45 = 1.0 / 24.0 + x * (1.0 / 120.0);
    let p67 = 1.0 / 720.0 + x * (1.0 / 5_040.0);
    let p89 = 1.0 / 40_320.0 + x * (1.0 / 362_880.0);
    let q0 = p01 + x2 * p23;
    let q1 = p45 + x2 * p67;
    (q0 + x4 * q1) + (x4 * x4) * p89
}

/// Whether every |x| <= [`SMALL`] (a NaN is not small). Branch-free, so it vectorises.
#[inline(always)]
pub fn all_small(xs: &[f64]) -> bool {
    xs.iter().fold(true, |ok, x| ok & (x.abs() <= SMALL))
}

#[inline(always)]
fn exp_in_place_auto_body(xs: &mut [f64]) {
    if all_small(xs) {
        for x in xs.iter_mut() {
            *x = exp_small(*x);
        }
    } else {
        exp_in_place_body(xs)
    }
}

crate::multiversion! {
    /// Like [`exp_in_place`], choosing the cheaper [`exp_small`] when every |x| <= [`SMALL`] (the exponent steps
    /// of closely spaced points). The choice depends only on the data, so results stay deterministic.
    pub fn exp_in_place_auto / exp_in_place_auto_at(xs: &mut [f64]) => exp_in_place_auto_body
}

#[cfg(test)]
mod tests {
    /// Relative agreement with libm's exp (itself within an ulp): two ulps (measured worst 2.2e-16).
    const FAST_EXP_REL: f64 = 4.5e-16;

    /// Error-free product and sum (Dekker / Knuth), for a double-double reference.
    fn two_prod(a: f64, b: f64) -> (f64, f64) {
        let p = a * b;
        (p, a.mul_add(b, -p))
    }
    fn two_sum(a: f64, b: f64) -> (f64, f64) {
        let s = a + b;
        let bb = s - a;
        (s, (a - (s - bb)) + (b - bb))
    }
    fn dd_add(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        let (s, e) = two_sum(a.0, b.0);
        two_sum(s, e + a.1 + b.1)
    }
    fn dd_mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        let (p, e) = two_prod(a.0, b.0);
        two_sum(p, e + a.0 * b.1 + a.1 * b.0)
    }
    /// a / n for a small integer n: the quotient's error comes back exactly from an FMA.
    fn dd_div(a: (f64, f64), n: f64) -> (f64, f64) {
        let q = a.0 / n;
        let r = (-q).mul_add(n, a.0);
        two_sum(q, (r + a.1) / n)
    }

    #[test]
    fn table_is_correctly_rounded() {
        // 2^(j/256) = e^y with y = j ln2 / 256 in double-double (fdlibm's ln2_hi + ln2_lo carry ln 2 to ~1e-26),
        // by its Taylor series (y < 0.7: 40 terms reach 1e-60). Each entry must be the f64 nearest that value:
        // closer to it than either neighbour.
        let ln2 = (
            f64::from_bits(0x3fe6_2e42_fee0_0000),
            f64::from_bits(0x3dea_39ef_3579_3c76),
        );
        for j in 0..super::TABLE_LEN {
            let y = dd_mul(ln2, (j as f64 / 256.0, 0.0));
            let (mut sum, mut term) = ((1.0, 0.0), (1.0, 0.0));
            for n in 1..40 {
                term = dd_div(dd_mul(term, y), n as f64);
                sum = dd_add(sum, term);
            }
            let t = f64::from_bits(super::TABLE[j]);
            let dist = |v: f64| ((v - sum.0) - sum.1).abs();
            let (up, down) = (f64::from_bits(t.to_bits() + 1), f64::from_bits(t.to_bits() - 1));
            assert!(
                dist(t) < dist(up) && dist(t) < dist(down),
                "2^({j}/256): table {t:e}, reference {:e} + {:e}",
                sum.0,
                sum.1
            );
        }
    }

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
        // Every vector level this CPU has gives the bits of the scalar code, for both kinds of input.
        let wide: Vec<f64> = (0..1001).map(|i| -30.0 + 0.0637 * i as f64).collect();
        let narrow: Vec<f64> = (0..1001).map(|i| -0.05 + 1e-4 * i as f64).collect();
        for level in crate::simd::Level::supported() {
            let mut v = wide.clone();
            super::exp_in_place_at(level, &mut v);
            let mut w = narrow.clone();
            super::exp_in_place_auto_at(level, &mut w);
            for (x, y) in wide.iter().zip(&v) {
                assert_eq!(super::exp(*x).to_bits(), y.to_bits(), "{level:?}: exp({x})");
            }
            for (x, y) in narrow.iter().zip(&w) {
                assert_eq!(
                    super::exp_small(*x).to_bits(),
                    y.to_bits(),
                    "{level:?}: exp_small({x})"
                );
            }
        }
    }
}
