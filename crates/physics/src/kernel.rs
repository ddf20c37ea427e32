//! Analytic two-point kernels K and K_W (PHYSICS.md 2), exact at every width N for one hidden layer; for deeper
//! networks the infinite-width (NNGP) kernel of [`crate::nngp`].

use crate::{Arch, Config};
use std::f64::consts::PI;

/// K_W(x_i, x_j) = sigma_W^2 E[g(x_i) g(x_j)].
pub fn k_w(cfg: &Config, i: usize, j: usize) -> f64 {
    k_w_xy(cfg, cfg.point(i), cfg.point(j))
}

/// K_W(x, y) at arbitrary coordinates (for vertex integrals over x). For activations without a closed form
/// (tanh, GELU, swish) and for deeper networks it comes from [`crate::nngp`]; a quadrature that does not
/// converge gives NaN (the exact code reports it as an error, [`crate::nngp::kernel_matrix`]).
pub fn k_w_xy(cfg: &Config, x: &[f64], y: &[f64]) -> f64 {
    if cfg.depth() > 1 || !matches!(cfg.arch(), Arch::GaussNet | Arch::Erf | Arch::Relu) {
        let sb2 = cfg.sigma_b() * cfg.sigma_b();
        return crate::nngp::pair_layers(cfg, x, y)
            .map(|l| l.last().expect("layers")[1] - sb2)
            .unwrap_or(f64::NAN);
    }
    let sw2 = cfg.sigma_w() * cfg.sigma_w();
    let d = cfg.d() as f64;
    let sb2 = cfg.sigma_b() * cfg.sigma_b();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
    match cfg.arch() {
        Arch::GaussNet => {
            let d2: f64 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
            sw2 * (-sw2 * d2 / (2.0 * d)).exp()
        }
        Arch::Erf => {
            let (c, si, sj) = (
                sb2 + sw2 * dot(x, y) / d,
                sb2 + sw2 * dot(x, x) / d,
                sb2 + sw2 * dot(y, y) / d,
            );
            let arg = (2.0 * c / ((1.0 + 2.0 * si) * (1.0 + 2.0 * sj)).sqrt()).clamp(-1.0, 1.0);
            2.0 * sw2 / PI * arg.asin()
        }
        Arch::Relu => relu_arc(
            sw2,
            sb2 + sw2 * dot(x, y) / d,
            sb2 + sw2 * dot(x, x) / d,
            sb2 + sw2 * dot(y, y) / d,
        ),
        _ => unreachable!("handled by the recursion above"),
    }
}

/// The arc-cosine kernel: (sigma_W^2 / 2pi) sqrt(s_x s_y) [sin t + (pi - t) cos t], cos t = c / sqrt(s_x s_y).
pub fn relu_arc(sw2: f64, c: f64, sx: f64, sy: f64) -> f64 {
    let norm = (sx * sy).sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    let t = (c / norm).clamp(-1.0, 1.0).acos();
    sw2 / (2.0 * PI) * norm * (t.sin() + (PI - t) * t.cos())
}

/// Full kernel K = sigma_b^2 + K_W.
pub fn k(cfg: &Config, i: usize, j: usize) -> f64 {
    cfg.sigma_b() * cfg.sigma_b() + k_w(cfg, i, j)
}

/// The P x P matrix of K (row-major).
pub fn k_matrix(cfg: &Config) -> Vec<f64> {
    let p = cfg.n_points();
    let mut m = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..p {
            m[i * p + j] = k(cfg, i, j);
        }
    }
    m
}
