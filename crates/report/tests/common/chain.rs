//! The real stages on small ensembles (sample -> moments -> fit -> flow), through their libraries: for the
//! physics controls and for reports built from real artifacts in the browser test.

use clap::Parser;
use nnqft_report::data::{Fit, Flow, read_fit, read_flow};
use std::path::{Path, PathBuf};

/// Bags and networks per bag of every sample here unless a caller gives its own.
pub const BAGS: &str = "20";
pub const NETS: &str = "5000";

pub fn sample(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut full = vec!["nnqft-sample"];
    full.extend_from_slice(args);
    full.extend(["--out", out.to_str().unwrap()]);
    nnqft_sample::run(&nnqft_sample::Args::parse_from(full)).unwrap();
    out
}

pub fn moments(dir: &Path, name: &str, input: &Path) -> PathBuf {
    moments_with(dir, name, input, &[])
}

/// Moments with more flags (e.g. `--max-n 8`).
pub fn moments_with(dir: &Path, name: &str, input: &Path, more: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut a = vec!["nnqft-moments", input.to_str().unwrap()];
    a.extend_from_slice(more);
    a.extend(["--out", out.to_str().unwrap()]);
    nnqft_moments::run(&nnqft_moments::Args::parse_from(a)).unwrap();
    out
}

/// Fits moments artifacts (`extra`: the sweep and its options; 100 bootstrap replicates).
pub fn fit(dir: &Path, name: &str, ms: &[PathBuf], extra: &[&str]) -> Fit {
    let out = dir.join(name);
    let mut a: Vec<String> = vec!["nnqft-fit".into()];
    a.extend(ms.iter().map(|m| m.display().to_string()));
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(
        ["--bootstrap", "100", "--seed", "1", "--out"]
            .iter()
            .map(|s| s.to_string()),
    );
    a.push(out.display().to_string());
    nnqft_fit::run(&nnqft_fit::Args::parse_from(a)).unwrap();
    read_fit(&out).unwrap()
}

/// Samples (with `--n-bags`, `--n-nets` and `--seed` given in `fixed`, or [`BAGS`], [`NETS`] and seed 7) and
/// moments of one architecture at each value of a swept flag (`-N` or `--sigma-w`).
pub fn sweep(dir: &Path, tag: &str, flag: &str, values: &[&str], fixed: &[&str]) -> Vec<PathBuf> {
    sweep_with(dir, tag, flag, values, fixed, &[])
}

/// [`sweep`] with flags for the moments stage.
pub fn sweep_with(
    dir: &Path,
    tag: &str,
    flag: &str,
    values: &[&str],
    fixed: &[&str],
    moments_flags: &[&str],
) -> Vec<PathBuf> {
    values
        .iter()
        .map(|v| {
            let mut args = vec![flag, v];
            args.extend_from_slice(fixed);
            for (f, default) in [("--n-bags", BAGS), ("--n-nets", NETS), ("--seed", "7")] {
                if !fixed.contains(&f) {
                    args.extend([f, default]);
                }
            }
            let s = sample(dir, &format!("s{tag}{v}"), &args);
            moments_with(dir, &format!("m{tag}{v}"), &s, moments_flags)
        })
        .collect()
}

/// A flow from the first sweep point of a fit artifact.
pub fn flow(dir: &Path, name: &str, fit: &Fit) -> Flow {
    let out = dir.join(name);
    nnqft_flow::run(&nnqft_flow::Args::parse_from([
        "nnqft-flow",
        fit.dir.to_str().unwrap(),
        "--k-end-ratio",
        "0.1",
        "--samples",
        "50",
        "--out",
        out.to_str().unwrap(),
    ]))
    .unwrap();
    read_flow(&out).unwrap()
}
