//! The infinite-width kernel of a network of any depth (PHYSICS.md 10, the NNGP recursion):
//! K^(1)(x, y) = sigma_b^2 + sigma_W^2 x.y / d and K^(l+1)(x, y) = sigma_b^2 + sigma_W^2 E[g(u) g(v)],
//! (u, v) ~ N(0, K^(l) at x, y), with [`activation::pair_expectation`] (closed forms for ReLU, Erf, linear and
//! GaussNet; 2-D Gauss-Hermite by doubling otherwise). The recursion is closed on each pair of points.
//!
//! For one hidden layer K^(2) is the two-point function at every width (PHYSICS.md 2, 4); for two or more it is
//! the n -> infinity limit only (the finite-width two-point function differs at O(1/n)), except for ReLU
//! without biases, where E[f(x)^2] = (sigma_W^2/2)^L sigma_W^2 |x|^2 / d exactly at every width.

use crate::{Config, Error, activation};

/// The entries (K(x,x), K(x,y), K(y,y)) of K^(1) .. K^(L+1) for two input vectors, layer by layer.
pub fn pair_layers(cfg: &Config, x: &[f64], y: &[f64]) -> Result<Vec<[f64; 3]>, Error> {
    let (sw2, sb2) = (cfg.sigma_w() * cfg.sigma_w(), cfg.sigma_b() * cfg.sigma_b());
    let d = cfg.d() as f64;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    let mut k = [
        sb2 + sw2 * dot(x, x) / d,
        sb2 + sw2 * dot(x, y) / d,
        sb2 + sw2 * dot(y, y) / d,
    ];
    let mut out = vec![k];
    for _ in 0..cfg.depth() {
        let arch = cfg.arch();
        let xx = activation::pair_expectation(arch, k[0], k[0], k[0])?;
        let yy = activation::pair_expectation(arch, k[2], k[2], k[2])?;
        let xy = activation::pair_expectation(arch, k[0], k[1], k[2])?;
        k = [sb2 + sw2 * xx, sb2 + sw2 * xy, sb2 + sw2 * yy];
        out.push(k);
    }
    Ok(out)
}

/// The output kernel K^(L+1)(x_i, x_j) of the configuration's points, P x P row-major.
pub fn kernel_matrix(cfg: &Config) -> Result<Vec<f64>, Error> {
    let p = cfg.n_points();
    let mut m = vec![0.0; p * p];
    for i in 0..p {
        for j in i..p {
            let last = *pair_layers(cfg, cfg.point(i), cfg.point(j))?
                .last()
                .expect("at least the input layer");
            m[i * p + j] = last[1];
            m[j * p + i] = last[1];
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arch;
    use crate::tol::{QUADRATURE_REL, close};

    #[test]
    fn one_layer_recursion_is_the_closed_form_kernel() {
        let pts = vec![vec![-1.0], vec![0.3], vec![1.2]];
        for arch in [Arch::GaussNet, Arch::Erf, Arch::Relu] {
            let cfg = Config::new(arch, 1, 5, 1.3, 0.6, &pts).unwrap();
            let m = kernel_matrix(&cfg).unwrap();
            for i in 0..3 {
                for j in 0..3 {
                    let k = crate::kernel::k(&cfg, i, j);
                    assert!(
                        close(m[i * 3 + j], k, 1e-14),
                        "{arch:?} {i}{j} {} {k}",
                        m[i * 3 + j]
                    );
                }
            }
        }
    }

    #[test]
    fn deep_relu_and_linear_kernels_have_known_values() {
        // ReLU, sigma_b = 0: the diagonal is multiplied by sigma_W^2/2 per layer; with sigma_W^2 = 2
        // (criticality) it stays sigma_W^2 x^2; the correlation of x and -x (cos = -1) goes 0 -> 1/pi after
        // one layer (arc-cosine kernel at t = pi: sin pi + 0 = 0; at t = pi/2 ...).
        let pts = vec![vec![0.7], vec![-0.7], vec![1.5]];
        let cfg = Config::deep(Arch::Relu, 1, &[10, 10, 10], 1, 2f64.sqrt(), 0.0, &pts).unwrap();
        let m = kernel_matrix(&cfg).unwrap();
        assert!(close(m[0], 2.0 * 0.49, 1e-14), "{}", m[0]);
        assert!(close(m[8], 2.0 * 2.25, 1e-14));
        // Antipodal inputs: after layer 1 the unit vectors have cos t = 0 (relu(w x) relu(-w x) = 0), then
        // cos t_(l+1) = (sin t + (pi - t) cos t) / pi: 1/pi after layer 2, ... checked step by step here.
        let mut c: f64 = 0.0;
        for _ in 0..2 {
            let t = c.acos();
            c = (t.sin() + (std::f64::consts::PI - t) * t.cos()) / std::f64::consts::PI;
        }
        assert!(close(m[1] / m[0], c, 1e-13), "{} vs {c}", m[1] / m[0]);
        // Linear: K^(l+1) = sigma_b^2 + sigma_W^2 K^(l), a geometric series.
        let cfg = Config::deep(Arch::Linear, 1, &[4, 4, 4], 1, 0.9, 0.5, &pts).unwrap();
        let m = kernel_matrix(&cfg).unwrap();
        let (a, b) = (0.81, 0.25);
        let mut k = b + a * 0.7 * 1.5;
        for _ in 0..3 {
            k = b + a * k;
        }
        assert!(close(m[2], k, 1e-14), "{} {k}", m[2]);
    }

    #[test]
    fn smooth_activations_converge_and_reduce_to_linear_near_zero() {
        // tanh(z) = z - z^3/3 + ...: at tiny variance the tanh kernel is the linear one to O(K^2).
        let pts = vec![vec![0.001], vec![0.002]];
        let lin = Config::deep(Arch::Linear, 1, &[3, 3], 1, 1.0, 0.0, &pts).unwrap();
        let tanh = Config::deep(Arch::Tanh, 1, &[3, 3], 1, 1.0, 0.0, &pts).unwrap();
        let (a, b) = (kernel_matrix(&lin).unwrap(), kernel_matrix(&tanh).unwrap());
        assert!(close(a[1], b[1], 1e-5), "{} {}", a[1], b[1]);
        // GELU and swish at moderate variance: finite and within the Cauchy-Schwarz bound.
        let pts = vec![vec![-1.0], vec![2.0]];
        for arch in [Arch::Gelu, Arch::Swish, Arch::Tanh] {
            let cfg = Config::deep(arch, 1, &[3, 3, 3], 1, 1.5, 0.3, &pts).unwrap();
            let m = kernel_matrix(&cfg).unwrap();
            assert!(
                m[1].abs() <= (m[0] * m[3]).sqrt() * (1.0 + QUADRATURE_REL),
                "{arch:?} {m:?}"
            );
            assert!(m[0] > 0.0 && m[3] > 0.0);
        }
    }
}
