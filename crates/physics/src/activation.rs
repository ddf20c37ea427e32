//! The activations g (PHYSICS.md 1, 10) and their Gaussian expectations: E[g(u) g(v)] for (u, v) ~ N(0, K) in
//! closed form where one exists (ReLU: arc-cosine kernel; Erf: arcsine kernel; linear: K itself; GaussNet:
//! log-normal algebra), otherwise by a tensor quadrature against the normal density whose convergence is checked
//! by doubling the node count; and the one-point averages <g^m>_K with their derivative in K (the four-point
//! vertex, [`crate::vertex`]).
//!
//! The rule is composite Gauss-Legendre on [-9, 9] standard deviations with the normal density in the weights
//! (beyond 9 the density is below 1e-18), not Gauss-Hermite: measured here, Gauss-Hermite with 384 nodes still
//! misses E[erf(u) erf(v)] by more than 1e-9, because erf and tanh grow (or have poles) off the real axis, which
//! is what slows Gauss-Hermite down; the composite rule converges within a few doublings.
//!
//! Every function here is plain IEEE arithmetic (libm, or the table exponential of [`crate::fastexp`], which
//! rounds alike at every vector level), so the samplers that call [`apply`] or [`apply_in_place`] give the same
//! bits at every vector level. tanh and swish use that exponential (tanh(z) = 1 - 2 / (e^(2z) + 1)), so that
//! the sampling loops vectorise: libm's tanh made the tanh pipeline's sampling four times slower. Their absolute
//! error is below 1e-15 (tested against libm), far under any statistical resolution; the quadratures use the same
//! definitions, so exact values and samples describe the same function.

use crate::kernel::relu_arc;
use crate::quad::{Rule, legendre};
use crate::tol::QUADRATURE_REL;
use crate::{Arch, Error};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Half-width of the integration range in standard deviations.
const RANGE: f64 = 9.0;
/// Gauss-Legendre nodes per panel.
const PANEL_NODES: usize = 8;
/// First panel count of the doubling sequence.
const PANELS_START: usize = 16;
/// Largest panel count tried (1024 nodes per dimension); a rule of this size that still changes the result by
/// more than [`QUADRATURE_REL`] is reported as not converged.
const PANELS_MAX: usize = 128;

/// Composite Gauss-Legendre nodes on [-RANGE, RANGE] with the standard normal density in the weights.
pub(crate) fn normal_rule(panels: usize) -> Rule {
    let gl = legendre(PANEL_NODES);
    let h = 2.0 * RANGE / panels as f64;
    let mut rule = Rule {
        nodes: Vec::with_capacity(panels * PANEL_NODES),
        weights: Vec::with_capacity(panels * PANEL_NODES),
    };
    for k in 0..panels {
        let mid = -RANGE + (k as f64 + 0.5) * h;
        for (x, w) in gl.nodes.iter().zip(&gl.weights) {
            let t = mid + 0.5 * h * x;
            rule.nodes.push(t);
            rule.weights
                .push(0.5 * h * w * (-0.5 * t * t).exp() / (2.0 * PI).sqrt());
        }
    }
    rule
}

/// g(z) for the activations that depend on z alone. GaussNet's g = exp(z - s(x)) needs the point's variance
/// s(x); this returns exp(z) for it (the caller divides by exp(s)).
#[inline]
pub fn apply(arch: Arch, z: f64) -> f64 {
    match arch {
        Arch::GaussNet => libm::exp(z),
        Arch::Erf => libm::erf(z),
        Arch::Relu => z.max(0.0),
        Arch::Tanh => tanh(z),
        Arch::Linear => z,
        Arch::Gelu => 0.5 * z * (1.0 + libm::erf(z * FRAC_1_SQRT_2)),
        Arch::Swish => swish(z),
    }
}

/// tanh(z) = 1 - 2 / (e^(2z) + 1) with the vectorisable exponential (saturating at +-1 for |z| > 354).
#[inline(always)]
pub fn tanh(z: f64) -> f64 {
    1.0 - 2.0 / (crate::fastexp::exp(2.0 * z) + 1.0)
}

/// swish(z) = z / (1 + e^(-z)) with the vectorisable exponential.
#[inline(always)]
pub fn swish(z: f64) -> f64 {
    z / (1.0 + crate::fastexp::exp(-z))
}

#[inline(always)]
fn tanh_body(zs: &mut [f64]) {
    for z in zs.iter_mut() {
        *z = tanh(*z);
    }
}

#[inline(always)]
fn swish_body(zs: &mut [f64]) {
    for z in zs.iter_mut() {
        *z = swish(*z);
    }
}

crate::multiversion! {
    /// [`tanh`] elementwise, with the widest vectors the CPU has (the same bits at every level).
    fn tanh_in_place / tanh_in_place_at(zs: &mut [f64]) => tanh_body
}

crate::multiversion! {
    /// [`swish`] elementwise, with the widest vectors the CPU has (the same bits at every level).
    fn swish_in_place / swish_in_place_at(zs: &mut [f64]) => swish_body
}

/// [`apply`] on every element.
pub fn apply_in_place(arch: Arch, zs: &mut [f64]) {
    match arch {
        Arch::Tanh => tanh_in_place(zs),
        Arch::Swish => swish_in_place(zs),
        Arch::Relu => {
            for z in zs.iter_mut() {
                // A select rather than f64::max (whose NaN rule costs instructions); z is never NaN here
                // unless the network overflowed, which the sample stage reports.
                *z = if *z > 0.0 { *z } else { 0.0 };
            }
        }
        Arch::Linear => {}
        _ => {
            for z in zs.iter_mut() {
                *z = apply(arch, *z);
            }
        }
    }
}

/// Whether E[g(u) g(v)] has a closed form (no quadrature).
pub fn has_closed_form(arch: Arch) -> bool {
    matches!(arch, Arch::GaussNet | Arch::Erf | Arch::Relu | Arch::Linear)
}

/// E[g(u) g(v)] for (u, v) ~ N(0, [[kxx, kxy], [kxy, kyy]]): closed forms for GaussNet (with its normalisation
/// exp(-s) per point, s the variance), Erf, ReLU and linear, else 2-D Gauss-Hermite converged by doubling.
pub fn pair_expectation(arch: Arch, kxx: f64, kxy: f64, kyy: f64) -> Result<f64, Error> {
    match arch {
        Arch::GaussNet => Ok((kxy - 0.5 * (kxx + kyy)).exp()),
        Arch::Erf => {
            let arg = (2.0 * kxy / ((1.0 + 2.0 * kxx) * (1.0 + 2.0 * kyy)).sqrt()).clamp(-1.0, 1.0);
            Ok(2.0 / PI * arg.asin())
        }
        Arch::Relu => Ok(relu_arc(1.0, kxy, kxx, kyy)),
        Arch::Linear => Ok(kxy),
        // One point (the diagonal of a kernel): a 1-D integral.
        _ if kxx == kxy && kxy == kyy => moment(arch, kxx, 2),
        _ => converged(|rule| pair_rule(arch, kxx, kxy, kyy, rule)),
    }
}

/// The tensor-rule estimate of E[g(u) g(v)], u = a z1, v = b (rho z1 + sqrt(1-rho^2) z2), and of E|g(u) g(v)|
/// (the scale of the convergence test, so that a vanishing expectation converges too).
fn pair_rule(arch: Arch, kxx: f64, kxy: f64, kyy: f64, rule: &Rule) -> (f64, f64) {
    let (a, b) = (kxx.max(0.0).sqrt(), kyy.max(0.0).sqrt());
    let rho = if a > 0.0 && b > 0.0 {
        (kxy / (a * b)).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let perp = (1.0 - rho * rho).max(0.0).sqrt();
    let (mut total, mut abs) = (0.0, 0.0);
    for (z1, w1) in rule.nodes.iter().zip(&rule.weights) {
        let gu = apply(arch, a * z1);
        if gu == 0.0 {
            continue;
        }
        let (mut inner, mut inner_abs) = (0.0, 0.0);
        for (z2, w2) in rule.nodes.iter().zip(&rule.weights) {
            let gv = apply(arch, b * (rho * z1 + perp * z2));
            inner += w2 * gv;
            inner_abs += w2 * gv.abs();
        }
        total += w1 * gu * inner;
        abs += w1 * gu.abs() * inner_abs;
    }
    (total, abs)
}

/// Runs `estimate` (value, scale) with rules of doubling size until two successive values agree to
/// [`QUADRATURE_REL`] times the scale (E|integrand|, so that an expectation that vanishes converges too).
fn converged(estimate: impl Fn(&Rule) -> (f64, f64)) -> Result<f64, Error> {
    let mut panels = PANELS_START;
    let (mut prev, _) = estimate(&normal_rule(panels));
    while panels < PANELS_MAX {
        panels *= 2;
        let (next, scale) = estimate(&normal_rule(panels));
        if (next - prev).abs() <= QUADRATURE_REL * scale.max(f64::MIN_POSITIVE) {
            return Ok(next);
        }
        prev = next;
    }
    Err(Error::Unsupported(format!(
        "the Gaussian quadrature did not converge to {QUADRATURE_REL:e} with {} nodes per dimension (the \
         pre-activation variance is likely too large for a smooth activation: reduce sigma_W or sigma_b)",
        PANELS_MAX * PANEL_NODES
    )))
}

/// Sum of w f(z) and of w |f(z)| over a rule.
fn one_d(rule: &Rule, f: impl Fn(f64) -> f64) -> (f64, f64) {
    rule.nodes
        .iter()
        .zip(&rule.weights)
        .fold((0.0, 0.0), |(s, a), (z, w)| {
            let v = f(*z);
            (s + w * v, a + w * v.abs())
        })
}

/// <g(u)^m> for u ~ N(0, k) (one point): closed forms for ReLU and linear, else Gauss-Hermite by doubling.
pub fn moment(arch: Arch, k: f64, m: i32) -> Result<f64, Error> {
    let k = k.max(0.0);
    match arch {
        // Normalised GaussNet (s = k): E[exp(m (u - k))] = exp(m (m - 2) k / 2) (PHYSICS.md 8).
        Arch::GaussNet => Ok((m as f64 * (m as f64 - 2.0) * k / 2.0).exp()),
        // E[relu(u)^m] = k^(m/2) E[Z^m] / 2 for even m; for odd m, k^(m/2) 2^(m/2) Gamma((m+1)/2) / (2 sqrt pi).
        Arch::Relu => Ok(k.powf(m as f64 / 2.0)
            * 2f64.powf(m as f64 / 2.0)
            * libm::tgamma((m as f64 + 1.0) / 2.0)
            / (2.0 * PI.sqrt())),
        Arch::Linear if m % 2 == 0 => Ok(k.powi(m / 2) * double_factorial(m - 1)),
        Arch::Linear => Ok(0.0),
        _ => {
            let a = k.sqrt();
            converged(|rule| one_d(rule, |z| apply(arch, a * z).powi(m)))
        }
    }
}

/// d<g(u)^m>/dk for u ~ N(0, k): by differentiating the Gaussian density in its variance,
/// d/dk E[F(u)] = E[F(u) (u^2 - k)] / (2 k^2), which needs no derivative of g (ReLU and linear in closed form).
pub fn moment_dk(arch: Arch, k: f64, m: i32) -> Result<f64, Error> {
    match arch {
        Arch::Relu | Arch::Linear => Ok(moment(arch, k, m)? * m as f64 / (2.0 * k)),
        Arch::GaussNet => Ok(moment(arch, k, m)? * m as f64 * (m as f64 - 2.0) / 2.0),
        _ => {
            let a = k.sqrt();
            converged(|rule| one_d(rule, |z| apply(arch, a * z).powi(m) * (z * z - 1.0) / (2.0 * k)))
        }
    }
}

/// (m)!! for odd m >= -1 (1 for m <= 0).
pub fn double_factorial(m: i32) -> f64 {
    let mut out = 1.0;
    let mut k = m;
    while k > 1 {
        out *= k as f64;
        k -= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol::close;

    /// Quadrature against closed forms: agreement to a few times the convergence tolerance.
    const REL: f64 = 1e-8;

    #[test]
    fn activations_take_their_textbook_values() {
        assert_eq!(apply(Arch::Relu, -1.5), 0.0);
        assert_eq!(apply(Arch::Relu, 2.5), 2.5);
        assert_eq!(apply(Arch::Linear, -0.3), -0.3);
        assert!((apply(Arch::Tanh, 0.5) - 0.46211715726000974).abs() < 1e-15);
        // GELU(1) = Phi(1) = 0.8413447460685429; swish(1) = 1 / (1 + e^-1).
        assert!(close(apply(Arch::Gelu, 1.0), 0.8413447460685429, 1e-15));
        assert!(close(apply(Arch::Swish, 1.0), 0.7310585786300049, 1e-15));
        assert!(close(apply(Arch::Gelu, -2.0), -2.0 * 0.022750131948179195, 1e-13));
        let mut v = vec![-1.0, 0.0, 2.0];
        apply_in_place(Arch::Relu, &mut v);
        assert_eq!(v, vec![0.0, 0.0, 2.0]);
    }

    #[test]
    fn vectorised_tanh_and_swish_match_libm_and_every_level() {
        // Absolute error against libm below 1e-15 over the whole range, saturation included.
        let zs: Vec<f64> = (-4000..=4000)
            .map(|i| i as f64 * 0.01)
            .chain([1e-300, -1e-8, 400.0, -800.0])
            .collect();
        for &z in &zs {
            assert!((tanh(z) - libm::tanh(z)).abs() < 1e-15, "tanh({z})");
            let want = z / (1.0 + libm::exp(-z));
            assert!(
                (swish(z) - want).abs() < 1e-15 * want.abs().max(1.0),
                "swish({z})"
            );
        }
        for level in crate::simd::Level::supported() {
            let mut a = zs.clone();
            tanh_in_place_at(level, &mut a);
            let mut b = zs.clone();
            swish_in_place_at(level, &mut b);
            for (i, z) in zs.iter().enumerate() {
                assert_eq!(a[i].to_bits(), tanh(*z).to_bits(), "{level:?} tanh({z})");
                assert_eq!(b[i].to_bits(), swish(*z).to_bits(), "{level:?} swish({z})");
            }
        }
    }

    #[test]
    fn quadrature_reproduces_every_closed_form() {
        for (kxx, kxy, kyy) in [
            (1.0, 0.3, 2.0),
            (0.5, -0.49, 0.5),
            (3.0, 2.9, 3.0),
            (0.2, 0.0, 4.0),
        ] {
            for arch in [Arch::Erf, Arch::Relu, Arch::Linear] {
                let exact = pair_expectation(arch, kxx, kxy, kyy).unwrap();
                let q = converged(|r| pair_rule(arch, kxx, kxy, kyy, r));
                // ReLU's kink slows the rule down; the doubling reports that rather than a wrong value.
                match q {
                    // An absolute floor for the vanishing expectation (kxy = 0); the functions are O(1) here.
                    Ok(q) => assert!(
                        close(q, exact, REL) || (q - exact).abs() < REL,
                        "{arch:?} {kxx} {kxy} {kyy}: {q} vs {exact}"
                    ),
                    Err(_) => assert_eq!(arch, Arch::Relu),
                }
            }
        }
    }

    #[test]
    fn one_point_moments_match_known_values() {
        // Linear: <u^4> = 3 k^2. ReLU: <relu^2> = k/2, <relu^4> = 3k^2/2, <relu> = sqrt(k / 2 pi).
        assert!(close(moment(Arch::Linear, 2.0, 4).unwrap(), 12.0, 1e-15));
        assert!(close(moment(Arch::Relu, 2.0, 2).unwrap(), 1.0, 1e-14));
        assert!(close(moment(Arch::Relu, 2.0, 4).unwrap(), 6.0, 1e-14));
        assert!(close(
            moment(Arch::Relu, 2.0, 1).unwrap(),
            (1.0 / PI).sqrt(),
            1e-14
        ));
        // Erf: <erf(u)^2> = (2/pi) asin(2k / (1 + 2k)) from the closed-form kernel.
        let k: f64 = 0.7;
        let e2 = 2.0 / PI * (2.0 * k / (1.0 + 2.0 * k)).asin();
        assert!(close(moment(Arch::Erf, k, 2).unwrap(), e2, REL));
        // d/dk of that, by a central difference of the closed form.
        let h = 1e-5;
        let f = |k: f64| 2.0 / PI * (2.0 * k / (1.0 + 2.0 * k)).asin();
        let fd = (f(k + h) - f(k - h)) / (2.0 * h);
        assert!(close(moment_dk(Arch::Erf, k, 2).unwrap(), fd, 1e-8));
        assert!(close(moment_dk(Arch::Relu, 3.0, 4).unwrap(), 3.0 * 3.0, 1e-14));
    }

    #[test]
    fn non_convergence_is_an_error_not_a_wrong_number() {
        // tanh at an enormous variance is a step function: no rule of 1024 nodes resolves the step to 1e-9.
        let e = pair_expectation(Arch::Tanh, 1e12, 0.3e12, 1e12).unwrap_err();
        assert!(e.to_string().contains("did not converge"), "{e}");
    }
}
