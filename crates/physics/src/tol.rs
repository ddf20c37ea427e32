//! Named tolerances used by numerical routines and tests (never inline a bare `1e-9`).
//!
//! Relative tolerances compare `|a - b| <= REL * max(|a|, |b|)`; Monte Carlo checks are expressed in estimated
//! standard errors instead (see [`MC_SIGMAS`]).

/// Newton iteration for quadrature nodes stops when the step is below this (absolute, nodes are O(1..10)).
pub const NODE_NEWTON: f64 = 1e-14;
/// Agreement expected between a closed form and a converged quadrature of the same integral (relative).
pub const QUADRATURE_REL: f64 = 1e-9;
/// Agreement between two algebraically identical evaluations in floating point (relative).
pub const ALGEBRA_REL: f64 = 1e-12;
/// Number of estimated standard errors a Monte Carlo estimate may deviate from its exact value in tests.
/// Five sigma keeps the false-alarm rate of the whole suite (a few hundred comparisons) well below 1e-3.
pub const MC_SIGMAS: f64 = 5.0;

/// `true` when `a` and `b` agree to relative tolerance `rel` (with an absolute floor of `rel` near zero).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300) || (a - b).abs() <= rel * f64::MIN_POSITIVE.sqrt()
}
