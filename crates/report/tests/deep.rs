//! The deep-network claims (`nnqft_report::deep`): every verdict rule with a positive control (data drawn from
//! the law the claim states must pass), a negative control (data that violate it must fail, never pass or come
//! out not resolvable), and a control with too little data (not resolvable). The synthetic data are exact draws of
//! the bias-free deep ReLU law (PHYSICS.md 10): at one input, f = sqrt(S) Z with S = S^(0) prod_l T_l,
//! T_l = (sigma_W^2/n) chi^2 with B ~ Binomial(n, 1/2) degrees of freedom; per bag the conditional estimates
//! G^(2) = mean S and G^(4) = mean 3 S^2 (unbiased for E[f^2] and E[f^4]). Fixed seeds. Plus the whole chain
//! (sample -> moments -> report --moments) on a small ensemble.

use clap::Parser;
use nnqft_moments::Estimator;
use nnqft_physics::{Arch, Config};
use nnqft_report::checks::{Check, Verdict};
use nnqft_report::deep::{self, Sweep, WidthData};
use rand::SeedableRng;
use rand_distr::{Binomial, ChiSquared, Distribution};
use rand_xoshiro::Xoshiro256PlusPlus;

const WIDTHS: [u64; 5] = [10, 30, 100, 300, 1000];
const SIGMA_W2: f64 = 2.0;

/// A ReLU sweep labelled with `depth` and `WIDTHS`, drawn with `true_depth` layers of width `law(n)`; per bag
/// the conditional estimates (mean S, mean 3 S^2), or with `products` the moments of f = sqrt(S) Z themselves
/// (the moments stage's estimator, far noisier).
#[allow(clippy::too_many_arguments)]
fn draw(
    widths: &[u64],
    depth: usize,
    true_depth: usize,
    law: impl Fn(u64) -> u64,
    bags: usize,
    nets: usize,
    seed: u64,
    products: bool,
) -> Sweep {
    let pts = vec![vec![0.5], vec![1.0]];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let first = widths[0];
    let widths = widths
        .iter()
        .map(|&n| {
            let m = law(n);
            let bin = Binomial::new(m, 0.5).unwrap();
            let (mut g2, mut g4) = (vec![], vec![]);
            for _ in 0..bags {
                let (mut s2, mut s4) = (0.0, 0.0);
                for _ in 0..nets {
                    let mut s = SIGMA_W2; // S^(0) at x = 1, d = 1
                    for _ in 0..true_depth {
                        let b = bin.sample(&mut rng);
                        let chi = if b == 0 {
                            0.0
                        } else {
                            ChiSquared::new(b as f64).unwrap().sample(&mut rng)
                        };
                        s *= SIGMA_W2 / m as f64 * chi;
                    }
                    if products {
                        let z: f64 = rand_distr::StandardNormal.sample(&mut rng);
                        let f2 = s * z * z;
                        s2 += f2;
                        s4 += f2 * f2;
                    } else {
                        s2 += s;
                        s4 += 3.0 * s * s;
                    }
                }
                g2.push(s2 / nets as f64);
                g4.push(s4 / nets as f64);
            }
            WidthData {
                n,
                g2,
                g4,
                resolvable: true,
            }
        })
        .collect();
    Sweep {
        cfg: Config::deep(Arch::Relu, 1, &vec![first; depth], 1, SIGMA_W2.sqrt(), 0.0, &pts).unwrap(),
        point: 1,
        estimator: if products {
            Estimator::Products
        } else {
            Estimator::Conditional
        },
        widths,
    }
}

fn sweep(
    depth: usize,
    true_depth: usize,
    law: impl Fn(u64) -> u64,
    bags: usize,
    nets: usize,
    seed: u64,
) -> Sweep {
    draw(&WIDTHS, depth, true_depth, law, bags, nets, seed, false)
}

fn checks_of(sweeps: &[Sweep]) -> Vec<Check> {
    let analyses: Vec<_> = sweeps.iter().map(|s| deep::analyse(s).unwrap()).collect();
    let mut out = vec![];
    for (s, a) in sweeps.iter().zip(&analyses) {
        out.extend(deep::sweep_checks(s, a, &format!("relu L={}", s.cfg.depth())));
    }
    let fam: Vec<_> = sweeps.iter().zip(&analyses).collect();
    out.extend(deep::growth_check(&fam, "relu"));
    out
}

fn verdict(cs: &[Check], id: &str) -> Verdict {
    cs.iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| {
            panic!(
                "no check {id}: {:?}",
                cs.iter().map(|c| &c.id).collect::<Vec<_>>()
            )
        })
        .verdict
}

/// Asserts the verdict of check `id`, showing every check when it differs.
fn expect(cs: &[Check], id: &str, want: Verdict) {
    assert_eq!(verdict(cs, id), want, "{id}:\n{}", show(cs));
}

fn show(cs: &[Check]) -> String {
    cs.iter()
        .map(|c| format!("{} {}: {}", c.id, c.verdict, c.note))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_exact_deep_relu_law_passes_every_claim() {
    let sweeps: Vec<Sweep> = (1..=4)
        .map(|l| sweep(l, l, |n| n, 20, 4000, 10 + l as u64))
        .collect();
    let cs = checks_of(&sweeps);
    // Per depth: exponent, exact value, vertex limit; then the growth.
    assert_eq!(cs.len(), 13, "{}", show(&cs));
    for c in &cs {
        assert_eq!(c.verdict, Verdict::Pass, "{}", show(&cs));
        assert_ne!(c.exact_verdict, Some(Verdict::Fail), "{}", show(&cs));
    }
    // The prediction of the growth is the leading-order 5 per layer.
    let g = cs.iter().find(|c| c.id == "deep_vertex_growth[relu]").unwrap();
    assert!((g.prediction.as_f64().unwrap() - 5.0).abs() < 1e-9);
}

#[test]
fn networks_of_half_the_stated_width_fail_the_exact_value_vertex_and_growth() {
    // Drawn at width n/2 but labelled n: the excess doubles (amplitude ~2, limit ~10 L, slope ~10).
    let sweeps: Vec<Sweep> = (1..=4)
        .map(|l| sweep(l, l, |n| n / 2, 20, 4000, 20 + l as u64))
        .collect();
    let cs = checks_of(&sweeps);
    for l in 1..=4 {
        expect(&cs, &format!("deep_relu_exact[relu L={l}]"), Verdict::Fail);
        expect(&cs, &format!("deep_vertex_limit[relu L={l}]"), Verdict::Fail);
    }
    expect(&cs, "deep_vertex_growth[relu]", Verdict::Fail);
}

#[test]
fn a_connected_function_falling_like_one_over_n_squared_fails_the_exponent() {
    // Width n^2 / 10 labelled n: G_c^(4) ~ 50 L / n^2.
    let sweeps: Vec<Sweep> = (1..=2)
        .map(|l| sweep(l, l, |n| n * n / 10, 20, 4000, 30 + l as u64))
        .collect();
    let cs = checks_of(&sweeps);
    for l in 1..=2 {
        expect(&cs, &format!("deep_gc4_inv_n[relu L={l}]"), Verdict::Fail);
    }
}

#[test]
fn a_vertex_that_does_not_grow_with_depth_fails_the_growth() {
    // Every depth drawn with one hidden layer: the limit stays at 5.
    let sweeps: Vec<Sweep> = (1..=4)
        .map(|l| sweep(l, 1, |n| n, 20, 4000, 40 + l as u64))
        .collect();
    let cs = checks_of(&sweeps);
    expect(&cs, "deep_vertex_growth[relu]", Verdict::Fail);
}

#[test]
fn widths_the_tail_rule_marks_enter_no_fit() {
    // A width whose G^(4) is ten times too large fails the exact value and the vertex limit, unless the tail rule
    // of the moments stage marked it: then it is left out (and named in the notes).
    let spoil = |mark: bool| {
        let mut s = sweep(2, 2, |n| n, 20, 4000, 60);
        s.widths[2].g4.iter_mut().for_each(|g| *g *= 10.0);
        s.widths[2].resolvable = !mark;
        checks_of(&[s])
    };
    let cs = spoil(false);
    expect(&cs, "deep_relu_exact[relu L=2]", Verdict::Fail);
    expect(&cs, "deep_vertex_limit[relu L=2]", Verdict::Fail);
    let cs = spoil(true);
    for c in &cs {
        assert_eq!(c.verdict, Verdict::Pass, "{}", show(&cs));
        assert!(
            c.note.contains("Widths 100 are excluded by the tail rule"),
            "{}",
            c.note
        );
    }
    // Every width marked: nothing to decide.
    let mut s = sweep(1, 1, |n| n, 20, 4000, 61);
    s.widths.iter_mut().for_each(|w| w.resolvable = false);
    for c in checks_of(&[s]) {
        assert_eq!(c.verdict, Verdict::NotResolvable, "{}: {}", c.id, c.note);
    }
}

#[test]
fn too_few_networks_are_not_resolvable() {
    // Products of f (the moments stage's estimator), 20 bags of 2000 networks, at widths where the signal
    // (5L/n <= 0.0033) is far below the noise (about 0.008 per width): nothing can be decided.
    let sweeps: Vec<Sweep> = (1..=2)
        .map(|l| draw(&[3000, 10000, 30000], l, l, |n| n, 20, 2000, 50 + l as u64, true))
        .collect();
    let cs = checks_of(&sweeps);
    for c in &cs {
        assert_eq!(c.verdict, Verdict::NotResolvable, "{}", show(&cs));
    }
}

#[test]
fn the_verdict_rule_needs_the_prediction_and_not_the_alternative() {
    assert_eq!(deep::decide(Some((0.8, 1.2)), 1.0, 0.0), Verdict::Pass);
    assert_eq!(deep::decide(Some((-0.2, 1.2)), 1.0, 0.0), Verdict::NotResolvable);
    assert_eq!(deep::decide(Some((-0.2, 0.5)), 1.0, 0.0), Verdict::Fail);
    assert_eq!(deep::decide(Some((1.5, 2.5)), 1.0, 0.0), Verdict::Fail);
    assert_eq!(deep::decide(None, 1.0, 0.0), Verdict::NotResolvable);
}

#[test]
fn the_fits_recover_known_coefficients() {
    let ns = [10.0, 30.0, 100.0, 300.0, 1000.0];
    let sd = [1.0; 5];
    // y = n^-1.3 (2 + 7/n).
    let ys: Vec<f64> = ns.iter().map(|n: &f64| n.powf(-1.3) * (2.0 + 7.0 / n)).collect();
    assert!((deep::exponent(&ns, &ys, &sd) + 1.3).abs() < 1e-6);
    // y = 3 + 4/n - 5/n^2.
    let ys: Vec<f64> = ns.iter().map(|n| 3.0 + 4.0 / n - 5.0 / (n * n)).collect();
    let c = deep::inverse_poly(&ns, &ys, &sd, 3).unwrap();
    assert!(
        (c[0] - 3.0).abs() < 1e-9 && (c[1] - 4.0).abs() < 1e-7 && (c[2] + 5.0).abs() < 1e-5,
        "{c:?}"
    );
    assert!((deep::amplitude(&[2.0, 4.0], &[1.0, 2.0], &[1.0, 1.0]) - 2.0).abs() < 1e-12);
}

#[test]
fn the_report_stage_reads_deep_moments_tables() {
    let dir = tempfile::tempdir().unwrap();
    let mut ms = vec![];
    for n in ["10", "30", "100"] {
        let s = dir.path().join(format!("s{n}"));
        nnqft_sample::run(&nnqft_sample::Args::parse_from([
            "nnqft-sample",
            "--arch",
            "relu",
            "--width",
            n,
            "--depth",
            "2",
            "--sigma-w",
            "1.4142135623730951",
            "--sigma-b",
            "0",
            "--points=0.5,1.0",
            "--n-bags",
            "10",
            "--n-nets",
            "2000",
            "--seed",
            "3",
            "--out",
            s.to_str().unwrap(),
        ]))
        .unwrap();
        let m = dir.path().join(format!("m{n}"));
        nnqft_moments::run(&nnqft_moments::Args::parse_from([
            "nnqft-moments",
            s.to_str().unwrap(),
            "--out",
            m.to_str().unwrap(),
        ]))
        .unwrap();
        ms.push(m);
    }
    let out = dir.path().join("report");
    let mut args = vec!["nnqft-report".to_string()];
    for m in &ms {
        args.extend(["--moments".into(), m.display().to_string()]);
    }
    args.extend(["--out".into(), out.display().to_string()]);
    let o = nnqft_report::run(&nnqft_report::Args::parse_from(args)).unwrap();
    let ids: Vec<&str> = o.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "deep_gc4_inv_n[relu L=2]",
            "deep_relu_exact[relu L=2]",
            "deep_vertex_limit[relu L=2]"
        ],
    );
    // The exact theory is the bias-free ReLU product: its exponent fit is -1 within the tolerance; the values
    // come from the conditional-Gaussian estimator (the sample carries S by default).
    assert_eq!(o.checks[0].exact_verdict, Some(Verdict::Pass));
    assert!(
        o.checks[0].note.starts_with("Conditional-Gaussian"),
        "{}",
        o.checks[0].note
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        html.contains("leading-order vertex"),
        "figures of the deep section"
    );
    // Unequal widths are refused, naming them.
    let s = dir.path().join("unequal");
    nnqft_sample::run(&nnqft_sample::Args::parse_from([
        "nnqft-sample",
        "--arch",
        "relu",
        "--widths",
        "10,20",
        "--sigma-w",
        "1",
        "--sigma-b",
        "0",
        "--points=1.0",
        "--n-bags",
        "2",
        "--n-nets",
        "10",
        "--out",
        s.to_str().unwrap(),
    ]))
    .unwrap();
    let m = dir.path().join("munequal");
    nnqft_moments::run(&nnqft_moments::Args::parse_from([
        "nnqft-moments",
        s.to_str().unwrap(),
        "--out",
        m.to_str().unwrap(),
    ]))
    .unwrap();
    let err = nnqft_report::run(&nnqft_report::Args::parse_from([
        "nnqft-report",
        "--moments",
        m.to_str().unwrap(),
        "--out",
        dir.path().join("r2").to_str().unwrap(),
    ]))
    .unwrap_err();
    assert!(format!("{err:#}").contains("[10, 20]"), "{err:#}");
    assert!(!dir.path().join("r2").exists());
}
