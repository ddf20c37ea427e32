//! The `nnqft-flow` binary: a flow from given couplings, fixed points, and refused inputs.

use nnqft_store::cli::testing::{
    assert_clean_failure_with_stderr_full, assert_memory_refusal, assert_verdicts, check_batch,
};
use std::process::Command;

fn flow(args: &[&str], out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nnqft-flow"))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn flow_from_parameters_writes_trajectory_and_gaussian_fixed_point() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let o = flow(
        &[
            "--d",
            "1",
            "--sigma-w",
            "1",
            "--u4=-12.8",
            "--u6=-2.1",
            "--samples",
            "50",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Read through the contract (which also verifies the manifest).
    let f = nnqft_contract::flow::read(&out).unwrap();
    // Couplings given on the command line: one trajectory, nothing unresolvable, no exact values.
    assert_eq!(f.trajectories.len(), 1);
    let t = &f.trajectories[0];
    assert_eq!(
        (t.start, t.from),
        (
            nnqft_contract::flow::Start::Measured,
            [nnqft_contract::flow::Origin::Given; 2]
        )
    );
    let tr = &t.rows;
    assert!(tr.len() >= 2 && tr.iter().all(|r| r.k.is_finite()));
    assert!(
        (tr[0].ubar[0] - 1.0).abs() < 1e-15,
        "ubar_2(k_0) = m_0^2/k_0^2 = 1"
    );
    for c in 0..3 {
        assert!(
            tr.iter().all(|r| r.ubar[c].is_finite()),
            "ubar component {c} has non-finite values"
        );
    }
    let g = f
        .fixed_points
        .iter()
        .find(|p| p.gaussian)
        .expect("Gaussian fixed point listed");
    let mut e: Vec<f64> = g.exponents.iter().map(|x| x.0.unwrap()).collect();
    e.sort_by(f64::total_cmp);
    assert!(f.active.is_empty(), "no sigma_W sweep, no active-RG lines");
    assert_eq!(e, vec![-4.0, -3.0, -2.0]);
}

#[test]
fn bad_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--d", "1", "--sigma-w", "1", "--u4=nan", "--u6", "1"],
            "u4 = NaN",
        ),
        (
            &["--d", "0.5", "--sigma-w", "1", "--u4", "1", "--u6", "1"],
            "d = 0.5",
        ),
        (
            &[
                "--d",
                "1",
                "--sigma-w",
                "1",
                "--u4",
                "1",
                "--u6",
                "1",
                "--k-end-ratio",
                "2",
            ],
            "--k-end-ratio = 2",
        ),
        (
            &[
                "--d",
                "1",
                "--sigma-w",
                "1",
                "--u4",
                "1",
                "--u6",
                "1",
                "--k-end-ratio=-1",
            ],
            "--k-end-ratio = -1",
        ),
        (
            &[
                "--d",
                "1",
                "--sigma-w",
                "1",
                "--u4",
                "1",
                "--u6",
                "1",
                "--rtol",
                "1e-3",
            ],
            "--rtol = 0.001",
        ),
        (
            &["--d", "1", "--sigma-w=-1", "--u4", "1", "--u6", "1"],
            "sigma_w = -1",
        ),
        (&["--d", "1", "--sigma-w", "1"], "u4 = NaN"),
        (&["/nonexistent/fit"], "missing"),
    ];
    for (i, (args, expect)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("o{i}"));
        let o = flow(args, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(expect),
            "case {i}: '{err}' lacks '{expect}'"
        );
        assert!(!out.exists());
    }
}

#[test]
fn samples_beyond_memory_are_refused_before_allocating() {
    // 1e11 samples of a trajectory (k, three couplings and their table columns): tens of TB.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let o = flow(
        &[
            "--d",
            "1",
            "--sigma-w",
            "1",
            "--u4",
            "0",
            "--u6",
            "0",
            "--samples",
            "100000000000",
        ],
        &out,
    );
    assert_memory_refusal(&o, "--samples 100000000000 along the trajectory needs about");
    assert!(!out.exists());
}

#[test]
fn an_error_with_stderr_on_a_full_disk_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nnqft-flow"));
    cmd.args(["/missing/fit", "--out"]).arg(dir.path().join("o"));
    assert_clean_failure_with_stderr_full(cmd);
}

#[test]
fn check_batch_validates_parameters_without_reading_the_fit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let got = check_batch(
        env!("CARGO_BIN_EXE_nnqft-flow"),
        dir.path(),
        &serde_json::json!([
            [
                "/not/yet/fit",
                "--k-end-ratio=0.01",
                "--samples=200",
                "--out",
                out
            ],
            ["/not/yet/fit", "--k-end-ratio=1.5", "--out", out],
            ["/not/yet/fit", "--rtol=0.1", "--out", out],
            ["/not/yet/fit", "--samples=lots", "--out", out],
            ["/not/yet/fit", "--d=0.5", "--out", out],
            ["--d=1", "--sigma-w=1", "--u4=0.1", "--out", out],
            ["--d=1", "--sigma-w=1", "--u4=0.1", "--u6=0", "--out", out],
            ["/not/yet/fit", "--samples=100000000000", "--out", out],
        ]),
    );
    assert_verdicts(
        &got,
        &[
            None,
            Some("--k-end-ratio = 1.5 is invalid"),
            Some("--rtol = 0.1 is invalid"),
            Some("invalid value 'lots' for '--samples <SAMPLES>'"),
            Some("d = 0.5 is invalid: d must be >= 1"),
            Some("u6 = NaN is invalid: the flow needs a finite u6 (give --u6 or a fit artifact"),
            None,
            Some("--samples 100000000000 along the trajectory"),
        ],
    );
    assert!(!out.exists());
}
