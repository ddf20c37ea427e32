//! Deep and multi-output networks (PHYSICS.md 10) against independent truth: the exact deep-ReLU moments, the
//! exact one-hidden-layer mixed-output correlators, the NNGP kernel and the leading-order four-point vertex at
//! large width, and the direct (weights-materialised) sampler. Monte Carlo with fixed seeds; tolerances in
//! estimated standard errors (spread of bag means / sqrt(bags)), plus, for the 1/n expansion, a stated allowance
//! for the next order.

use nnqft_physics::deep::{Layered, LayeredScratch, direct_block};
use nnqft_physics::exact::Exact;
use nnqft_physics::relu_exact::ReluExact;
use nnqft_physics::sampler::{BLOCK_NETS, Sampler, Scratch, cov_len, cov_pairs};
use nnqft_physics::tol::MC_SIGMAS;
use nnqft_physics::{Arch, Config, nngp, vertex};

mod common;
use common::Draw;

/// (legs as columns o * P + p, mean over bags, standard error) for every multiset of columns of order 2, 4, 6.
fn estimate(cfg: &Config, bags: u32, nets: usize, draw: Draw) -> Vec<(Vec<usize>, f64, f64)> {
    common::estimate(cfg.n_points() * cfg.d_out(), bags, nets, draw)
        .into_iter()
        .map(|e| (e.legs, e.mean, e.stderr))
        .collect()
}

fn layered(cfg: &Config, seed: u64) -> impl Fn(u32, u32, usize, &mut [f64]) {
    let s = Layered::new(cfg);
    move |bag, block, n, out: &mut [f64]| s.block(seed, bag, block, n, out, &mut LayeredScratch::default())
}

fn split(cfg: &Config, legs: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let p = cfg.n_points();
    (
        legs.iter().map(|c| c % p).collect(),
        legs.iter().map(|c| c / p).collect(),
    )
}

#[test]
fn deep_relu_without_bias_matches_its_exact_moments() {
    // Small widths so that the 1/n terms are large: E[f^4] / E[f^2]^2 = 3 prod (1 + 5/n_l) ~ 20 here. Orders 2
    // and 4 only: at these widths the six-point estimators are dominated by rare networks (E[f^12] is enormous)
    // and come out low, as PHYSICS.md 8 warns; the six-point formula is checked against the shallow quadrature
    // in relu_exact's unit tests instead.
    let pts = vec![vec![0.4], vec![1.1]];
    let cfg = Config::deep(Arch::Relu, 1, &[3, 5, 4], 2, 1.2, 0.0, &pts).unwrap();
    let exact = ReluExact::new(&cfg).unwrap();
    let (mut checked, mut rejects_gaussian) = (0, 0);
    for (legs, m, se) in estimate(&cfg, 20, 3000, &layered(&cfg, 11)) {
        if legs.len() == 6 {
            continue;
        }
        let (points, outs) = split(&cfg, &legs);
        let want = exact.g_legs(&points, &outs);
        assert!(
            (m - want).abs() <= MC_SIGMAS * se.max(1e-12 * want.abs()),
            "{points:?} {outs:?}: {m} +- {se} vs exact {want}"
        );
        if legs.len() == 4 && want != 0.0 {
            let gaussian = want - exact.connected_legs(&points, &outs);
            rejects_gaussian += usize::from((m - gaussian).abs() > MC_SIGMAS * se);
        }
        checked += 1;
    }
    assert_eq!(checked, 10 + 35);
    // The test sees the non-Gaussianity it checks (the Wick value is rejected).
    assert!(rejects_gaussian >= 5, "{rejects_gaussian}");
}

#[test]
fn one_layer_mixed_output_correlators_match_their_exact_values() {
    // Two outputs share the hidden units: E[f_0^2 f_1^2] - K^2 = kappa_4 != 0, while any odd count vanishes.
    let pts = vec![vec![-0.8], vec![0.3], vec![1.0]];
    let cfg = Config::deep(Arch::Erf, 1, &[2], 2, 1.6, 0.3, &pts).unwrap();
    let exact = Exact::new(&cfg).unwrap();
    let (mut mixed, mut rejects_gaussian) = (0, 0);
    for (legs, m, se) in estimate(&cfg, 20, 2500, &layered(&cfg, 5)) {
        let (points, outs) = split(&cfg, &legs);
        let want = exact.g_legs(&points, &outs);
        assert!(
            (m - want).abs() <= MC_SIGMAS * se,
            "{points:?} {outs:?}: {m} +- {se} vs {want}"
        );
        if legs.len() == 4 && outs.contains(&0) && outs.contains(&1) && want != 0.0 {
            mixed += 1;
            let free = exact.g_free_legs(&points, &outs);
            rejects_gaussian += usize::from((m - free).abs() > MC_SIGMAS * se);
        }
    }
    assert!(mixed > 10 && rejects_gaussian >= 3, "{mixed} {rejects_gaussian}");
}

#[test]
fn one_layer_samplers_agree_for_the_new_activations() {
    // The stage's sampler for the new activations at one hidden layer (layer by layer: faster than the direct
    // loop there) against the exact values by quadrature. Orders 2 and 4: six-point estimators at this width
    // are tail-dominated (PHYSICS.md 8).
    let pts = vec![vec![-0.5], vec![0.9]];
    for arch in [Arch::Tanh, Arch::Gelu, Arch::Swish, Arch::Linear] {
        let cfg = Config::new(arch, 1, 4, 1.4, 0.5, &pts).unwrap();
        let exact = Exact::new(&cfg).unwrap();
        let s = Sampler::new(&cfg);
        assert!(s.is_layered());
        let draw =
            move |bag, block, n, out: &mut [f64]| s.block(3, bag, block, n, out, &mut Scratch::default());
        for (legs, m, se) in estimate(&cfg, 10, 2000, &draw) {
            if legs.len() == 6 {
                continue;
            }
            let want = exact.g(&legs);
            assert!(
                (m - want).abs() <= MC_SIGMAS * se,
                "{arch:?} {legs:?}: {m} +- {se} vs {want}"
            );
        }
    }
}

#[test]
fn layered_and_direct_deep_samplers_draw_the_same_ensemble() {
    // Independent code paths (conditional Gaussians with a pivoted Cholesky factor vs materialised weights) at
    // depth 3 with two outputs, at three points of which two nearly coincide (S nearly singular).
    let pts = vec![vec![-0.6], vec![0.5], vec![0.5 + 1e-9]];
    let cfg = Config::deep(Arch::Gelu, 1, &[4, 3, 5], 2, 1.5, 0.4, &pts).unwrap();
    let a = estimate(&cfg, 10, 2000, &layered(&cfg, 1));
    let c2 = cfg.clone();
    let b = estimate(&cfg, 10, 2000, &move |bag, block, n, out: &mut [f64]| {
        direct_block(&c2, 1, bag, block, n, out)
    });
    let mut differ = 0;
    for ((legs, ma, sa), (_, mb, sb)) in a.iter().zip(&b) {
        let se = (sa * sa + sb * sb).sqrt();
        assert!(
            (ma - mb).abs() <= MC_SIGMAS * se,
            "{legs:?}: {ma} +- {sa} vs {mb} +- {sb}"
        );
        differ += usize::from(ma.abs() > MC_SIGMAS * sa);
    }
    assert!(
        differ > 50,
        "the comparison must involve non-zero moments ({differ})"
    );
}

#[test]
fn wide_networks_approach_the_nngp_kernel() {
    // At width 400 the two-point function is K^(L+1) up to O(1/n); MC error ~1%, allowance 5/n for the O(1/n)
    // term. A wrong recursion (e.g. one layer too few) is off by tens of percent.
    let pts = vec![vec![-1.0], vec![0.4], vec![1.3]];
    for arch in [Arch::Erf, Arch::Tanh, Arch::Relu] {
        let n = 400u64;
        let cfg = Config::deep(arch, 1, &[n, n, n], 1, 1.5, 0.3, &pts).unwrap();
        let k = nngp::kernel_matrix(&cfg).unwrap();
        let shallow = Config::new(arch, 1, n, 1.5, 0.3, &pts).unwrap();
        let k1 = nngp::kernel_matrix(&shallow).unwrap();
        let mut depth_visible = false;
        for (legs, m, se) in estimate(&cfg, 10, 300, &layered(&cfg, 2)) {
            if legs.len() != 2 {
                continue;
            }
            let want = k[legs[0] * 3 + legs[1]];
            let allow = MC_SIGMAS * se + 5.0 / n as f64 * want.abs();
            assert!(
                (m - want).abs() <= allow,
                "{arch:?} {legs:?}: {m} +- {se} vs {want}"
            );
            depth_visible |= (k1[legs[0] * 3 + legs[1]] - want).abs() > 3.0 * allow;
        }
        assert!(depth_visible, "{arch:?}: the one-layer kernel would pass too");
    }
}

#[test]
fn four_point_vertex_at_depth_matches_the_conditional_variance() {
    // G_c^(4)(x,x,x,x) = 3 Var(S^(L)) exactly; the leading order is 3 v^(L+1) (crate::vertex). tanh at
    // criticality (sigma_b = 0, sigma_W = 1), x = 1, three layers of width 200: MC relative error ~1%, allowance
    // 3/n relative for the O(1/n) remainder (measured 0.2% at n = 100 in PHYSICS.md 10). Leaving out the
    // propagated term would give about a third of the value.
    let n = 200u64;
    let cfg = Config::deep(Arch::Tanh, 1, &[n, n, n], 1, 1.0, 0.0, &[vec![1.0]]).unwrap();
    let v = vertex::single_input(&cfg, 0).unwrap();
    let s = Layered::new(&cfg);
    let nets = 30_000;
    let mut values = Vec::with_capacity(nets);
    let mut sc = LayeredScratch::default();
    let mut block = 0;
    while values.len() < nets {
        let m = BLOCK_NETS.min(nets - values.len());
        let (mut out, mut cov) = (vec![0.0; m], vec![0.0; m]);
        s.block_with_covariance(4, 0, block, m, &mut out, Some(&mut cov), &mut sc);
        values.extend_from_slice(&cov);
        block += 1;
    }
    let nf = nets as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let c2 = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let c4 = values.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / nf;
    let se = ((c4 - c2 * c2) / nf).sqrt();
    let want = *v.v.last().unwrap();
    assert!(
        (c2 - want).abs() <= MC_SIGMAS * se + 3.0 / n as f64 * want,
        "Var(S) = {c2} +- {se} vs leading order {want}"
    );
    // The mean of S is the NNGP kernel to O(1/n).
    assert!(
        (mean - v.k.last().unwrap()).abs() <= 0.01 * mean,
        "{mean} vs {}",
        v.k.last().unwrap()
    );
}

/// The stage's sampler ([`Sampler::new`]: direct for one-layer GaussNet, Erf and ReLU, layer by layer otherwise)
/// with the conditional covariance: `nets` networks of bag 0 as columns, the outputs (d_out * P columns) and the
/// covariance entries (P(P+1)/2 columns, in the order of `cov_pairs`).
fn draw_with_cov(cfg: &Config, seed: u64, nets: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let s = Sampler::new(cfg);
    let p = cfg.n_points();
    let (cols, ncov) = (p * cfg.d_out(), cov_len(p));
    let (mut f, mut cov) = (vec![Vec::new(); cols], vec![Vec::new(); ncov]);
    let mut sc = Scratch::default();
    let (mut done, mut block) = (0, 0);
    while done < nets {
        let n = BLOCK_NETS.min(nets - done);
        let (mut out, mut c) = (vec![0.0; cols * n], vec![0.0; ncov * n]);
        s.block_with_covariance(seed, 0, block, n, &mut out, Some(&mut c), &mut sc);
        for (col, chunk) in f.iter_mut().zip(out.chunks(n)) {
            col.extend_from_slice(chunk);
        }
        for (col, chunk) in cov.iter_mut().zip(c.chunks(n)) {
            col.extend_from_slice(chunk);
        }
        done += n;
        block += 1;
    }
    (f, cov)
}

/// Mean and standard error of i.i.d. values.
fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (v / n).sqrt())
}

/// The checks of "f given the last hidden layer is N(0, S), outputs independent, one S for all": labels of
/// those whose estimate misses its exact value by more than MC_SIGMAS standard errors, and the number made.
/// - E[f_op f_o'q] = [o = o'] E[S_pq] (all outputs o, o', points p <= q);
/// - E[f_op^4 / S_pp^2] = 3 (f_op / sqrt(S_pp) is standard normal given S);
/// - E[f_a f_b f_c f_d] = E[Wick(S)] for every multiset of four (output, point) legs (Wick's theorem inside the
///   expectation: f is conditionally Gaussian with the covariance S, and independent of S otherwise);
/// - with `k` (one hidden layer), E[S_pq] = K(x_p, x_q) exactly.
fn conditional_failures(
    cfg: &Config,
    f: &[Vec<f64>],
    s: &[Vec<f64>],
    k: Option<&[f64]>,
) -> (Vec<String>, usize) {
    let p = cfg.n_points();
    let cols = f.len();
    let n = f[0].len();
    let tri = |a: usize, b: usize| {
        let (a, b) = (a.min(b), a.max(b));
        a * p - a * (a + 1) / 2 + b // index of (a, b) in cov_pairs order
    };
    // S between legs (output, point): zero across outputs.
    let pair = |x: usize, y: usize, net: usize| {
        if x / p == y / p {
            s[tri(x % p, y % p)][net]
        } else {
            0.0
        }
    };
    let (mut bad, mut made) = (Vec::new(), 0);
    let mut check = |label: String, values: Vec<f64>, want: f64| {
        let (m, se) = mean_se(&values);
        made += 1;
        if (m - want).abs() > MC_SIGMAS * se {
            bad.push(format!("{label}: {m} +- {se} vs {want}"));
        }
    };
    for x in 0..cols {
        for y in x..cols {
            let v = (0..n).map(|i| f[x][i] * f[y][i] - pair(x, y, i)).collect();
            check(format!("f{x} f{y} - S"), v, 0.0);
        }
        let t = tri(x % p, x % p);
        let v = (0..n).map(|i| f[x][i].powi(4) / s[t][i].powi(2)).collect();
        check(format!("(f{x}^2 / S)^2"), v, 3.0);
    }
    for legs in nnqft_physics::combos::multisets(cols, 4) {
        let [a, b, c, d] = [0, 1, 2, 3].map(|j| legs[j] as usize);
        let v = (0..n)
            .map(|i| {
                let wick = pair(a, b, i) * pair(c, d, i)
                    + pair(a, c, i) * pair(b, d, i)
                    + pair(a, d, i) * pair(b, c, i);
                f[a][i] * f[b][i] * f[c][i] * f[d][i] - wick
            })
            .collect();
        check(format!("f{a} f{b} f{c} f{d} - Wick(S)"), v, 0.0);
    }
    if let Some(k) = k {
        for (t, (a, b)) in cov_pairs(p).enumerate() {
            check(format!("S_{a}{b} vs K"), s[t].clone(), k[a * p + b]);
        }
    }
    (bad, made)
}

#[test]
fn outputs_are_gaussian_given_the_recorded_conditional_covariance() {
    // Every sampling path: the one-layer direct loop (Erf, ReLU; GaussNet on the progression path, which is the
    // fused AVX2 loop where the CPU has it, and off it at uneven points), the layered sampler (one-layer tanh,
    // deep tanh and ReLU) and two outputs. Small last widths, so that f itself is far from Gaussian (the checks
    // would fail with K in place of S) and a wrong 1/n_L is visible. Then the two likely mistakes, S without
    // sigma_b^2 and S with 1/(n_L + 1), must each fail some check.
    let three = vec![vec![-0.9], vec![-0.1], vec![0.7]];
    let even = vec![vec![-0.3], vec![0.0], vec![0.3], vec![0.6]];
    let uneven = vec![vec![-0.4], vec![0.1], vec![0.3]];
    let positive = vec![vec![0.3], vec![0.8], vec![1.2]];
    let cases = [
        Config::new(Arch::Erf, 1, 3, 1.5, 0.5, &three).unwrap(),
        Config::new(Arch::Relu, 1, 4, 1.2, 0.3, &positive).unwrap(),
        Config::new(Arch::GaussNet, 1, 5, 1.0, 0.5, &even).unwrap(),
        Config::new(Arch::GaussNet, 1, 4, 1.2, 0.4, &uneven).unwrap(),
        Config::new(Arch::Tanh, 1, 3, 1.4, 0.5, &three).unwrap(),
        Config::deep(Arch::Tanh, 1, &[6, 5, 4], 1, 1.3, 0.4, &three).unwrap(),
        Config::deep(Arch::Relu, 1, &[5, 4, 3], 1, 1.4, 0.3, &positive).unwrap(),
        Config::deep(Arch::Erf, 1, &[4], 2, 1.5, 0.5, &three).unwrap(),
        Config::deep(Arch::Relu, 1, &[5, 4], 2, 1.3, 0.3, &positive).unwrap(),
    ];
    for (c, cfg) in cases.iter().enumerate() {
        let (f, s) = draw_with_cov(cfg, 100 + c as u64, 20_000);
        let one_layer = cfg.depth() == 1 && matches!(cfg.arch(), Arch::GaussNet | Arch::Erf | Arch::Relu);
        let k = one_layer.then(|| nnqft_physics::kernel::k_matrix(cfg));
        let (bad, made) = conditional_failures(cfg, &f, &s, k.as_deref());
        assert!(
            bad.is_empty(),
            "case {c} {cfg:?}: {} of {made} checks fail: {bad:#?}",
            bad.len()
        );
        let sb2 = cfg.sigma_b().powi(2);
        let n_last = *cfg.widths().last().unwrap() as f64;
        let no_bias: Vec<Vec<f64>> = s.iter().map(|c| c.iter().map(|v| v - sb2).collect()).collect();
        let wrong_n: Vec<Vec<f64>> = s
            .iter()
            .map(|c| {
                c.iter()
                    .map(|v| sb2 + (v - sb2) * n_last / (n_last + 1.0))
                    .collect()
            })
            .collect();
        for (what, wrong) in [("without sigma_b^2", no_bias), ("with 1/(n_L + 1)", wrong_n)] {
            let (bad, _) = conditional_failures(cfg, &f, &wrong, k.as_deref());
            assert!(!bad.is_empty(), "case {c}: an S {what} passes every check");
        }
    }
}
