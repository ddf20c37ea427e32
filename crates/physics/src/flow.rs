//! Passive RG: the local-potential-approximation flow of (ubar_2, ubar_4, ubar_6) with the Litim regulator
//! (PHYSICS.md 6), integrated in t = ln k with an embedded Dormand-Prince 5(4) Runge-Kutta method with error
//! control (Dormand & Prince 1980; Hairer, Norsett & Wanner, Solving ODEs I, section II.5), fixed points by
//! Newton's method and their stability exponents (eigenvalues of the linearised flow).

use crate::Error;
use std::f64::consts::PI;

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

impl Lpa {
    pub fn new(d: f64) -> Result<Self, Error> {
        if !d.is_finite() || d < 1.0 {
            return Err(Error::NonFinite {
                name: "d (the flow needs a finite d >= 1)".into(),
                value: d,
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

// Dormand-Prince 5(4) tableau.
// Nodes c_i = (0, 1/5, 3/10, 4/5, 8/9, 1, 1) are not needed: the flow is autonomous in t.
const A: [[f64; 6]; 7] = [
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
const B5: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Tolerances of the adaptive solver: error per step <= atol + rtol |u|.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    pub rtol: f64,
    pub atol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: 1e-10,
            atol: 1e-12,
        }
    }
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
        if !v.is_finite() {
            return Err(Error::NonFinite {
                name: name.into(),
                value: v,
            });
        }
    }
    for (name, v) in [("k_start", k_start), ("k_end", k_end)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::NonFinite {
                name: format!("{name} (scales must be finite and > 0)"),
                value: v,
            });
        }
    }
    if 1.0 + u0[0] <= POLE_MARGIN {
        return Err(Error::NonFinite {
            name: "ubar_2 (needs 1 + ubar_2 > 0)".into(),
            value: u0[0],
        });
    }
    let (t0, t1) = (k_start.ln(), k_end.ln());
    let dir = if t1 >= t0 { 1.0 } else { -1.0 };
    let samples = samples.max(2);
    let targets: Vec<f64> = (0..samples)
        .map(|i| t0 + (t1 - t0) * i as f64 / (samples - 1) as f64)
        .collect();
    let mut traj = Trajectory {
        k: vec![k_start],
        u: vec![u0],
        stop: Stop::Done,
        steps: 0,
    };
    let mut next = 1;
    let (mut t, mut u) = (t0, u0);
    let mut h = dir * ((t1 - t0).abs() / 100.0).max(1e-6);
    let mut k = [[0.0; 3]; 7];
    k[0] = lpa.beta(u);
    while next < samples {
        let target = targets[next];
        if (target - t) * dir <= 0.0 {
            traj.k.push(target.exp());
            traj.u.push(u);
            next += 1;
            continue;
        }
        if h.abs() < 1e-14 * (1.0 + t.abs()) {
            traj.stop = Stop::StepUnderflow { k: t.exp() };
            return Ok(traj);
        }
        let step = if (t + h - target) * dir > 0.0 {
            target - t
        } else {
            h
        };
        for s in 1..7 {
            let mut y = u;
            for (j, kj) in k.iter().enumerate().take(s) {
                for c in 0..3 {
                    y[c] += step * A[s][j] * kj[c];
                }
            }
            k[s] = lpa.beta(y);
        }
        let mut u5 = u;
        let mut err: f64 = 0.0;
        for c in 0..3 {
            let (mut s5, mut s4) = (0.0, 0.0);
            for s in 0..7 {
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
            traj.steps += 1;
            k[0] = k[6]; // first-same-as-last
            if 1.0 + u[0] <= POLE_MARGIN {
                traj.stop = Stop::Pole { k: t.exp() };
                traj.k.push(t.exp());
                traj.u.push(u);
                return Ok(traj);
            }
            if u.iter().any(|v| v.abs() > BLOW_UP) {
                traj.stop = Stop::BlowUp { k: t.exp() };
                traj.k.push(t.exp());
                traj.u.push(u);
                return Ok(traj);
            }
            if (t - target) * dir >= 0.0 {
                traj.k.push(target.exp());
                traj.u.push(u);
                next += 1;
            }
        }
        let factor = if !finite {
            0.1
        } else if err == 0.0 {
            5.0
        } else {
            (0.9 * err.powf(-0.2)).clamp(0.1, 5.0)
        };
        h = step * factor;
        if !finite || err > 1.0 {
            k[0] = lpa.beta(u);
        }
    }
    Ok(traj)
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
    let starts = [-0.5, -0.2, 0.0, 0.3, 1.0];
    for &a in &starts {
        for &b in &[-2.0, -0.5, 0.0, 0.5, 2.0] {
            for &c in &[-5.0, 0.0, 5.0] {
                let mut u = [a, b, c];
                let mut ok = false;
                for _ in 0..100 {
                    let f = lpa.beta(u);
                    let j = lpa.jacobian(u);
                    let Some(dx) = solve3(j, f) else { break };
                    for i in 0..3 {
                        u[i] -= dx[i];
                    }
                    if !u.iter().all(|v| v.is_finite()) || 1.0 + u[0] <= POLE_MARGIN {
                        break;
                    }
                    if dx.iter().map(|v| v.abs()).fold(0.0, f64::max) < 1e-13 {
                        ok = true;
                        break;
                    }
                }
                if ok
                    && !found.iter().any(|g| {
                        g.iter()
                            .zip(&u)
                            .all(|(x, y)| (x - y).abs() < 1e-7 * (1.0 + x.abs()))
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
    if d.abs() < 1e-300 {
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
                .find(|f| f.u.iter().all(|v| v.abs() < 1e-10))
                .expect("Gaussian fixed point");
            let mut want = vec![-2.0, -(4.0 - d), -(6.0 - 2.0 * d)];
            want.sort_by(f64::total_cmp);
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
        assert!(Lpa::new(0.5).is_err());
        assert!(Lpa::new(f64::NAN).is_err());
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
