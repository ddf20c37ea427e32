//! The `nnqft-sample` binary end to end: determinism, sharding, validation.

use nnqft_store::cli::testing::{
    assert_clean_failure_with_stderr_full, assert_memory_refusal, assert_verdicts, check_batch,
};
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
        ("--arch", "sigmoid", "architecture 'sigmoid'"),
        ("--d-out", "0", "d_out = 0"),
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
        "--covariance",
    ] {
        assert!(help.contains(p), "--help lacks {p}");
    }
}

/// One Erf network per bag at one point; the tests below add --width and --n-bags.
const TINY: &[&str] = &[
    "--arch",
    "erf",
    "--sigma-w",
    "1",
    "--sigma-b",
    "0",
    "--points",
    "0.1",
    "--n-nets",
    "1",
];

#[test]
fn work_that_cannot_fit_in_memory_is_refused_before_allocating() {
    // 2^32 - 1 one-network bags: one Parquet row group per bag, about 1 KB of writer metadata per column chunk
    // (measured), so terabytes whatever the machine; a width of 1e12 needs 8 bytes x 6e12 scratch per thread.
    let dir = tempfile::tempdir().unwrap();
    for (bags, width, expect) in [
        ("4294967295", "1", "4294967295 bags x 1 networks"),
        ("2", "1000000000000", "at width 1000000000000"),
    ] {
        let out = dir.path().join("o");
        let o = bin()
            .args(TINY)
            .args(["--n-bags", bags, "--width", width])
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_memory_refusal(&o, expect);
        assert!(!out.exists());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn non_finite_outputs_are_refused_naming_the_network_and_the_parameter() {
    // ReLU at sigma_W = 1e160: W1 W0 x ~ 1e320 / sqrt(N), beyond the largest double (1.8e308), so the outputs
    // overflow; at sigma_W = 1e100 they are about 1e200 and finite.
    let dir = tempfile::tempdir().unwrap();
    let args = |sigma_w: &str, out: &Path| {
        bin()
            .args([
                "--arch",
                "relu",
                "--width",
                "3",
                "--sigma-b",
                "1",
                "--points",
                "0.5,1",
            ])
            .args(["--n-bags", "2", "--n-nets", "1500", "--sigma-w", sigma_w, "--out"])
            .arg(out)
            .output()
            .unwrap()
    };
    let out = dir.path().join("huge");
    let o = args("1e160", &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("of bag 0 has the non-finite output f_"), "{err}");
    assert!(err.contains("sigma_w = 1e160 is likely too large"), "{err}");
    assert!(!out.exists());
    // At 1e100 the conditional covariance (~1e400) overflows first: refused, naming it and the way out.
    let o = args("1e100", &dir.path().join("cov"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("non-finite conditional covariance s_0_0") && err.contains("--covariance false"),
        "{err}"
    );
    let out = dir.path().join("large");
    let o = bin()
        .args([
            "--arch=relu",
            "--width=3",
            "--sigma-b=1",
            "--points=0.5,1",
            "--n-bags=2",
            "--n-nets=1500",
        ])
        .args(["--sigma-w=1e100", "--covariance=false", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("large")],
        "no temporary directory is left"
    );
}

#[test]
fn an_error_with_stderr_on_a_full_disk_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(TINY)
        .args(["--width", "0", "--n-bags", "2", "--out"])
        .arg(dir.path().join("o"));
    assert_clean_failure_with_stderr_full(cmd);
}

#[test]
fn check_batch_validates_every_vector_without_reading_or_writing_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let params = |name: &str, v: serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = serde_json::json!({"arch": "gaussnet", "width": 2, "sigma_w": 1.0, "sigma_b": 1.0,
        "points": [0.1, 0.2], "n_bags": 4, "n_nets": 1000});
    let with = |k: &str, v: serde_json::Value| {
        let mut g = good.clone();
        g[k] = v;
        g
    };
    let ok = params("ok.json", good.clone());
    let arch = params("arch.json", with("arch", "gausnet".into()));
    let width = params("width.json", with("width", 0.into()));
    let unknown = params("unknown.json", with("widht", 3.into()));
    let bags = params("bags.json", with("n_bags", 4294967295u64.into()));
    let out = dir.path().join("never").to_str().unwrap().to_string();
    let missing = dir.path().join("missing.json").to_str().unwrap().to_string();
    let got = check_batch(
        env!("CARGO_BIN_EXE_nnqft-sample"),
        dir.path(),
        &serde_json::json!([
            ["--params", ok, "--quiet", "--out", out],
            ["--params", arch, "--quiet", "--out", out],
            ["--params", width, "--quiet", "--out", out],
            ["--params", unknown, "--quiet", "--out", out],
            ["--params", bags, "--quiet", "--n-nets", "1", "--out", out],
            ["--params", ok, "--quiet", "--bags", "3..9", "--out", out],
            ["--params", ok, "--quiet"],
            ["--params", missing, "--quiet", "--out", out],
            ["--params", ok, "--sigma-w", "x", "--out", out],
        ]),
    );
    assert_verdicts(
        &got,
        &[
            None,
            Some(
                "architecture 'gausnet' is unknown: expected gaussnet, erf, relu, tanh, linear, gelu or swish",
            ),
            Some("width N = 0 is invalid"),
            Some("unknown field `widht`"),
            Some("4294967295 bags x 1 networks"),
            Some("bags = 3..9 is invalid: need START < END <= n_bags = 4"),
            Some("parameter out is required"),
            Some("missing.json"),
            Some("invalid value 'x' for '--sigma-w <SIGMA_W>'"),
        ],
    );
    assert!(!Path::new(&out).exists(), "validation wrote its --out");
    // An unreadable batch is an error, not an empty answer.
    let o = bin().arg("--check-batch").arg(&missing).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.json"));
    std::fs::write(dir.path().join("bad.json"), "[[1]]").unwrap();
    let o = bin()
        .arg("--check-batch")
        .arg(dir.path().join("bad.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a JSON array of argument vectors"));
}

/// blake3 of `samples.parquet` as the manifest records it.
fn table_hash(dir: &Path) -> String {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let files = m["files"].as_array().unwrap();
    let entry = files.iter().find(|f| f["file"] == "samples.parquet").unwrap();
    entry["blake3"].as_str().unwrap().to_string()
}

/// Column `name` of a sample table, as bits (`bag` and `net` as their values).
fn column_bits(dir: &Path, name: &str) -> Vec<u64> {
    let t = nnqft_store::Table::read(&dir.join("samples.parquet"), "sample").unwrap();
    if name == "bag" || name == "net" {
        return t.u32(name).unwrap().into_iter().map(u64::from).collect();
    }
    t.f64(name)
        .unwrap()
        .into_iter()
        .map(|v| v.unwrap().to_bits())
        .collect()
}

/// Column names of a sample table, in order.
fn column_names(dir: &Path) -> Vec<String> {
    let (_, reader) = nnqft_store::open_table(&dir.join("samples.parquet"), "sample", &[]).unwrap();
    reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn one_hidden_layer_samples_keep_the_bytes_they_had_before_depth_existed() {
    // Hashes of samples drawn by the binary of commit bfc4249 (before deep networks, d_out and the new
    // activations), re-pinned once when the tables gained their provenance in the Arrow schema metadata (the
    // data of every table of a smoke run was compared equal, column by column, before and after): the one-layer
    // direct sampler, its streams and its parameters must not move. These are the tables of
    // `--covariance false`, exactly as before the covariance columns existed; the default table (with them) has
    // the same f columns, bit for bit, and is pinned by the second hash.
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str, &str); 5] = [
        (
            &[
                "--arch=gaussnet",
                "-N",
                "20",
                "--sigma-w=1",
                "--sigma-b=1",
                "--points=-0.01,-0.006,-0.002,0.002,0.006,0.01",
                "--n-bags=2",
                "--n-nets=1500",
                "--seed=5",
            ],
            "f14caad9ba2016610df5c172985ad399cdff9edc15fbf4814a9cb430386ff80d",
            "0e3c3b767844a2107ff808002b4d37e284f46566f754f567771c6839f81d2837",
        ),
        (
            &[
                "--arch=erf",
                "-N",
                "7",
                "--sigma-w=1.5",
                "--sigma-b=0.5",
                "--points=-1,-0.2,0.6,1",
                "--n-bags=2",
                "--n-nets=1100",
                "--seed=3",
            ],
            "24e111419533b8eba77dfe730002478467e5849128979527ff32c507d429c43b",
            "e9eb82de8f6e11deae6ecbfa479f33812e7c5d769db3c89ff8d6996e9cc7d54e",
        ),
        (
            &[
                "--arch=relu",
                "-N",
                "9",
                "--sigma-w=1.2",
                "--sigma-b=0.3",
                "--points=0.2,0.4,0.9",
                "--n-bags=2",
                "--n-nets=1030",
                "--seed=4",
            ],
            "4c3a07490daa39357ba7e69d238c2e0394fd7ff870939ab261f6811ac7e1547b",
            "562971be9071d308b11cf74deae4a423e90ed480b26906bbee3c5b35b7c153b7",
        ),
        (
            &[
                "--arch=gaussnet",
                "--d=2",
                "-N",
                "5",
                "--sigma-w=1",
                "--sigma-b=0.5",
                "--points=0.1,0.2,0.3,-0.4",
                "--n-bags=2",
                "--n-nets=700",
                "--seed=6",
            ],
            "8ec13031d5ad0768e24ce9ad12dfc10482925328d6fb84291120ffaf7db45e91",
            "da5ac9794670660e35c9c0fb5e4aaecd219c8fe15e129b1fe4cf9785c468f485",
        ),
        (
            &[
                "--arch=relu",
                "-N",
                "6",
                "--sigma-w=1.4",
                "--sigma-b=0",
                "--points=0.5,1.0",
                "--n-bags=2",
                "--n-nets=600",
                "--seed=8",
            ],
            "6d45788a98585e679fdd378e64507139976ae3248c0fc115b2a19fc0456746bd",
            "44a1b505b769f6f06087378a46fc0fcc3ff4fdeaed4e7f4863bcc600f41bc742",
        ),
    ];
    for (i, (args, hash, with_cov)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("c{i}"));
        let o = run(&[*args, &["--covariance=false"]].concat(), &out, "2");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(&table_hash(&out), hash, "case {i}: {args:?}");
        let cov = dir.path().join(format!("v{i}"));
        let o = run(args, &cov, "2");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let names = column_names(&out);
        assert!(names.iter().any(|c| c.starts_with("f_")) && !names.iter().any(|c| c.starts_with("s_")));
        for name in names {
            assert_eq!(
                column_bits(&out, &name),
                column_bits(&cov, &name),
                "case {i}: column {name}"
            );
        }
        assert_eq!(
            &table_hash(&cov),
            with_cov,
            "case {i} with the covariance: {args:?}"
        );
    }
}

/// A deep, two-output ReLU network (the layer-by-layer sampler) at points whose covariance is singular.
const DEEP: &[&str] = &[
    "--arch=tanh",
    "--widths=12,7,9",
    "--d-out=2",
    "--sigma-w=1.3",
    "--sigma-b=0.4",
    "--points=-0.01,-0.006,-0.002,0.002,0.006,0.01",
    "--n-bags=3",
    "--n-nets=1100",
    "--seed=7",
];

#[test]
fn deep_samples_are_the_same_bytes_for_every_thread_count_and_vector_level() {
    let dir = tempfile::tempdir().unwrap();
    let mut hashes = Vec::new();
    for (name, threads, level) in [
        ("a", "1", "avx512"),
        ("b", "2", "avx512"),
        ("c", "2", "baseline"),
        ("d", "2", "avx2"),
    ] {
        let out = dir.path().join(name);
        let o = bin()
            .args(DEEP)
            .arg("--out")
            .arg(&out)
            .env("RAYON_NUM_THREADS", threads)
            .env("NNQFT_SIMD", level)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        hashes.push(table_hash(&out));
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
    // The columns are f_<output>_<point>, and the parameters record widths and d_out.
    let meta = std::fs::read(dir.path().join("a/samples.parquet")).unwrap();
    let text = String::from_utf8_lossy(&meta);
    assert!(text.contains("f_1_5") && !text.contains("f_2_0"));
    assert!(
        text.contains(r#""widths":[12,7,9]"#) && text.contains(r#""d_out":2"#),
        "parameters recorded"
    );
    // A different depth is a different ensemble (its own streams), not a relabelling.
    let other = dir.path().join("e");
    let args: Vec<&str> = DEEP
        .iter()
        .map(|a| {
            if a.starts_with("--widths") {
                "--widths=12,7,9,4"
            } else {
                a
            }
        })
        .collect();
    assert!(run(&args, &other, "2").status.success());
    // Compare the outputs themselves: the files differ anyway, as their recorded parameters do.
    let f = |dir: &Path| {
        nnqft_store::Table::read(&dir.join("samples.parquet"), "sample")
            .unwrap()
            .f64("f_0_0")
            .unwrap()
    };
    let (mine, theirs) = (f(&dir.path().join("a")), f(&other));
    assert_eq!(mine.len(), theirs.len());
    assert!(
        mine.iter().zip(&theirs).all(|(a, b)| a != b),
        "a deeper network must not reuse the outputs of the shallower one"
    );
}

#[test]
fn deep_parameters_are_validated_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let params = |name: &str, v: serde_json::Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = serde_json::json!({"arch": "relu", "widths": [20, 20, 20], "d_out": 2, "sigma_w": 1.4,
        "sigma_b": 0.0, "points": [0.5, 1.0], "n_bags": 4, "n_nets": 1000});
    let with = |k: &str, v: serde_json::Value| {
        let mut g = good.clone();
        g[k] = v;
        g
    };
    let out = dir.path().join("never").to_str().unwrap().to_string();
    let files = [
        params("ok.json", good.clone()),
        params("empty.json", with("widths", serde_json::json!([]))),
        params("zero.json", with("widths", serde_json::json!([20, 0, 20]))),
        params("gauss.json", with("arch", "gaussnet".into())),
        params("dout.json", with("d_out", 0.into())),
        params("both.json", with("width", 20.into())),
        params(
            "huge.json",
            with("widths", serde_json::json!([20, 4_000_000_000_000u64])),
        ),
        params("deep.json", with("widths", serde_json::json!(vec![2; 1001]))),
        params("act.json", with("arch", "softplus".into())),
        params("depth.json", with("depth", 3.into())),
        params("swish.json", with("arch", "swish".into())),
    ];
    let batch: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::json!(["--params", f, "--quiet", "--out", out]))
        .collect();
    let got = check_batch(
        env!("CARGO_BIN_EXE_nnqft-sample"),
        dir.path(),
        &serde_json::json!(batch),
    );
    assert_verdicts(
        &got,
        &[
            None,
            Some("widths: the list of hidden widths is empty"),
            Some("widths: hidden layer 2 has width 0"),
            Some("arch = gaussnet with 3 hidden layers is invalid"),
            Some("d_out = 0 is invalid"),
            Some("width = 20 and widths = [20, 20, 20] are both given"),
            Some("sample buffers of"),
            Some("depth (number of widths) = 1001 is invalid"),
            Some("architecture 'softplus' is unknown"),
            Some("depth = 3 and widths = [20, 20, 20] are both given"),
            None,
        ],
    );
    assert!(!Path::new(&out).exists(), "validation wrote its --out");
    // The flags: --widths and --d-out.
    let o = bin()
        .args([
            "--arch=relu",
            "--widths=5,0",
            "--sigma-w=1",
            "--sigma-b=0",
            "--points=1",
            "--n-bags=2",
            "--n-nets=5",
        ])
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("hidden layer 2 has width 0"));
    assert!(!dir.path().join("o").exists());
    // --width N --depth L is L layers of width N: the same ensemble (same streams) as --widths N,...,N, recorded
    // as width and depth.
    let base = [
        "--arch=relu",
        "--sigma-w=1",
        "--sigma-b=0",
        "--points=1",
        "--n-bags=2",
        "--n-nets=50",
    ];
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(
        run(&[&base[..], &["--width=7", "--depth=3"]].concat(), &a, "1")
            .status
            .success()
    );
    assert!(
        run(&[&base[..], &["--widths=7,7,7"]].concat(), &b, "1")
            .status
            .success()
    );
    assert_eq!(table_hash(&a), table_hash(&b));
    let text = String::from_utf8_lossy(&std::fs::read(a.join("samples.parquet")).unwrap()).to_string();
    assert!(
        text.contains(r#""depth":3"#) && text.contains(r#""width":7"#),
        "recorded as width and depth"
    );
    let o = run(
        &[&base[..], &["--width=7", "--depth=0"]].concat(),
        &dir.path().join("c"),
        "1",
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("depth = 0 is invalid"));
    // A deep network that overflows is reported like a shallow one, nothing written.
    let big = [
        "--arch=relu",
        "--widths=3,3",
        "--sigma-w=1e160",
        "--sigma-b=0",
        "--points=1",
        "--n-bags=2",
        "--n-nets=5",
    ];
    let o = run(&big, &dir.path().join("d"), "1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("non-finite output") && err.contains("sigma_w = 1e160"),
        "{err}"
    );
    assert!(!dir.path().join("d").exists());
}

#[test]
fn covariance_columns_follow_the_outputs_and_the_points_have_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    // Two outputs, three layers: the f columns, then one set of s columns shared by both outputs.
    let deep = dir.path().join("deep");
    assert!(run(DEEP, &deep, "2").status.success());
    let names = column_names(&deep);
    let mut want = vec!["bag".to_string(), "net".to_string()];
    want.extend((0..2).flat_map(|o| (0..6).map(move |p| format!("f_{o}_{p}"))));
    want.extend((0..6).flat_map(|p| (p..6).map(move |q| format!("s_{p}_{q}"))));
    assert_eq!(names, want);
    assert_eq!(names.iter().filter(|c| c.starts_with("s_")).count(), 21);
    let text = String::from_utf8_lossy(&std::fs::read(deep.join("samples.parquet")).unwrap()).to_string();
    assert!(
        text.contains(r#""covariance":true"#),
        "recorded in the parameters"
    );
    // The points table: one row per point, the coordinates of d = 2 points (BASE_D2), the sample's provenance.
    let d2 = dir.path().join("d2");
    assert!(run(&BASE_D2, &d2, "2").status.success());
    let t = nnqft_store::Table::read(&d2.join("points.parquet"), "sample").unwrap();
    let x: Vec<Vec<f64>> = ["x_0", "x_1"]
        .iter()
        .map(|c| t.f64(c).unwrap().into_iter().map(Option::unwrap).collect())
        .collect();
    assert_eq!(x, vec![vec![0.1, 0.3, 0.5], vec![0.2, 0.1, 0.0]]);
    let (_, reader) = nnqft_store::open_table(&d2.join("points.parquet"), "sample", &[]).unwrap();
    let schema = reader.schema();
    let point = schema.field_with_name("point").unwrap();
    assert_eq!(point.data_type(), &arrow_schema::DataType::UInt16);
    assert_eq!(schema.fields().len(), 3);
    assert_eq!(
        t.meta.params["points"],
        serde_json::json!([[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]])
    );
    nnqft_store::verify(&d2).unwrap();
    // `covariance = false` in a parameter file is the flag: no s columns and no parameter.
    let toml = dir.path().join("p.toml");
    std::fs::write(
        &toml,
        "arch = \"erf\"\nwidth = 3\nsigma_w = 1.5\nsigma_b = 0.5\npoints = [0.2, 0.4]\nn_bags = 2\nn_nets = 50\ncovariance = false\n",
    )
    .unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(
        bin()
            .arg("--params")
            .arg(&toml)
            .arg("--out")
            .arg(&a)
            .status()
            .unwrap()
            .success()
    );
    let flags = [
        "--arch=erf",
        "--width=3",
        "--sigma-w=1.5",
        "--sigma-b=0.5",
        "--points=0.2,0.4",
        "--n-bags=2",
        "--n-nets=50",
        "--covariance",
        "false",
    ];
    assert!(run(&flags, &b, "1").status.success());
    assert_eq!(table_hash(&a), table_hash(&b));
    assert_eq!(column_names(&a), ["bag", "net", "f_0", "f_1"]);
    let text = String::from_utf8_lossy(&std::fs::read(a.join("samples.parquet")).unwrap()).to_string();
    assert!(!text.contains("covariance"));
    // The flag overrides the file; a value that is not a boolean is named and nothing is written.
    let c = dir.path().join("c");
    let o = bin()
        .arg("--params")
        .arg(&toml)
        .args(["--covariance", "true", "--out"])
        .arg(&c)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(column_names(&c)[4..], ["s_0_0", "s_0_1", "s_1_1"]);
    let bad = dir.path().join("bad");
    let o = run(&[&flags[..7], &["--covariance=maybe"]].concat(), &bad, "1");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("'maybe'") && err.contains("--covariance"),
        "{err}"
    );
    assert!(!bad.exists());
}
