//! An autonomous ODE dy/dt = f(y) in R^N, integrated by the embedded Dormand-Prince 5(4) Runge-Kutta method
//! with error control and first-same-as-last stages (Dormand & Prince 1980; Hairer, Norsett & Wanner, Solving
//! Ordinary Differential Equations I, section II.5, table 5.2), sampled at evenly spaced t.
//!
//! The step is advanced with the fifth-order solution; the difference from the embedded fourth-order one is the
//! error estimate, compared per component with `atol + rtol max(|y|, |y_new|)`.

use crate::error::{Error, finite};

/// Runge-Kutta matrix a_ij of the Dormand-Prince 5(4) pair (row i: the stage, column j < i: earlier stages).
/// The nodes c_i = (0, 1/5, 3/10, 4/5, 8/9, 1, 1) are not needed: the system is autonomous.
pub const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Weights of the fifth-order solution: the last row of [`A`] (first same as last: the seventh stage, evaluated
/// at the new point, is the first stage of the next step).
pub const B5: [f64; 7] = {
    let a = A[6];
    [a[0], a[1], a[2], a[3], a[4], a[5], 0.0]
};
/// Weights of the embedded fourth-order solution.
pub const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];
/// Stages per step.
const STAGES: usize = 7;

/// Step-size control: h_new = h SAFETY err^ERR_EXPONENT, clamped to [MIN_FACTOR, MAX_FACTOR] times h.
pub const SAFETY: f64 = 0.9;
/// -1/(q + 1) for the error estimate of order q = 4.
pub const ERR_EXPONENT: f64 = -0.2;
/// Smallest factor a step shrinks by (also after a step that left the finite numbers).
pub const MIN_FACTOR: f64 = 0.1;
/// Largest factor a step grows by (also after a step with zero estimated error).
pub const MAX_FACTOR: f64 = 5.0;
/// The first step is the whole interval divided by this ...
pub const INITIAL_STEPS: f64 = 100.0;
/// ... but at least this long.
pub const MIN_INITIAL_STEP: f64 = 1e-6;
/// A step shorter than this times (1 + |t|) ends the integration as a step-size underflow.
pub const STEP_UNDERFLOW_REL: f64 = 1e-14;

/// Tolerances of the adaptive solver: error per step and component <= atol + rtol |y|.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

/// Default relative tolerance.
pub const DEFAULT_RTOL: f64 = 1e-10;
/// Default absolute tolerance.
pub const DEFAULT_ATOL: f64 = 1e-12;

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: DEFAULT_RTOL,
            atol: DEFAULT_ATOL,
        }
    }
}

/// Why an integration ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End<H> {
    /// Reached the end of the interval.
    Done,
    /// The system's halting condition fired after the step to `t`.
    Halted { reason: H, t: f64 },
    /// The step size underflowed (stiffness or a singularity) at `t`.
    StepUnderflow { t: f64 },
}

/// Samples (t, y) of one integration and how it ended.
#[derive(Debug, Clone)]
pub struct Solution<const N: usize, H> {
    pub t: Vec<f64>,
    pub y: Vec<[f64; N]>,
    pub end: End<H>,
    /// Accepted steps.
    pub steps: usize,
}

/// An autonomous system dy/dt = f(y) with a condition that ends the integration (a singularity ahead).
pub trait System<const N: usize> {
    /// Why the integration stopped early.
    type Halt;
    /// The right-hand side f(y).
    fn rhs(&self, y: [f64; N]) -> [f64; N];
    /// `Some` when the integration must stop at the (accepted) state `y`.
    fn halt(&self, y: &[f64; N]) -> Option<Self::Halt>;
}

/// The interval and sampling of one integration.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub t0: f64,
    /// End of the interval (t1 < t0 integrates backwards).
    pub t1: f64,
    /// Samples recorded at evenly spaced t, t0 and t1 included (at least 2).
    pub samples: usize,
}

/// Integrates `sys` from y(t0) = `y0` over `span` (either direction).
pub fn solve<const N: usize, S: System<N>>(
    sys: &S,
    y0: [f64; N],
    span: Span,
    tol: Tolerance,
) -> Result<Solution<N, S::Halt>, Error> {
    for (i, v) in y0.iter().enumerate() {
        finite(&format!("y0[{i}]"), *v)?;
    }
    let Span { t0, t1, samples } = span;
    finite("t0", t0)?;
    finite("t1", t1)?;
    let dir = if t1 >= t0 { 1.0 } else { -1.0 };
    let samples = samples.max(2);
    let targets: Vec<f64> = (0..samples)
        .map(|i| t0 + (t1 - t0) * i as f64 / (samples - 1) as f64)
        .collect();
    let mut sol = Solution {
        t: vec![t0],
        y: vec![y0],
        end: End::Done,
        steps: 0,
    };
    let mut next = 1;
    let (mut t, mut u) = (t0, y0);
    let mut h = dir * ((t1 - t0).abs() / INITIAL_STEPS).max(MIN_INITIAL_STEP);
    let mut k = [[0.0; N]; STAGES];
    k[0] = sys.rhs(u);
    while next < samples {
        let target = targets[next];
        if (target - t) * dir <= 0.0 {
            sol.t.push(target);
            sol.y.push(u);
            next += 1;
            continue;
        }
        if h.abs() < STEP_UNDERFLOW_REL * (1.0 + t.abs()) {
            sol.end = End::StepUnderflow { t };
            return Ok(sol);
        }
        let step = if (t + h - target) * dir > 0.0 {
            target - t
        } else {
            h
        };
        for s in 1..STAGES {
            let mut y = u;
            for (j, kj) in k.iter().enumerate().take(s) {
                for c in 0..N {
                    y[c] += step * A[s][j] * kj[c];
                }
            }
            k[s] = sys.rhs(y);
        }
        let mut u5 = u;
        let mut err: f64 = 0.0;
        for c in 0..N {
            let (mut s5, mut s4) = (0.0, 0.0);
            for s in 0..STAGES {
                s5 += B5[s] * k[s][c];
                s4 += B4[s] * k[s][c];
            }
            u5[c] = u[c] + step * s5;
            let sc = tol.atol + tol.rtol * u[c].abs().max(u5[c].abs());
            err = err.max((step * (s5 - s4)).abs() / sc);
        }
        let finite = u5.iter().all(|v| v.is_finite());
        if finite && err <= 1.0 {
            t += step;
            u = u5;
            sol.steps += 1;
            k[0] = k[STAGES - 1]; // first same as last
            if let Some(reason) = sys.halt(&u) {
                sol.end = End::Halted { reason, t };
                sol.t.push(t);
                sol.y.push(u);
                return Ok(sol);
            }
            if (t - target) * dir >= 0.0 {
                sol.t.push(target);
                sol.y.push(u);
                next += 1;
            }
        }
        let factor = if !finite {
            MIN_FACTOR
        } else if err == 0.0 {
            MAX_FACTOR
        } else {
            (SAFETY * err.powf(ERR_EXPONENT)).clamp(MIN_FACTOR, MAX_FACTOR)
        };
        h = step * factor;
        if !finite || err > 1.0 {
            k[0] = sys.rhs(u);
        }
    }
    Ok(sol)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Harmonic oscillator y'' = -y: y(t) = (cos t, -sin t) from (1, 0).
    struct Oscillator;
    impl System<2> for Oscillator {
        type Halt = ();
        fn rhs(&self, y: [f64; 2]) -> [f64; 2] {
            [y[1], -y[0]]
        }
        fn halt(&self, _: &[f64; 2]) -> Option<()> {
            None
        }
    }

    /// y' = y^2 from y(0) = 1: y = 1/(1 - t), a pole at t = 1.
    struct Blowup;
    impl System<1> for Blowup {
        type Halt = f64;
        fn rhs(&self, y: [f64; 1]) -> [f64; 1] {
            [y[0] * y[0]]
        }
        fn halt(&self, y: &[f64; 1]) -> Option<f64> {
            (y[0] > 1e6).then_some(y[0])
        }
    }

    /// Global error over a few periods stays within a small multiple of the per-step tolerance times the steps.
    const GLOBAL_TOL: f64 = 1e-7;

    #[test]
    fn the_tableau_is_consistent() {
        // Row sums are the nodes c_i = (0, 1/5, 3/10, 4/5, 8/9, 1, 1); both weight vectors sum to 1; the
        // fifth-order weights integrate t^4 exactly (sum b_i c_i^4 = 1/5), the fourth-order ones t^3.
        let c = [0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
        for (i, row) in A.iter().enumerate() {
            assert!((row.iter().sum::<f64>() - c[i]).abs() < 1e-14, "row {i}");
        }
        let moment = |b: &[f64; 7], k: i32| b.iter().zip(&c).map(|(b, c)| b * c.powi(k)).sum::<f64>();
        for k in 0..5 {
            assert!((moment(&B5, k) - 1.0 / (k + 1) as f64).abs() < 1e-14, "B5, t^{k}");
        }
        for k in 0..4 {
            assert!((moment(&B4, k) - 1.0 / (k + 1) as f64).abs() < 1e-14, "B4, t^{k}");
        }
    }

    #[test]
    fn the_oscillator_follows_cos_and_sin_forwards_and_backwards() {
        let tol = Tolerance {
            rtol: 1e-10,
            atol: 1e-12,
        };
        for t1 in [10.0, -10.0] {
            let s = solve(
                &Oscillator,
                [1.0, 0.0],
                Span {
                    t0: 0.0,
                    t1,
                    samples: 11,
                },
                tol,
            )
            .unwrap();
            assert_eq!(s.end, End::Done);
            assert_eq!(s.t.len(), 11);
            for (t, y) in s.t.iter().zip(&s.y) {
                assert!(
                    (y[0] - t.cos()).abs() < GLOBAL_TOL,
                    "t={t}: {} vs {}",
                    y[0],
                    t.cos()
                );
                assert!(
                    (y[1] + t.sin()).abs() < GLOBAL_TOL,
                    "t={t}: {} vs {}",
                    y[1],
                    -t.sin()
                );
            }
            assert_eq!(*s.t.last().unwrap(), t1);
        }
    }

    #[test]
    fn the_error_is_fifth_order_in_the_tolerance() {
        // Tightening rtol by 10^5 tightens the end-point error by roughly that much (at least 10^3).
        let err = |rtol: f64| {
            let s = solve(
                &Oscillator,
                [1.0, 0.0],
                Span {
                    t0: 0.0,
                    t1: 5.0,
                    samples: 2,
                },
                Tolerance { rtol, atol: rtol },
            )
            .unwrap();
            (s.y[1][0] - 5f64.cos()).abs()
        };
        let (coarse, fine) = (err(1e-4), err(1e-9));
        assert!(coarse > 1e3 * fine, "{coarse} vs {fine}");
    }

    #[test]
    fn a_halt_condition_stops_before_the_pole() {
        let s = solve(
            &Blowup,
            [1.0],
            Span {
                t0: 0.0,
                t1: 2.0,
                samples: 5,
            },
            Tolerance::default(),
        )
        .unwrap();
        let End::Halted { reason, t } = s.end else {
            panic!("{:?}", s.end)
        };
        assert!(
            reason > 1e6 && t < 1.0 && (1.0 / (1.0 - t) / reason - 1.0).abs() < 1e-4,
            "{reason} at {t}"
        );
        assert!(
            solve(
                &Blowup,
                [f64::NAN],
                Span {
                    t0: 0.0,
                    t1: 1.0,
                    samples: 2
                },
                Tolerance::default()
            )
            .is_err()
        );
        assert!(
            solve(
                &Blowup,
                [1.0],
                Span {
                    t0: 0.0,
                    t1: f64::INFINITY,
                    samples: 2
                },
                Tolerance::default()
            )
            .is_err()
        );
    }
}
