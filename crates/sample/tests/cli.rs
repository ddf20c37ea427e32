//! The `nnqft-sample` binary end to end: determinism, sharding, validation.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nnqft-sample"))
}

const BASE: &[&str] = &[
    "--arch",
    "gaussnet",
    "--width",
    "20",
    "--sigma-w",
    "1",
    "--sigma-b",
    "1",
    "--points=-0.01,-0.006,-0.002,0.002,0.006,0.01",
    "--n-bags",
    "3",
    "--n-nets",
    "2500",
    "--seed",
    "5",
];

fn run(args: &[&str], out: &Path, threads: &str) -> std::process::Output {
    bin()
        .args(args)
        .arg("--out")
        .arg(out)
        .env("RAYON_NUM_THREADS", threads)
        .output()
        .unwrap()
}

#[test]
fn bytes_are_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    for (name, threads) in [("t1", "1"), ("t2", "2"), ("t2b", "2")] {
        let o = run(BASE, &dir.path().join(name), threads);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let a = std::fs::read(dir.path().join("t1/samples.parquet")).unwrap();
    assert_eq!(a, std::fs::read(dir.path().join("t2/samples.parquet")).unwrap());
    assert_eq!(a, std::fs::read(dir.path().join("t2b/samples.parquet")).unwrap());
    assert_eq!(
        std::fs::read(dir.path().join("t1/manifest.json")).unwrap(),
        std::fs::read(dir.path().join("t2/manifest.json")).unwrap()
    );
}

#[test]
fn bytes_are_identical_at_every_simd_level() {
    // AVX-512, AVX2 and the baseline target must round alike (DESIGN invariant 3); the levels this CPU lacks
    // fall back to narrower ones, so on a CPU without AVX-512 this compares fewer distinct paths.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for level in ["baseline", "avx2", "avx512"] {
        for (args, tag) in [(BASE, "d1"), (&BASE_D2[..], "d2")] {
            let out = dir.path().join(format!("{level}-{tag}"));
            let o = bin()
                .args(args)
                .arg("--out")
                .arg(&out)
                .env("NNQFT_SIMD", level)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            files.push((level, tag, std::fs::read(out.join("samples.parquet")).unwrap()));
        }
    }
    for (level, tag, bytes) in &files {
        let (_, _, reference) = files.iter().find(|(_, t, _)| t == tag).unwrap();
        assert!(bytes == reference, "{level} ({tag}) differs from baseline");
    }
    let o = bin()
        .args(BASE)
        .arg("--out")
        .arg(dir.path().join("bad"))
        .env("NNQFT_SIMD", "avx9")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("NNQFT_SIMD: unknown SIMD level 'avx9'"));
    assert!(!dir.path().join("bad").exists());
}

/// Two-dimensional inputs on a line (the progression path without the fused d = 1 loop), wide exponent steps.
const BASE_D2: [&str; 16] = [
    "--arch",
    "gaussnet",
    "--d",
    "2",
    "--width",
    "30",
    "--sigma-w",
    "3",
    "--sigma-b",
    "1",
    "--points=0.1,0.2;0.3,0.1;0.5,0.0",
    "--n-bags",
    "2",
    "--n-nets",
    "1500",
    "--seed=2",
];

#[test]
fn parameter_file_and_flags_agree() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("p.toml");
    std::fs::write(
        &toml,
        "arch = \"relu\"\nwidth = 4\nsigma_w = 1.5\nsigma_b = 0.0\npoints = [0.2, 0.4, 0.6]\nn_bags = 2\nn_nets = 100\nseed = 9\n",
    )
    .unwrap();
    let a = bin()
        .args(["--params"])
        .arg(&toml)
        .arg("--out")
        .arg(dir.path().join("a"))
        .output()
        .unwrap();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let flags = [
        "--arch",
        "relu",
        "--width",
        "4",
        "--sigma-w",
        "1.5",
        "--sigma-b",
        "0",
        "--points",
        "0.2,0.4,0.6",
        "--n-bags",
        "2",
        "--n-nets",
        "100",
        "--seed",
        "9",
    ];
    let b = bin()
        .args(flags)
        .arg("--out")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    assert!(b.status.success());
    assert_eq!(
        std::fs::read(dir.path().join("a/samples.parquet")).unwrap(),
        std::fs::read(dir.path().join("b/samples.parquet")).unwrap()
    );
    // Flags override the file.
    let c = bin()
        .args(["--params"])
        .arg(&toml)
        .args(["--width", "5"])
        .arg("--out")
        .arg(dir.path().join("c"))
        .output()
        .unwrap();
    assert!(c.status.success());
    assert_ne!(
        std::fs::read(dir.path().join("a/samples.parquet")).unwrap(),
        std::fs::read(dir.path().join("c/samples.parquet")).unwrap()
    );
}

#[test]
fn every_invalid_parameter_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("--width", "0", "width N = 0"),
        ("--sigma-w", "0", "sigma_W = 0"),
        ("--sigma-w", "-1", "sigma_W = -1"),
        ("--sigma-b", "-0.5", "sigma_b = -0.5"),
        ("--sigma-w", "NaN", "sigma_W = NaN"),
        ("--sigma-b", "inf", "sigma_b = inf"),
        ("--points", "", "point set is empty"),
        ("--points", "0.1,nan", "points[1][0]"),
        ("--points", "0.1,zz", "'zz' is not a number"),
        ("--d", "4", "not a whole number of points of dimension d = 4"),
        ("--d", "0", "d = 0"),
        ("--arch", "tanh", "architecture 'tanh'"),
        ("--n-bags", "0", "n_bags = 0"),
        ("--n-nets", "0", "n_nets = 0"),
        ("--bags", "2..9", "bags = 2..9"),
    ];
    for (i, (flag, value, expect)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("o{i}"));
        // BASE with `flag` replaced (or appended).
        let mut args: Vec<String> = Vec::new();
        let mut k = 0;
        while k < BASE.len() {
            let (f, v) = match BASE[k].split_once('=') {
                Some((f, v)) => (f.to_string(), v.to_string()),
                None => {
                    k += 1;
                    (BASE[k - 1].to_string(), BASE[k].to_string())
                }
            };
            k += 1;
            if f != *flag {
                args.push(format!("{f}={v}"));
            }
        }
        args.push(format!("{flag}={value}"));
        let o = bin().args(&args).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flag}={value} was accepted");
        assert!(
            err.contains(expect),
            "{flag}={value}: message '{err}' lacks '{expect}'"
        );
        assert!(!out.exists(), "{flag}={value} left an output directory");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary directories either"
    );
    // A missing required parameter is named too.
    let o = bin()
        .args(["--arch", "erf"])
        .arg("--out")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("points is required"));
}

#[test]
fn help_explains_every_parameter() {
    let o = bin().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for p in [
        "--arch",
        "--d",
        "--width",
        "--sigma-w",
        "--sigma-b",
        "--points",
        "--n-bags",
        "--n-nets",
        "--seed",
        "--bags",
        "--params",
        "--out",
    ] {
        assert!(help.contains(p), "--help lacks {p}");
    }
}
