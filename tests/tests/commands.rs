//! End-to-end tests of the commands a user drives a study with: parameter validation before anything runs,
//! `--dry-run` command lines, `--set`, `status --json`, `show`, `list`.

use nnqft_e2e::*;
use std::path::{Path, PathBuf};

const SAMPLE: &str = "params = { arch = \"erf\", width = 3, sigma_w = 1.0, sigma_b = 0.5, points = [0.1, 0.2], n_bags = 2, n_nets = 200 }";

fn two_stage(dir: &Path) -> PathBuf {
    let p = dir.join("study.toml");
    std::fs::write(
        &p,
        format!("[stages.s]\nstage = \"sample\"\nsweep = {{ seed = [1, 2] }}\n{SAMPLE}\n\n[stages.m]\nstage = \"moments\"\neach = \"s\"\n"),
    )
    .unwrap();
    p
}

#[test]
fn invalid_parameters_are_refused_with_file_line_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fit = "\n[stages.m]\nstage = \"moments\"\neach = \"s\"\n\n[stages.f]\nstage = \"fit\"\ninputs = [\"m\"]\nparams = { sweep = \"colour\" }\n";
    let cases = [
        (
            "width0.toml",
            format!(
                "[stages.s]\nstage = \"sample\"\n{}\n",
                SAMPLE.replace("width = 3", "width = 0")
            ),
            "width0.toml:3: stage s: s: ",
            "width",
        ),
        (
            "arch.toml",
            format!(
                "[stages.s]\nstage = \"sample\"\n{}\n",
                SAMPLE.replace("erf", "gausnet")
            ),
            "arch.toml:3: stage s: s: ",
            "gausnet",
        ),
        (
            "fit.toml",
            format!("[stages.s]\nstage = \"sample\"\nsweep = {{ width = [2, 3] }}\n{SAMPLE}\n{fit}"),
            "fit.toml:13: stage f: f: ",
            "colour",
        ),
    ];
    for (name, body, at, names) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        for extra in [&[][..], &["--dry-run"]] {
            let mut args = vec!["run", f.to_str().unwrap()];
            args.extend(extra);
            let o = run(&store, &args);
            let t = text(&o);
            assert!(!o.status.success(), "{name}: {t}");
            assert!(
                t.contains("invalid parameters; nothing was run") && t.contains(at) && t.contains(names),
                "{name} {extra:?}: '{t}' lacks '{at}' / '{names}'"
            );
            assert!(objects(&store).is_empty(), "{name}: something ran");
        }
    }
}

#[test]
fn dry_run_prints_each_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = two_stage(dir.path());
    let out = ok(run(&store, &["run", p.to_str().unwrap(), "--dry-run"]));
    assert!(out.contains("run     s[seed=1]  (never run)"), "{out}");
    assert!(
        out.contains("nnqft-sample --params params.json --quiet --out <out>"),
        "{out}"
    );
    assert!(out.contains("params.json = {\"arch\":\"erf\""), "{out}");
    assert!(out.contains("nnqft-moments <s[seed=2]> --out <out>"), "{out}");
    assert!(objects(&store).is_empty());
}

#[test]
fn status_json_and_its_exit_code_say_what_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = two_stage(dir.path());
    let p = p.to_str().unwrap();
    ok(run(&store, &["run", p]));
    let o = run(&store, &["status", p, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .all(|r| r["state"] == "cached" && r["content"].as_str().unwrap().len() == 64)
    );
    std::fs::write(p, std::fs::read_to_string(p).unwrap().replace("[1, 2]", "[1, 3]")).unwrap();
    let o = run(&store, &["status", p, "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let stale: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["state"] == "stale")
        .collect();
    let ids: Vec<&str> = stale.iter().map(|r| r["instance"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["s[seed=3]", "m[seed=3]"]);
    assert_eq!(stale[0]["reasons"][0], "never run");
}

#[test]
fn show_says_where_each_result_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = two_stage(dir.path());
    let p = p.to_str().unwrap();
    ok(run(&store, &["run", p]));
    let text0 = std::fs::read_to_string(p).unwrap();
    std::fs::write(p, text0.replace("[1, 2]", "[1, 2, 3]")).unwrap();
    let before = ok(run(&store, &["show", p]));
    assert!(
        before.contains("s[seed=3]  (not computed: run the pipeline)"),
        "{before}"
    );
    assert!(
        before.contains(&format!("s[seed=1]  {}", store.join("objects").display())),
        "{before}"
    );
    let o = ok(run(&store, &["show", p, "m[seed=2]", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&o).unwrap();
    let path = PathBuf::from(rows[0]["path"].as_str().unwrap());
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert!(
        path.starts_with(store.join("objects")) && path.join("moments.parquet").exists(),
        "{o}"
    );
    let all: serde_json::Value = serde_json::from_str(&ok(run(&store, &["show", p, "s", "--json"]))).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[1]["params"]["seed"], 2);
    assert!(all[2]["path"].is_null(), "{all}");
    let bad = run(&store, &["show", p, "nope"]);
    assert!(!bad.status.success() && text(&bad).contains("no instance or stage \"nope\""));
}

#[test]
fn set_overrides_without_editing_and_keeps_its_own_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = two_stage(dir.path());
    let p = p.to_str().unwrap();
    ok(run(&store, &["run", p]));
    let exp = ok(run(
        &store,
        &["run", p, "--set", "s.seed=9", "--set", "s.n_nets=300"],
    ));
    assert_eq!(executed(&exp), vec!["s", "m"], "{exp}");
    let again = ok(run(
        &store,
        &["run", p, "--set", "s.seed=9", "--set", "s.n_nets=300"],
    ));
    assert_eq!(cached(&again), 2, "{again}");
    // The plain pipeline is still fully cached and gc keeps both.
    let plain = ok(run(&store, &["run", p]));
    assert!(executed(&plain).is_empty(), "{plain}");
    assert!(ok(run(&store, &["gc"])).contains("gc removed 0 unreachable"));
    assert_eq!(std::fs::read_dir(store.join("locks")).unwrap().count(), 2);
    let bad = run(&store, &["run", p, "--set", "q.seed=1"]);
    assert!(
        !bad.status.success() && text(&bad).contains("no stage \"q\""),
        "{}",
        text(&bad)
    );
}

#[test]
fn list_describes_the_shipped_pipelines_and_a_typo_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let l = ok(run(&store, &["list"]));
    assert!(
        l.contains("smoke") && l.contains("tiny GaussNet width and sigma_W sweeps"),
        "{l}"
    );
    assert!(l.contains("paper") && l.contains("hms"), "{l}");
    let o = run(&store, &["run", "smok"]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("no pipeline named \"smok\"") && t.contains("hms, paper, smoke"),
        "{t}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_instead_of_panicking() {
    // `cargo xtask status paper | head -1`: the reader is gone when xtask writes (closed before it starts).
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = xtask(&dir.path().join("store"))
        .arg("list")
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(141), "{err}");
}
