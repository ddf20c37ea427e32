//! The local-potential-approximation flow of (ubar_2, ubar_4, ubar_6) with the Litim regulator (PHYSICS.md 6),
//! integrated in t = ln k by the Dormand-Prince solver of [`crate::ode`]; fixed points by Newton's method and
//! their stability exponents (eigenvalues of the linearised flow).

use crate::error::{Error, finite};
use crate::ode::{self, End, Span, System};
use std::f64::consts::PI;

pub use crate::ode::Tolerance;

/// K_d = (2 pi)^-d pi^(d/2) / Gamma(d/2 + 1).
pub fn k_d(d: f64) -> f64 {
    (2.0 * PI).powf(-d) * PI.powf(d / 2.0) / libm::tgamma(d / 2.0 + 1.0)
}

/// The flow k d ubar / dk of the truncated LPA in dimension d.
#[derive(Debug, Clone, Copy)]
pub struct Lpa {
    pub d: f64,
    kd: f64,
}

/// 1 + ubar_2 below this stops the integration: the propagator 1/(1 + ubar_2) diverges.
pub const POLE_MARGIN: f64 = 1e-6;
/// |ubar| above this stops the integration as a blow-up.
pub const BLOW_UP: f64 = 1e12;
/// A fixed point whose couplings are all smaller than this in magnitude is the Gaussian one.
pub const GAUSSIAN_ABS: f64 = 1e-10;

/// Newton's method for fixed points: starting values of ubar_2, ubar_4 and ubar_6 (every combination is tried).
pub const NEWTON_STARTS: ([f64; 5], [f64; 5], [f64; 3]) = (
    [-0.5, -0.2, 0.0, 0.3, 1.0],
    [-2.0, -0.5, 0.0, 0.5, 2.0],
    [-5.0, 0.0, 5.0],
);
/// Newton iterations per starting value.
pub const NEWTON_MAX_ITER: usize = 100;
/// Newton has converged when no component of its step exceeds this.
pub const NEWTON_STEP_TOL: f64 = 1e-13;
/// Two fixed points closer than this (relative, per component) are the same.
pub const SAME_FIXED_POINT_REL: f64 = 1e-7;
/// A Jacobian whose determinant is below this in magnitude is singular (Newton stops).
pub const SINGULAR_DET: f64 = 1e-300;

impl Lpa {
    pub fn new(d: f64) -> Result<Self, Error> {
        let d = finite("d (the flow needs a finite d >= 1)", d)?;
        if d < 1.0 {
            return Err(Error::OutOfRange {
                name: "d",
                value: d,
                why: "the flow needs d >= 1",
            });
        }
        Ok(Lpa { d, kd: k_d(d) })
    }

    /// beta(u) = k du/dk for u = (ubar_2, ubar_4, ubar_6).
    pub fn beta(&self, u: [f64; 3]) -> [f64; 3] {
        let (d, kd) = (self.d, self.kd);
        let p = 1.0 + u[0];
        [
            -2.0 * u[0] - kd * u[1] / (p * p),
            -(4.0 - d) * u[1] - kd * u[2] / (p * p) + 6.0 * kd * u[1] * u[1] / (p * p * p),
            -(6.0 - 2.0 * d) * u[2] + 30.0 * kd * u[1] * u[2] / (p * p * p)
                - 90.0 * kd * u[1].powi(3) / p.powi(4),
        ]
    }

    /// Jacobian d beta_i / d u_j (analytic).
    pub fn jacobian(&self, u: [f64; 3]) -> [[f64; 3]; 3] {
        let (d, k) = (self.d, self.kd);
        let p = 1.0 + u[0];
        let (p2, p3, p4, p5) = (p * p, p * p * p, p.powi(4), p.powi(5));
        let (u4, u6) = (u[1], u[2]);
        [
            [-2.0 + 2.0 * k * u4 / p3, -k / p2, 0.0],
            [
                2.0 * k * u6 / p3 - 18.0 * k * u4 * u4 / p4,
                -(4.0 - d) + 12.0 * k * u4 / p3,
                -k / p2,
            ],
            [
                -90.0 * k * u4 * u6 / p4 + 360.0 * k * u4.powi(3) / p5,
                30.0 * k * u6 / p3 - 270.0 * k * u4 * u4 / p4,
                -(6.0 - 2.0 * d) + 30.0 * k * u4 / p3,
            ],
        ]
    }
}

/// Why an integration ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// Reached the requested end scale.
    Done,
    /// 1 + ubar_2 fell below [`POLE_MARGIN`] at this k.
    Pole { k: f64 },
    /// A coupling exceeded [`BLOW_UP`] at this k.
    BlowUp { k: f64 },
    /// The step size underflowed (stiffness or a singularity) at this k.
    StepUnderflow { k: f64 },
}

impl Stop {
    pub fn describe(&self) -> String {
        match self {
            Stop::Done => "reached k_end".into(),
            Stop::Pole { k } => format!("1 + ubar_2 -> 0 at k = {k:.6e} (propagator pole)"),
            Stop::BlowUp { k } => format!("a coupling exceeded {BLOW_UP:e} at k = {k:.6e}"),
            Stop::StepUnderflow { k } => format!("step size underflow at k = {k:.6e}"),
        }
    }
}

/// One integrated trajectory: samples (k, ubar) and the reason it ended.
#[derive(Debug, Clone)]
pub struct Trajectory {
    pub k: Vec<f64>,
    pub u: Vec<[f64; 3]>,
    pub stop: Stop,
    pub steps: usize,
}

impl System<3> for Lpa {
    type Halt = Halt;
    fn rhs(&self, u: [f64; 3]) -> [f64; 3] {
        self.beta(u)
    }
    fn halt(&self, u: &[f64; 3]) -> Option<Halt> {
        if 1.0 + u[0] <= POLE_MARGIN {
            Some(Halt::Pole)
        } else if u.iter().any(|v| v.abs() > BLOW_UP) {
            Some(Halt::BlowUp)
        } else {
            None
        }
    }
}

/// What stops a flow before its end scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Halt {
    /// 1 + ubar_2 fell below [`POLE_MARGIN`].
    Pole,
    /// A coupling exceeded [`BLOW_UP`].
    BlowUp,
}

/// Integrates from (k_start, u0) to k_end (either direction), recording `samples` log-spaced points.
pub fn integrate(
    lpa: &Lpa,
    u0: [f64; 3],
    k_start: f64,
    k_end: f64,
    tol: Tolerance,
    samples: usize,
) -> Result<Trajectory, Error> {
    for (name, v) in [("ubar_2", u0[0]), ("ubar_4", u0[1]), ("ubar_6", u0[2])] {
        finite(name, v)?;
    }
    for (name, v) in [("k_start", k_start), ("k_end", k_end)] {
        finite(name, v)?;
        if v <= 0.0 {
            return Err(Error::OutOfRange {
                name,
                value: v,
                why: "scales must be > 0",
            });
        }
    }
    if 1.0 + u0[0] <= POLE_MARGIN {
        return Err(Error::OutOfRange {
            name: "ubar_2",
            value: u0[0],
            why: "the flow needs 1 + ubar_2 > 0",
        });
    }
    let span = Span {
        t0: k_start.ln(),
        t1: k_end.ln(),
        samples,
    };
    let sol = ode::solve(lpa, u0, span, tol)?;
    let stop = match sol.end {
        End::Done => Stop::Done,
        End::Halted {
            reason: Halt::Pole,
            t,
        } => Stop::Pole { k: t.exp() },
        End::Halted {
            reason: Halt::BlowUp,
            t,
        } => Stop::BlowUp { k: t.exp() },
        End::StepUnderflow { t } => Stop::StepUnderflow { k: t.exp() },
    };
    // The first sample is k_start itself, not exp(ln k_start).
    let k = std::iter::once(k_start)
        .chain(sol.t[1..].iter().map(|t| t.exp()))
        .collect();
    Ok(Trajectory {
        k,
        u: sol.y,
        stop,
        steps: sol.steps,
    })
}

/// A fixed point with its stability exponents (eigenvalues of the Jacobian; complex as (re, im)).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPoint {
    pub u: [f64; 3],
    pub exponents: Vec<(f64, f64)>,
}

/// Eigenvalues of a real 3x3 matrix: roots of its characteristic polynomial x^3 + a x^2 + b x + c in closed
/// form (Numerical Recipes 3rd ed. 5.6); complex pairs as (re, +-im), sorted by real part.
pub fn eigenvalues3(m: [[f64; 3]; 3]) -> Vec<(f64, f64)> {
    if m[1][0] == 0.0 && m[2][0] == 0.0 && m[2][1] == 0.0 {
        // Triangular (the Gaussian fixed point): the diagonal, exactly, even for repeated eigenvalues.
        let mut v = vec![(m[0][0], 0.0), (m[1][1], 0.0), (m[2][2], 0.0)];
        v.sort_by(|x, y| x.0.total_cmp(&y.0));
        return v;
    }
    let tr = m[0][0] + m[1][1] + m[2][2];
    let minors = m[0][0] * m[1][1] - m[0][1] * m[1][0] + m[0][0] * m[2][2] - m[0][2] * m[2][0]
        + m[1][1] * m[2][2]
        - m[1][2] * m[2][1];
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let (a, b, c) = (-tr, minors, -det);
    let q = (a * a - 3.0 * b) / 9.0;
    let r = (2.0 * a * a * a - 9.0 * a * b + 27.0 * c) / 54.0;
    let mut v = if r * r < q * q * q {
        let theta = (r / (q * q * q).sqrt()).clamp(-1.0, 1.0).acos();
        (0..3)
            .map(|k| {
                (
                    -2.0 * q.sqrt() * ((theta + 2.0 * PI * k as f64) / 3.0).cos() - a / 3.0,
                    0.0,
                )
            })
            .collect::<Vec<_>>()
    } else {
        let big_a = -r.signum() * (r.abs() + (r * r - q * q * q).sqrt()).cbrt();
        let big_b = if big_a == 0.0 { 0.0 } else { q / big_a };
        let re = -0.5 * (big_a + big_b) - a / 3.0;
        let im = 0.5 * 3f64.sqrt() * (big_a - big_b);
        vec![(big_a + big_b - a / 3.0, 0.0), (re, im.abs()), (re, -im.abs())]
    };
    v.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
    v
}

/// Fixed points of the truncated flow found by Newton's method from a grid of starting points, deduplicated.
pub fn fixed_points(lpa: &Lpa) -> Vec<FixedPoint> {
    let mut found: Vec<[f64; 3]> = Vec::new();
    let (s2, s4, s6) = NEWTON_STARTS;
    for &a in &s2 {
        for &b in &s4 {
            for &c in &s6 {
                let mut u = [a, b, c];
                let mut ok = false;
                for _ in 0..NEWTON_MAX_ITER {
                    let f = lpa.beta(u);
                    let j = lpa.jacobian(u);
                    let Some(dx) = solve3(j, f) else { break };
                    for i in 0..3 {
                        u[i] -= dx[i];
                    }
                    if !u.iter().all(|v| v.is_finite()) || 1.0 + u[0] <= POLE_MARGIN {
                        break;
                    }
                    if dx.iter().map(|v| v.abs()).fold(0.0, f64::max) < NEWTON_STEP_TOL {
                        ok = true;
                        break;
                    }
                }
                if ok
                    && !found.iter().any(|g| {
                        g.iter()
                            .zip(&u)
                            .all(|(x, y)| (x - y).abs() < SAME_FIXED_POINT_REL * (1.0 + x.abs()))
                    })
                {
                    found.push(u);
                }
            }
        }
    }
    found.sort_by(|a, b| a[1].total_cmp(&b[1]));
    found
        .into_iter()
        .map(|u| FixedPoint {
            u,
            exponents: eigenvalues3(lpa.jacobian(u)),
        })
        .collect()
}

fn solve3(m: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < SINGULAR_DET {
        return None;
    }
    let mut x = [0.0; 3];
    for c in 0..3 {
        let mut mc = m;
        for r in 0..3 {
            mc[r][c] = b[r];
        }
        x[c] = det(mc) / d;
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences at step 1e-6 agree with the analytic Jacobian to O(h^2) times third derivatives.
    const FD_TOL: f64 = 1e-7;

    #[test]
    fn analytic_jacobian_matches_finite_differences() {
        let lpa = Lpa::new(1.5).unwrap();
        let u = [0.3, -0.7, 1.1];
        let j = lpa.jacobian(u);
        for c in 0..3 {
            let h = 1e-6;
            let (mut up, mut dn) = (u, u);
            up[c] += h;
            dn[c] -= h;
            let (bp, bd) = (lpa.beta(up), lpa.beta(dn));
            for r in 0..3 {
                let fd = (bp[r] - bd[r]) / (2.0 * h);
                assert!(
                    (fd - j[r][c]).abs() < FD_TOL * (1.0 + fd.abs()),
                    "({r},{c}): {fd} vs {}",
                    j[r][c]
                );
            }
        }
    }

    #[test]
    fn gaussian_fixed_point_has_the_canonical_exponents() {
        for d in [1.0, 2.0, 3.0] {
            let lpa = Lpa::new(d).unwrap();
            let fps = fixed_points(&lpa);
            let g = fps
                .iter()
                .find(|f| f.u.iter().all(|v| v.abs() < GAUSSIAN_ABS))
                .expect("Gaussian fixed point");
            let mut want = vec![-2.0, -(4.0 - d), -(6.0 - 2.0 * d)];
            want.sort_by(f64::total_cmp);
            // zip alone would pass on a missing exponent.
            assert_eq!(g.exponents.len(), want.len(), "d={d}: {:?}", g.exponents);
            for (e, w) in g.exponents.iter().zip(&want) {
                assert!(
                    (e.0 - w).abs() < FD_TOL && e.1 == 0.0,
                    "d={d}: {:?} vs {want:?}",
                    g.exponents
                );
            }
            // Every reported fixed point is one.
            for f in &fps {
                assert!(lpa.beta(f.u).iter().all(|b| b.abs() < 1e-9), "{f:?}");
            }
        }
        assert!((k_d(1.0) - 1.0 / PI).abs() < 1e-15);
        assert!((k_d(3.0) - 1.0 / (6.0 * PI * PI)).abs() < 1e-15);
    }

    #[test]
    fn linearised_flow_matches_the_analytic_solution() {
        // Near the Gaussian fixed point with ubar_6 = 0: ubar_4 = u4 e^{-(4-d)t},
        // ubar_2 = A e^{-2t} + B e^{-(4-d)t}, B = -K_d u4 / (d - 2), A = u2 - B (t = ln k/k0).
        let (d, u2, u4) = (1.0, 1e-10, 2e-10);
        let lpa = Lpa::new(d).unwrap();
        let tol = Tolerance {
            rtol: 1e-10,
            atol: 1e-22,
        };
        let tr = integrate(&lpa, [u2, u4, 0.0], 1.0, 0.1, tol, 5).unwrap();
        assert_eq!(tr.stop, Stop::Done);
        assert_eq!((tr.k.len(), tr.u.len()), (5, 5), "every sample is compared");
        let b = -k_d(d) * u4 / (d - 2.0);
        for (k, u) in tr.k.iter().zip(&tr.u) {
            let t = k.ln();
            let want4 = u4 * (-(4.0 - d) * t).exp();
            let want2 = (u2 - b) * (-2.0 * t).exp() + b * (-(4.0 - d) * t).exp();
            // Nonlinear terms are O(u^2) relative to O(u): 1e-6 relative here.
            assert!((u[1] / want4 - 1.0).abs() < 1e-5, "k={k}: {} vs {want4}", u[1]);
            assert!((u[0] / want2 - 1.0).abs() < 1e-5, "k={k}: {} vs {want2}", u[0]);
        }
    }

    #[test]
    fn halving_the_tolerance_moves_the_endpoint_by_less_than_the_tolerance_scale() {
        let lpa = Lpa::new(1.0).unwrap();
        let u0 = [1.0, -0.4, 0.3];
        let tol = Tolerance {
            rtol: 1e-8,
            atol: 1e-10,
        };
        let a = integrate(&lpa, u0, 1.0, 0.05, tol, 2).unwrap();
        let b = integrate(
            &lpa,
            u0,
            1.0,
            0.05,
            Tolerance {
                rtol: tol.rtol / 2.0,
                atol: tol.atol / 2.0,
            },
            2,
        )
        .unwrap();
        assert_eq!(a.stop, Stop::Done);
        let (ea, eb) = (a.u.last().unwrap(), b.u.last().unwrap());
        for c in 0..3 {
            let scale = tol.rtol * ea[c].abs().max(1.0) * 100.0;
            assert!(
                (ea[c] - eb[c]).abs() < scale,
                "component {c}: {} vs {}",
                ea[c],
                eb[c]
            );
        }
        assert!(b.steps >= a.steps);
    }

    #[test]
    fn divergences_stop_with_a_reason_and_bad_input_is_refused() {
        let lpa = Lpa::new(1.0).unwrap();
        // A large positive u4 drives 1 + ubar_2 to zero toward the IR.
        let tr = integrate(&lpa, [0.0, 50.0, 0.0], 1.0, 1e-3, Tolerance::default(), 10).unwrap();
        assert!(
            matches!(
                tr.stop,
                Stop::Pole { .. } | Stop::BlowUp { .. } | Stop::StepUnderflow { .. }
            ),
            "{:?}",
            tr.stop
        );
        assert!(tr.u.iter().all(|u| u.iter().all(|v| v.is_finite())));
        assert!(integrate(&lpa, [f64::NAN, 0.0, 0.0], 1.0, 0.1, Tolerance::default(), 3).is_err());
        assert!(integrate(&lpa, [0.0, 0.0, 0.0], -1.0, 0.1, Tolerance::default(), 3).is_err());
        assert!(integrate(&lpa, [0.0, 0.0, 0.0], 1.0, 0.0, Tolerance::default(), 3).is_err());
        // A finite d out of range is a range error, not a non-finite one.
        assert!(matches!(Lpa::new(0.5), Err(Error::OutOfRange { name: "d", .. })));
        assert!(matches!(Lpa::new(f64::NAN), Err(Error::NonFinite { .. })));
        assert!(matches!(
            integrate(&lpa, [-1.0, 0.0, 0.0], 1.0, 0.1, Tolerance::default(), 3),
            Err(Error::OutOfRange { name: "ubar_2", .. })
        ));
    }

    #[test]
    fn eigenvalues_of_known_matrices() {
        let e = eigenvalues3([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, -1.0]]);
        assert_eq!(
            e.iter().map(|x| (x.0 * 1e9).round() / 1e9).collect::<Vec<_>>(),
            vec![-1.0, 2.0, 3.0]
        );
        // Rotation block: eigenvalues 1 +- 2i and 5.
        let e = eigenvalues3([[1.0, -2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 5.0]]);
        assert!(
            (e[0].0 - 1.0).abs() < 1e-9 && (e[0].1.abs() - 2.0).abs() < 1e-9 && (e[2].0 - 5.0).abs() < 1e-9,
            "{e:?}"
        );
    }
}
