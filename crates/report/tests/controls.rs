//! Physics controls through the whole chain (sample -> moments -> fit -> the report's verdicts), on small
//! ensembles with fixed seeds: an ensemble whose physics satisfies a claim must pass it, one whose physics
//! violates the claim's premise must fail it (never pass, never come out not resolvable).
//!
//! Premise violated: "u_4 is constant over combinations" is a locality statement; for Erf at the HMS points
//! (-1, -0.2, 0.6, 1), sigma_b = 0, the exact relative spread of u_4 over combinations is about 0.4, eight times the 0.05
//! threshold. The same claim holds for ReLU with sigma_b = 0 at positive points (f = x Z exactly, so u_4 is the
//! same multiple of the vertex integral for every combination: the spread is 0).

use clap::Parser;
use nnqft_report::checks;
use nnqft_report::data::{Fit, read_fit};
use std::path::{Path, PathBuf};

fn sample(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut full = vec!["nnqft-sample"];
    full.extend_from_slice(args);
    full.extend(["--out", out.to_str().unwrap()]);
    nnqft_sample::run(&nnqft_sample::Args::parse_from(full)).unwrap();
    out
}

fn moments(dir: &Path, name: &str, input: &Path) -> PathBuf {
    let out = dir.join(name);
    nnqft_moments::run(&nnqft_moments::Args::parse_from([
        "nnqft-moments",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]))
    .unwrap();
    out
}

/// A width sweep (N = 2, 5, 20) of one architecture, fitted.
fn width_sweep(dir: &Path, arch: &str, sigma_b: &str, points: &str) -> Fit {
    let ms: Vec<PathBuf> = ["2", "5", "20"]
        .iter()
        .map(|n| {
            let s = sample(
                dir,
                &format!("s{arch}{n}"),
                &[
                    "--arch",
                    arch,
                    "-N",
                    n,
                    "--sigma-w",
                    "1",
                    "--sigma-b",
                    sigma_b,
                    &format!("--points={points}"),
                    "--n-bags",
                    "20",
                    "--n-nets",
                    "5000",
                    "--seed",
                    "7",
                ],
            );
            moments(dir, &format!("m{arch}{n}"), &s)
        })
        .collect();
    let out = dir.join(format!("fit{arch}"));
    let mut a: Vec<String> = vec!["nnqft-fit".into()];
    a.extend(ms.iter().map(|m| m.display().to_string()));
    a.extend(
        [
            "--sweep",
            "width",
            "--cutoff",
            "10",
            "--bootstrap",
            "100",
            "--seed",
            "1",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a.push(out.display().to_string());
    nnqft_fit::run(&nnqft_fit::Args::parse_from(a)).unwrap();
    read_fit(&out).unwrap()
}

fn check(fit: &Fit, id: &str) -> checks::Check {
    let c = checks::checks(fit)
        .into_iter()
        .find(|c| c.id.starts_with(id))
        .unwrap();
    println!(
        "{id} [{}]: {} ({:?}) {}",
        fit.arch, c.verdict, c.exact_verdict, c.note
    );
    c
}

#[test]
fn u4_constant_passes_where_local_and_fails_where_not() {
    let d = tempfile::tempdir().unwrap();
    // Negative control: Erf at the HMS points.
    let c = check(
        &width_sweep(d.path(), "erf", "0", "-1,-0.2,0.6,1"),
        "u4_constant_negative",
    );
    assert_eq!(
        (c.verdict.as_str(), c.exact_verdict.map(|v| v.as_str())),
        ("fail", Some("fail"))
    );
    // Positive control: ReLU, sigma_b = 0, positive points.
    let c = check(
        &width_sweep(d.path(), "relu", "0", "0.2,0.4,0.6,0.8"),
        "u4_constant_negative",
    );
    assert_eq!(
        (c.verdict.as_str(), c.exact_verdict.map(|v| v.as_str())),
        ("pass", Some("pass"))
    );
}

/// The slope rule on measured data: ReLU with sigma_b = 0 has m_4 = 5/N exactly (PHYSICS.md 4), so the
/// claim m_4 ~ 1/N must pass, and the same fit must fail a claim whose premise is false (m_4 ~ 1/N^2), and the
/// alternative "no scaling" (slope 0).
#[test]
fn the_slope_rule_passes_the_true_exponent_and_fails_false_ones_on_measured_data() {
    let d = tempfile::tempdir().unwrap();
    let fit = width_sweep(d.path(), "relu", "0", "0.2,0.4,0.6,0.8");
    assert_eq!(check(&fit, "m4_inv_N").verdict, "pass");
    let row = fit.fit(nnqft_report::data::FitId::VsWidth(
        nnqft_contract::fit::WidthSlope::M4,
    ));
    for wrong in [-2.0, 0.0] {
        let c = checks::numeric("m4".into(), "m_4 ~ N^p", wrong, row, "slope");
        assert_eq!(c.verdict, "fail", "prediction {wrong}: {}", c.note);
    }
}
