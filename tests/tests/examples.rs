//! The examples in examples/ run against a real store: the Python script that rebuilds a report figure from
//! the smoke pipeline's fit (DuckDB + matplotlib; `.ci/run` installs them with pip). Where Python or those
//! packages are missing the test says loudly that it was skipped.

use nnqft_e2e::*;
use std::process::Command;

fn python_with(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn python_example_rebuilds_the_gc4_figure_from_the_store() {
    if !python_with("duckdb, matplotlib") {
        eprintln!(
            "########## SKIPPED: python3 with duckdb and matplotlib is not available \
             (pip install duckdb matplotlib); examples/gc4_vs_width.py was not run ##########"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let pipe = smoke_copy(dir.path());
    let p = pipe.to_str().unwrap();
    ok(run(&store, &["run", p]));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(run(&store, &["show", p, "fit_width", "--json"]))).unwrap();
    let fit_dir = shown[0]["path"].as_str().unwrap();
    let png = dir.path().join("gc4.png");
    let o = Command::new("python3")
        .arg(repo().join("examples/gc4_vs_width.py"))
        .args(["--fit-dir", fit_dir, "--out", png.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // Three widths in the smoke pipeline's width sweep, all read back.
    assert!(t.contains("gc4_abs_vs_N: 3 widths"), "{t}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG"),
        "not a PNG of a figure: {} bytes",
        bytes.len()
    );
}

/// Which stage writes a table file (`points.parquet` of a sample sits beside its `samples.parquet`, that of a
/// moments artifact beside its `moments.parquet`).
fn stage_of(dir: &std::path::Path, file: &str) -> &'static str {
    match file {
        "samples.parquet" => "sample",
        "points.parquet" if dir.join("samples.parquet").exists() => "sample",
        "points.parquet" if dir.join("moments.parquet").exists() => "moments",
        "moments.parquet" => "moments",
        "fits.parquet" | "points.parquet" | "combos.parquet" => "fit",
        _ => "flow",
    }
}

#[test]
fn the_glossary_names_every_column_and_quantity_of_the_smoke_run() {
    let glossary = std::fs::read_to_string(repo().join("docs/glossary.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let pipe = smoke_copy(dir.path());
    ok(run(&store, &["run", pipe.to_str().unwrap()]));
    let mut checked = 0;
    for obj in std::fs::read_dir(store.join("objects")).unwrap().flatten() {
        for f in std::fs::read_dir(obj.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".parquet") {
                continue;
            }
            assert!(
                glossary.contains(&format!("`{name}`")),
                "docs/glossary.md lacks the table {name}"
            );
            let stage = stage_of(&obj.path(), &name);
            let (_, reader) = nnqft_store::open_table(&f.path(), stage, &[]).unwrap();
            for field in reader.schema().fields() {
                let col = field.name();
                // f_0 .. f_{P-1}, s_0_0 .. and x_0 .. are described once.
                let listed = if col.starts_with("f_") {
                    "`f_0`".to_string()
                } else if col.starts_with("s_") && stage == "sample" {
                    "`s_0_0`".to_string()
                } else if col.starts_with("x_") && matches!(stage, "sample" | "moments") {
                    "`x_0`".to_string()
                } else {
                    format!("`{col}`")
                };
                assert!(
                    glossary.contains(&listed),
                    "docs/glossary.md lacks column {col} of {name}"
                );
                checked += 1;
            }
            if name == "points.parquet" && stage == "fit" {
                let t = nnqft_store::Table::read(&f.path(), "fit").unwrap();
                for q in t.str("quantity").unwrap() {
                    assert!(
                        glossary.contains(&format!("`{q}`")),
                        "docs/glossary.md lacks quantity {q}"
                    );
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} columns seen");
    let report = report_dir(&ok(run(&store, &["run", pipe.to_str().unwrap()]))).unwrap();
    let checks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("checks.json")).unwrap()).unwrap();
    for key in checks[0].as_object().unwrap().keys() {
        assert!(
            glossary.contains(&format!("`{key}`")),
            "docs/glossary.md lacks checks.json field {key}"
        );
    }
}
