//! Exact finite-N results (PHYSICS.md 4) against Monte Carlo, in light-tailed settings, with tolerances in
//! estimated standard errors (spread of bag means / sqrt(bags)) and fixed seeds.
//!
//! Eight-point functions (PHYSICS.md 11) are checked with networks simulated in this file and the conditional
//! structure of PHYSICS.md 9 (E[Wick(S)] and sums of joint cumulants of S entries), which keeps G_c^(8) at
//! 0.5-1.6% relative standard error with 1-3 million networks; products of f are checked too for Erf.

use nnqft_physics::combos::{Index, multisets, pairings};
use nnqft_physics::exact::Exact;
use nnqft_physics::exact8::tabulate;
use nnqft_physics::sampler::{Sampler, Scratch};
use nnqft_physics::tol::MC_SIGMAS;
use nnqft_physics::{Arch, Config};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

mod common;
use common::{Estimate, estimate as estimate_columns};

fn estimate(cfg: &Config, seed: u64, bags: u32, nets: usize) -> Vec<Estimate> {
    let sampler = Sampler::new(cfg);
    let draw =
        |bag, block, n, out: &mut [f64]| sampler.block(seed, bag, block, n, out, &mut Scratch::default());
    estimate_columns(cfg.n_points(), bags, nets, &draw)
}

/// Every estimate within MC_SIGMAS standard errors of the exact G^(n); returns how many orders-4/6
/// estimates reject the free (Wick) value, to show the test has the power to see the 1/N terms.
fn check(cfg: &Config, seed: u64, bags: u32, nets: usize) -> usize {
    let exact = Exact::new(cfg).unwrap();
    let mut rejects_free = 0;
    for e in estimate(cfg, seed, bags, nets) {
        let g = exact.g(&e.legs);
        let z = (e.mean - g) / e.stderr;
        assert!(
            z.abs() < MC_SIGMAS,
            "{:?} N={} n={} {:?}: MC {} +- {} vs exact {} ({z:.1} sigma)",
            cfg.arch(),
            cfg.width(),
            e.legs.len(),
            e.legs,
            e.mean,
            e.stderr,
            g
        );
        if e.legs.len() > 2 && ((e.mean - exact.g_free(&e.legs)) / e.stderr).abs() > MC_SIGMAS {
            rejects_free += 1;
        }
    }
    rejects_free
}

fn line(p: usize, lo: f64, hi: f64) -> Vec<Vec<f64>> {
    (0..p)
        .map(|i| vec![lo + (hi - lo) * i as f64 / (p - 1) as f64])
        .collect()
}

#[test]
fn kernel_kappa4_and_delta_g6_match_monte_carlo_gaussnet() {
    let cfg = Config::new(Arch::GaussNet, 1, 2, 1.0, 0.4, &line(4, -0.3, 0.3)).unwrap();
    assert!(check(&cfg, 11, 40, 5000) > 0);
}

#[test]
fn gaussnet_in_two_dimensions_matches_monte_carlo() {
    let pts = vec![vec![0.1, -0.2], vec![0.3, 0.3], vec![-0.4, 0.1]];
    let cfg = Config::new(Arch::GaussNet, 2, 2, 1.2, 0.3, &pts).unwrap();
    assert!(check(&cfg, 12, 40, 5000) > 0);
}

#[test]
fn kernel_kappa4_and_delta_g6_match_monte_carlo_erf() {
    let cfg = Config::new(Arch::Erf, 1, 2, 1.5, 0.4, &line(4, -1.0, 1.0)).unwrap();
    assert!(check(&cfg, 13, 40, 5000) > 0);
}

#[test]
fn kernel_kappa4_and_delta_g6_match_monte_carlo_relu() {
    let cfg = Config::new(Arch::Relu, 1, 2, 1.0, 0.0, &line(4, 0.2, 1.2)).unwrap();
    assert!(check(&cfg, 14, 40, 5000) > 0);
    let cfg = Config::new(Arch::Relu, 1, 3, 1.3, 0.5, &line(3, -1.0, 1.0)).unwrap();
    assert!(check(&cfg, 15, 40, 5000) > 0);
}

/// Per-bag estimates of the eight-point functions of every multiset of 8 points (lexicographic order).
struct Eight {
    /// G^(8) from products of f.
    products: Vec<Vec<f64>>,
    /// G^(8) = E[Wick(S)] from the conditional covariance S of each network (PHYSICS.md 9).
    conditional: Vec<Vec<f64>>,
    /// G_c^(8) = sum over the 105 pairings of the joint cumulant kappa_4 of the four matched S entries.
    connected: Vec<Vec<f64>>,
    /// The same two for legs on two outputs, [pattern][slot]: only pairings within one output count (the
    /// outputs are independent given the hidden layer, with the same S).
    conditional_outs: Vec<Vec<Vec<f64>>>,
    connected_outs: Vec<Vec<Vec<f64>>>,
}

/// Output of each leg (the legs of a multiset in sorted order) for the two-output checks.
const PATTERNS: [[usize; 8]; 3] = [
    [0, 0, 0, 0, 1, 1, 1, 1],
    [0, 1, 0, 1, 0, 1, 0, 1],
    [0, 0, 1, 1, 1, 1, 1, 1],
];

/// Simulates `bags` x `nets` one-hidden-layer networks here (own draws, independent of the crate's sampler) and
/// estimates, per bag, G^(8) (both ways) and G_c^(8) for every multiset of eight points. Given the hidden units,
/// f is Gaussian with covariance S(p, q) = sigma_b^2 + (sigma_W^2/N) sum_i g_i(x_p) g_i(x_q). The joint
/// cumulants of S are plug-in estimates from bag-centred entries; their O(1/nets) bias is far below the standard
/// errors here.
fn eight_point(cfg: &Config, seed: u64, bags: u32, nets: usize) -> Eight {
    let p = cfg.n_points();
    let (sw, sb, width) = (cfg.sigma_w(), cfg.sigma_b(), cfg.width() as usize);
    let act = |z: f64| match cfg.arch() {
        Arch::Erf => libm::erf(z),
        Arch::Relu => z.max(0.0),
        other => panic!("no test activation for {other:?}"),
    };
    let pairs: Vec<(usize, usize)> = (0..p).flat_map(|a| (a..p).map(move |b| (a, b))).collect();
    let entry = |a: usize, b: usize| pairs.iter().position(|&e| e == (a.min(b), a.max(b))).unwrap();
    let e_len = pairs.len();
    let combos = multisets(p, 8);
    let pairings8 = pairings(8);
    let e4 = multisets(e_len, 4);
    let e2 = multisets(e_len, 2);
    let e4_index = Index::new(&e4);
    let e2_index = Index::new(&e2);
    let mut est = Eight {
        products: vec![Vec::new(); combos.len()],
        conditional: vec![Vec::new(); combos.len()],
        connected: vec![Vec::new(); combos.len()],
        conditional_outs: vec![vec![Vec::new(); combos.len()]; PATTERNS.len()],
        connected_outs: vec![vec![Vec::new(); combos.len()]; PATTERNS.len()],
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut normal = || -> f64 { StandardNormal.sample(&mut rng) };
    let mut g = vec![0.0; width * p];
    for _ in 0..bags {
        let mut f: Vec<Vec<f64>> = vec![Vec::with_capacity(nets); p];
        let mut s: Vec<Vec<f64>> = vec![Vec::with_capacity(nets); e_len];
        for _ in 0..nets {
            for i in 0..width {
                let (w, b) = (normal(), normal());
                for a in 0..p {
                    g[i * p + a] = act(sw * cfg.point(a)[0] * w + sb * b);
                }
            }
            let b1 = sb * normal();
            let w1: Vec<f64> = (0..width)
                .map(|_| sw / (width as f64).sqrt() * normal())
                .collect();
            for a in 0..p {
                f[a].push(b1 + (0..width).map(|i| w1[i] * g[i * p + a]).sum::<f64>());
            }
            for (t, &(a, b)) in pairs.iter().enumerate() {
                let dot: f64 = (0..width).map(|i| g[i * p + a] * g[i * p + b]).sum();
                s[t].push(sb * sb + sw * sw / width as f64 * dot);
            }
        }
        let m = nets as f64;
        let ones = vec![1.0 / m; nets];
        let g8 = tabulate(&f, &ones, 8);
        let raw4 = tabulate(&s, &ones, 4);
        let centred: Vec<Vec<f64>> = s
            .iter()
            .map(|col| {
                let mean = col.iter().sum::<f64>() / m;
                col.iter().map(|x| x - mean).collect()
            })
            .collect();
        let c2 = tabulate(&centred, &ones, 2);
        let c4 = tabulate(&centred, &ones, 4);
        let cov2 = |a: usize, b: usize| c2[e2_index.get(&[a as u16, b as u16]).unwrap()];
        for (slot, combo) in combos.iter().enumerate() {
            let (mut wick, mut conn) = (0.0, 0.0);
            let (mut wick_o, mut conn_o) = ([0.0; PATTERNS.len()], [0.0; PATTERNS.len()]);
            for pairing in &pairings8 {
                let t: Vec<usize> = pairing
                    .iter()
                    .map(|&(a, b)| entry(combo[a] as usize, combo[b] as usize))
                    .collect();
                let key: Vec<u16> = t.iter().map(|&x| x as u16).collect();
                let slot4 = e4_index.get(&key).unwrap();
                let k4 = c4[slot4]
                    - cov2(t[0], t[1]) * cov2(t[2], t[3])
                    - cov2(t[0], t[2]) * cov2(t[1], t[3])
                    - cov2(t[0], t[3]) * cov2(t[1], t[2]);
                wick += raw4[slot4];
                conn += k4;
                for (j, outs) in PATTERNS.iter().enumerate() {
                    if pairing.iter().all(|&(a, b)| outs[a] == outs[b]) {
                        wick_o[j] += raw4[slot4];
                        conn_o[j] += k4;
                    }
                }
            }
            est.products[slot].push(g8[slot]);
            est.conditional[slot].push(wick);
            est.connected[slot].push(conn);
            for j in 0..PATTERNS.len() {
                est.conditional_outs[j][slot].push(wick_o[j]);
                est.connected_outs[j][slot].push(conn_o[j]);
            }
        }
    }
    est
}

/// Mean over bags and its standard error.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// G^(8) and G_c^(8) of every eight-point multiset within MC_SIGMAS standard errors of the exact values; returns
/// the estimates of N^3 G_c^(8) for the scaling comparison. With `products` the plain products of f are tested
/// too (light tails only). Asserts power: some G^(8) rejects the free value and some G_c^(8) rejects zero.
fn check_eight(cfg: &Config, seed: u64, bags: u32, nets: usize, products: bool) -> Vec<(f64, f64)> {
    let exact = Exact::new(cfg).unwrap();
    let est = eight_point(cfg, seed, bags, nets);
    let n3 = (cfg.width() as f64).powi(3);
    let (mut rejects_free, mut rejects_zero) = (0, 0);
    let mut scaled = Vec::new();
    for (slot, combo) in multisets(cfg.n_points(), 8).iter().enumerate() {
        let idx: Vec<usize> = combo.iter().map(|&a| a as usize).collect();
        let (g, g0, k8) = (exact.g(&idx), exact.g_free(&idx), exact.connected(&idx));
        let what = format!("{:?} N={} {idx:?}", cfg.arch(), cfg.width());
        let mut series = vec![("conditional G8", &est.conditional[slot], g)];
        if products {
            series.push(("products G8", &est.products[slot], g));
        }
        series.push(("conditional Gc8", &est.connected[slot], k8));
        for (name, values, want) in series {
            let (m, se) = mean_se(values);
            let z = (m - want) / se;
            assert!(
                z.abs() < MC_SIGMAS,
                "{what} {name}: MC {m} +- {se} vs exact {want} ({z:.1} sigma)"
            );
        }
        let (m, se) = mean_se(&est.conditional[slot]);
        if ((m - g0) / se).abs() > MC_SIGMAS {
            rejects_free += 1;
        }
        let (m, se) = mean_se(&est.connected[slot]);
        if (m / se).abs() > MC_SIGMAS {
            rejects_zero += 1;
        }
        scaled.push((n3 * m, n3 * se));
    }
    assert!(
        rejects_free > 0 && rejects_zero > 0,
        "no power: {rejects_free} {rejects_zero}"
    );
    // Legs on two outputs (the `_legs` functions of a two-output ensemble with the same hidden layer).
    let two = Config::deep(
        cfg.arch(),
        1,
        &[cfg.width()],
        2,
        cfg.sigma_w(),
        cfg.sigma_b(),
        &cfg.points(),
    )
    .unwrap();
    let exact2 = Exact::new(&two).unwrap();
    let mut rejects_zero = 0;
    for (j, outs) in PATTERNS.iter().enumerate() {
        for (slot, combo) in multisets(cfg.n_points(), 8).iter().enumerate() {
            let idx: Vec<usize> = combo.iter().map(|&a| a as usize).collect();
            let what = format!("{:?} N={} {idx:?} outputs {outs:?}", cfg.arch(), cfg.width());
            for (name, values, want) in [
                (
                    "conditional G8",
                    &est.conditional_outs[j][slot],
                    exact2.g_legs(&idx, outs),
                ),
                (
                    "conditional Gc8",
                    &est.connected_outs[j][slot],
                    exact2.connected_legs(&idx, outs),
                ),
            ] {
                let (m, se) = mean_se(values);
                let z = (m - want) / se;
                assert!(
                    z.abs() < MC_SIGMAS,
                    "{what} {name}: MC {m} +- {se} vs exact {want} ({z:.1} sigma)"
                );
            }
            let (m, se) = mean_se(&est.connected_outs[j][slot]);
            if (m / se).abs() > MC_SIGMAS {
                rejects_zero += 1;
            }
        }
    }
    assert!(rejects_zero > 0, "no power on two outputs");
    scaled
}

/// N^3 G_c^(8) estimated at two widths agrees within MC_SIGMAS combined standard errors for every multiset (the
/// exact identity: kappa_8 = N kappa_8(h) with kappa_8(h) proportional to N^-4).
fn assert_same_scaled(a: &[(f64, f64)], b: &[(f64, f64)], what: &str) {
    for (i, ((ma, sa), (mb, sb))) in a.iter().zip(b).enumerate() {
        let z = (ma - mb) / (sa * sa + sb * sb).sqrt();
        assert!(
            z.abs() < MC_SIGMAS,
            "{what} multiset {i}: N^3 Gc8 {ma} +- {sa} vs {mb} +- {sb} ({z:.1} sigma)"
        );
    }
}

#[test]
fn eight_point_functions_and_their_scaling_match_monte_carlo_erf() {
    let pts = line(3, -1.0, 1.0);
    let n2 = Config::new(Arch::Erf, 1, 2, 1.5, 0.4, &pts).unwrap();
    let n4 = Config::new(Arch::Erf, 1, 4, 1.5, 0.4, &pts).unwrap();
    let a = check_eight(&n2, 21, 40, 20_000, true);
    let b = check_eight(&n4, 22, 40, 20_000, true);
    assert_same_scaled(&a, &b, "Erf N = 2 vs 4");
}

#[test]
fn eight_point_functions_and_their_scaling_match_monte_carlo_relu() {
    let pts = line(3, -1.0, 1.0);
    let n2 = Config::new(Arch::Relu, 1, 2, 1.3, 0.5, &pts).unwrap();
    let n3 = Config::new(Arch::Relu, 1, 3, 1.3, 0.5, &pts).unwrap();
    let a = check_eight(&n2, 23, 40, 80_000, false);
    let b = check_eight(&n3, 24, 40, 80_000, false);
    assert_same_scaled(&a, &b, "ReLU N = 2 vs 3");
}
