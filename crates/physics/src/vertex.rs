//! The leading-order four-point vertex of deep networks at one input (PHYSICS.md 10; Roberts, Yaida and Hanin,
//! "The Principles of Deep Learning Theory", arXiv:2106.10165, ch. 4, eq. (4.90)-(4.93) in their notation).
//!
//! Derivation (single input x, widths n_l). The pre-activations of layer l+1 are, given layer l, i.i.d.
//! N(0, S^(l)) with S^(l) = sigma_b^2 + (sigma_W^2/n_l) sum_j g(z_j^(l))^2, so the output's connected four-point
//! function is exactly G_c^(4) = 3 Var(S^(L)) (law of total cumulance). To leading order in 1/n, write
//! S^(l-1) = K^(l) + delta with Var(delta) = v^(l); given S^(l-1) the n_l terms g(z_j)^2 are i.i.d., so
//!
//!   Var(S^(l)) = (sigma_W^4/n_l) (<g^4>_K - <g^2>_K^2) + (sigma_W^2 d<g^2>_K/dK)^2 v^(l) + O(1/n^2),
//!   K = K^(l),  K^(l+1) = sigma_b^2 + sigma_W^2 <g^2>_(K^(l)),  v^(1) = 0,
//!
//! the first term the units' own fluctuation, the second the common fluctuation of the previous layer's S
//! propagated through the kernel map. For equal widths n, n v^(l) = V^(l) of PHYSICS.md 10 and
//! n G_c^(4) -> 3 V^(L+1) with an O(1/n) remainder. ReLU without bias: V/K^2 grows by 5 per layer, the first
//! order of the exact 3 prod_l (1 + 5/n_l) of [`crate::relu_exact`]. For one hidden layer the formula is exact.

use crate::{Config, Error, activation};

/// The single-input kernel and vertex through the layers.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleInput {
    /// K^(1) .. K^(L+1): the infinite-width variance of each layer's pre-activations (the last: the output's).
    pub k: Vec<f64>,
    /// v^(1) .. v^(L+1): the leading-order variance of S^(l-1), with the 1/n_l factors included.
    pub v: Vec<f64>,
}

impl SingleInput {
    /// Leading-order G_c^(4)(x, x, x, x) = 3 v^(L+1).
    pub fn g_c4(&self) -> f64 {
        3.0 * self.v.last().expect("layers")
    }

    /// The normalised vertex v^(L+1) / K^(L+1)^2 (its growth with depth is the signature of criticality).
    pub fn normalised(&self) -> f64 {
        self.v.last().expect("layers") / self.k.last().expect("layers").powi(2)
    }
}

/// The recursion at the configuration's point `point` (its widths, activation and variances).
pub fn single_input(cfg: &Config, point: usize) -> Result<SingleInput, Error> {
    let (sw2, sb2) = (cfg.sigma_w() * cfg.sigma_w(), cfg.sigma_b() * cfg.sigma_b());
    let arch = cfg.arch();
    let mut k = vec![cfg.s(point)];
    let mut v = vec![0.0];
    for &n in cfg.widths() {
        let kl = *k.last().expect("layers");
        let vl = *v.last().expect("layers");
        let g2 = activation::moment(arch, kl, 2)?;
        let g4 = activation::moment(arch, kl, 4)?;
        let chi = sw2 * activation::moment_dk(arch, kl, 2)?;
        let own = sw2 * sw2 * (g4 - g2 * g2) / n as f64;
        // v^(1) = 0 exactly, so the first layer's chi (undefined for GaussNet's s-dependent g) never counts.
        let propagated = if vl == 0.0 { 0.0 } else { chi * chi * vl };
        k.push(sb2 + sw2 * g2);
        v.push(own + propagated);
    }
    Ok(SingleInput { k, v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arch;
    use crate::exact::Exact;
    use crate::relu_exact::ReluExact;
    use crate::tol::close;

    #[test]
    fn one_layer_vertex_is_the_exact_kappa_4() {
        for arch in [Arch::Erf, Arch::Tanh, Arch::Relu, Arch::Gelu, Arch::GaussNet] {
            let cfg = Config::new(arch, 1, 7, 1.3, 0.4, &[vec![0.8]]).unwrap();
            let e = Exact::new(&cfg).unwrap().kappa4(&[0, 0, 0, 0]);
            let v = single_input(&cfg, 0).unwrap();
            assert!(close(v.g_c4(), e, 1e-8), "{arch:?}: {} vs {e}", v.g_c4());
            assert!(close(v.k[1], crate::kernel::k(&cfg, 0, 0), 1e-8));
        }
    }

    #[test]
    fn deep_relu_vertex_is_the_first_order_of_the_exact_product() {
        // n G_c^(4) / 3 -> V^(L+1); the exact finite-n value differs at relative O(L/n).
        for depth in 1..=4 {
            for n in [100u64, 10_000] {
                let cfg =
                    Config::deep(Arch::Relu, 1, &vec![n; depth], 1, 2f64.sqrt(), 0.0, &[vec![0.9]]).unwrap();
                let v = single_input(&cfg, 0).unwrap();
                let k = v.k.last().copied().unwrap();
                // V/K^2 grows by 5 per layer: n v / K^2 = 5 L.
                assert!(
                    close(n as f64 * v.normalised(), 5.0 * depth as f64, 1e-12),
                    "L={depth}"
                );
                let r = ReluExact::new(&cfg).unwrap();
                let exact = r.connected_legs(&[0; 4], &[0; 4]);
                let rel = (exact - v.g_c4()).abs() / exact;
                // The remainder: 3 K^2 [prod (1 + 5/n) - 1 - 5L/n] ~ 3 K^2 (25 L(L-1)/2) / n^2 relative to 15 L K^2 / n.
                let expect = 25.0 * (depth * (depth - 1)) as f64 / 2.0 / (5.0 * depth as f64) / n as f64;
                assert!(rel <= 1.01 * expect + 1e-12, "L={depth} n={n}: {rel} vs {expect}");
                assert!(close(k, 2.0 * 0.81, 1e-12));
            }
        }
    }

    #[test]
    fn tanh_at_criticality_grows_by_two_thirds_per_layer() {
        // Roberts-Yaida-Hanin ch. 5: in the K* = 0 universality class (tanh, sigma_b = 0, sigma_W = 1) the
        // normalised vertex V / K^2 grows like (2/3) L at large depth (ReLU: exactly 5 per layer, above).
        let normalised = |depth: usize| {
            let cfg = Config::deep(Arch::Tanh, 1, &vec![1000; depth], 1, 1.0, 0.0, &[vec![1.0]]).unwrap();
            1000.0 * single_input(&cfg, 0).unwrap().normalised()
        };
        let slope = (normalised(200) - normalised(100)) / 100.0;
        assert!((slope - 2.0 / 3.0).abs() < 0.02 * 2.0 / 3.0, "{slope}");
        // A deep linear network (sigma_b = 0): each layer adds exactly 2/n (own term 2 K^2/n, propagated term
        // carried over unchanged), whatever sigma_W.
        for depth in [1usize, 3, 7] {
            let cfg = Config::deep(Arch::Linear, 1, &vec![50; depth], 1, 1.3, 0.0, &[vec![0.7]]).unwrap();
            let v = single_input(&cfg, 0).unwrap();
            assert!(
                close(50.0 * v.normalised(), 2.0 * depth as f64, 1e-13),
                "L={depth}"
            );
        }
    }
}
