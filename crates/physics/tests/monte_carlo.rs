//! Exact finite-N results (PHYSICS.md 4) against Monte Carlo, in light-tailed settings, with tolerances in
//! estimated standard errors (spread of bag means / sqrt(bags)) and fixed seeds.

use nnqft_physics::exact::Exact;
use nnqft_physics::sampler::{Sampler, Scratch};
use nnqft_physics::tol::MC_SIGMAS;
use nnqft_physics::{Arch, Config};

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
