//! The `nnqft-report` binary's --check-batch mode and its behaviour with stderr on a full disk.

use nnqft_store::cli::testing::{assert_clean_failure_with_stderr_full, assert_verdicts, check_batch};
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_nnqft-report");

#[test]
fn check_batch_validates_flags_without_reading_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let got = check_batch(
        EXE,
        dir.path(),
        &serde_json::json!([
            [
                "--fit",
                "/not/yet/fit",
                "--flow",
                "/not/yet/flow",
                "--run-info",
                "/not/yet/info.json",
                "--out",
                out
            ],
            ["--flow", "/not/yet/flow", "--strict", "--title=T", "--out", out],
            ["--out", out],
            ["--fit", "/not/yet/fit", "--strict=maybe", "--out", out],
            ["--fit", "/not/yet/fit"],
        ]),
    );
    assert_verdicts(
        &got,
        &[
            None,
            None,
            Some("nothing to report: give at least one --fit, --flow or --moments artifact"),
            Some("unexpected value 'maybe' for '--strict'"),
            Some("--out <DIR>"),
        ],
    );
    assert!(!out.exists());
    // A batch that is not a list of argument vectors is an error.
    let file = dir.path().join("batch.json");
    std::fs::write(&file, "{\"a\": 1}").unwrap();
    let o = Command::new(EXE)
        .arg("--check-batch")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a JSON array of argument vectors"));
}

#[test]
fn an_error_with_stderr_on_a_full_disk_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(EXE);
    cmd.args(["--fit", "/missing/fit", "--out"])
        .arg(dir.path().join("o"));
    assert_clean_failure_with_stderr_full(cmd);
}
