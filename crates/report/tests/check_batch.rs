//! The `nnqft-report` binary's --check-batch mode and its behaviour with stderr on a full disk.

use std::process::Command;

fn report() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nnqft-report"))
}

#[test]
fn check_batch_validates_flags_without_reading_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch.json");
    let out = dir.path().join("r");
    let vectors = serde_json::json!([
        ["--fit", "/not/yet/fit", "--flow", "/not/yet/flow", "--run-info", "/not/yet/info.json", "--out", out],
        ["--flow", "/not/yet/flow", "--strict", "--title=T", "--out", out],
        ["--out", out],
        ["--fit", "/not/yet/fit", "--strict=maybe", "--out", out],
        ["--fit", "/not/yet/fit"],
    ]);
    std::fs::write(&file, vectors.to_string()).unwrap();
    let o = report().arg("--check-batch").arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<Option<String>> = serde_json::from_slice(&o.stdout).unwrap();
    let expect = [
        None,
        None,
        Some("nothing to report: give at least one --fit or --flow artifact"),
        Some("unexpected value 'maybe' for '--strict'"),
        Some("--out <DIR>"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for (i, (g, e)) in got.iter().zip(expect).enumerate() {
        match (g, e) {
            (None, None) => {}
            (Some(g), Some(e)) => assert!(g.contains(e), "vector {i}: '{g}' lacks '{e}'"),
            _ => panic!("vector {i}: got {g:?}, expected {e:?}"),
        }
    }
    assert!(!out.exists());
    // A batch that is not a list of argument vectors is an error.
    std::fs::write(&file, "{\"a\": 1}").unwrap();
    let o = report().arg("--check-batch").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a JSON array of argument vectors"));
}

#[test]
fn an_error_with_stderr_on_a_full_disk_exits_cleanly() {
    // eprintln! panics when stderr cannot be written (exit code 101); the stage must still exit with 1.
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full on this system");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let o = report()
        .args(["--fit", "/missing/fit", "--out"])
        .arg(dir.path().join("o"))
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}
