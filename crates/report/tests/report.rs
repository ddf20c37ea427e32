//! Verdict rules on synthetic fits, a snapshot of report.md, and a self-contained HTML with parseable SVG.

use nnqft_report::checks::{self, Check};
use nnqft_report::data::{ComboRow, Fit, FitRow, PointRow};
use nnqft_report::{html, markdown};

fn row(
    id: &str,
    est: Option<f64>,
    lo: f64,
    hi: f64,
    exact: Option<f64>,
    n_used: u64,
    excluded: &str,
) -> FitRow {
    FitRow {
        id: id.into(),
        quantity: "q".into(),
        estimate: est,
        lo: est.map(|_| lo),
        hi: est.map(|_| hi),
        exact,
        predicted: None,
        n_used,
        excluded: excluded.into(),
        note: String::new(),
    }
}

fn verdict(c: &Check) -> &str {
    &c.verdict
}

#[test]
fn numeric_verdicts_pass_fail_and_not_resolvable() {
    let pass = checks::numeric(
        "a".into(),
        "x ~ 1/N",
        -1.0,
        Some(&row("a", Some(-0.97), -1.1, -0.9, Some(-1.0), 5, "")),
        "slope",
    );
    assert_eq!(verdict(&pass), "pass");
    let fail = checks::numeric(
        "b".into(),
        "x ~ 1/N",
        -1.0,
        Some(&row("b", Some(-0.5), -0.6, -0.4, Some(-1.0), 5, "")),
        "slope",
    );
    assert_eq!(verdict(&fail), "fail");
    assert!(fail.note.contains("excludes the prediction -1"));
    // Interval containing zero: the noise cannot decide, even though it also contains the prediction.
    let noisy = checks::numeric(
        "c".into(),
        "x ~ 1/N",
        -1.0,
        Some(&row("c", Some(-0.3), -2.0, 1.5, None, 5, "")),
        "slope",
    );
    assert_eq!(verdict(&noisy), "not_resolvable");
    // Tail rule left fewer than two points.
    let tails = checks::numeric(
        "d".into(),
        "x ~ 1/N^2",
        -2.0,
        Some(&row("gc6_abs_vs_N", None, 0.0, 0.0, Some(-2.0), 1, "2,3,4")),
        "slope",
    );
    assert_eq!(verdict(&tails), "not_resolvable");
    assert!(tails.note.contains("noise: 2,3,4"), "{}", tails.note);
    // A zero prediction (m_2) is a pass when the interval contains it.
    let zero = checks::numeric(
        "e".into(),
        "m_2 = 0",
        0.0,
        Some(&row("e", Some(0.01), -0.02, 0.03, Some(0.0), 4, "")),
        "mean",
    );
    assert_eq!(verdict(&zero), "pass");
    let missing = checks::numeric("f".into(), "m_2 = 0", 0.0, None, "mean");
    assert_eq!(verdict(&missing), "not_resolvable");
}

#[test]
fn sign_verdicts() {
    let pos = |lo, hi| {
        checks::sign(
            "s".into(),
            "u_6 > 0",
            true,
            Some(&row("s", Some((lo + hi) / 2.0), lo, hi, None, 3, "")),
            "u6",
        )
    };
    assert_eq!(verdict(&pos(1.0, 2.0)), "pass");
    assert_eq!(verdict(&pos(-2.0, -1.0)), "fail");
    assert_eq!(verdict(&pos(-1.0, 2.0)), "not_resolvable");
}

fn synthetic_fit() -> Fit {
    let xs = [2.0f64, 5.0, 20.0, 100.0];
    let mut points = Vec::new();
    for (q, slope, amp) in [
        ("m2_abs", 0.0, 0.01),
        ("m4_abs", -1.0, 0.8),
        ("m6_abs", -1.0, 30.0),
        ("gc4_mean", -1.0, 0.3),
        ("gc6_mean", -2.0, 5.0),
        ("u4_mean", -1.0, -60.0),
    ] {
        for &x in &xs {
            let y: f64 = amp * x.powf(slope);
            points.push(PointRow {
                quantity: q.into(),
                x,
                y,
                lo: Some(0.9 * y),
                hi: Some(1.1 * y),
                exact: Some(y),
                background: Some(0.3 * y),
                resolvable: true,
            });
        }
    }
    let combos = xs
        .iter()
        .flat_map(|&x| {
            (0..5).map(move |i| ComboRow {
                x,
                n: 4,
                m: Some(1.0 / x + 0.01 * i as f64),
                u: Some(-60.0 / x),
                u_exact: Some(-60.0 / x),
            })
        })
        .collect();
    Fit {
        dir: "synthetic".into(),
        hash: "0123456789abcdef0123456789abcdef".into(),
        sweep: "width".into(),
        label: "gaussnet width sweep at sigma_W = 1.0".into(),
        tag: "gaussnet,sigma_W=1.0".into(),
        d: 1.0,
        arch: "gaussnet".into(),
        sample: serde_json::json!([{"n_bags": 30, "n_nets": 30000}]),
        bootstrap: 400,
        fits: vec![
            row("m2_mean", Some(0.001), -0.01, 0.012, Some(0.0), 4, ""),
            row("m4_abs_vs_N", Some(-1.02), -1.1, -0.95, Some(-1.0), 4, ""),
            row("m6_two_term_a", Some(40.0), 35.0, 45.0, Some(40.2), 4, ""),
            row("m6_two_term_b", Some(10.0), -50.0, 90.0, Some(30.0), 4, ""),
            row("gc4_abs_vs_N", Some(-0.7), -0.8, -0.6, Some(-1.0), 4, ""),
            row("gc6_abs_vs_N", None, 0.0, 0.0, Some(-2.0), 0, "2,5,20,100"),
            row("u4_sign", Some(-24.0), -26.0, -22.0, Some(-24.4), 4, ""),
            row("u4_spread", Some(0.01), 0.005, 0.02, Some(0.001), 4, ""),
            row("u4_abs_vs_N", Some(-0.99), -1.05, -0.93, Some(-1.0), 4, ""),
            row("u6_abs_vs_N", None, 0.0, 0.0, Some(-2.0), 0, "2,5,20,100"),
            row("u6_sign", None, 0.0, 0.0, Some(-2.1e6), 0, "2,5,20,100"),
        ],
        points,
        combos,
    }
}

#[test]
fn report_md_snapshot() {
    let fit = synthetic_fit();
    let checks = checks::checks(&fit);
    let ids: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c.id.as_str(), c.verdict.as_str()))
        .collect();
    assert!(ids.contains(&("gc4_inv_N[gaussnet,sigma_W=1.0]", "fail")));
    assert!(ids.contains(&("gc6_inv_N2[gaussnet,sigma_W=1.0]", "not_resolvable")));
    assert!(
        ids.contains(&("u6_sign[gaussnet,sigma_W=1.0]", "not_resolvable")),
        "unresolvable u_6 must be reported, not dropped"
    );
    assert!(ids.contains(&("u4_constant_negative[gaussnet,sigma_W=1.0]", "pass")));
    assert!(
        ids.contains(&("m6_two_term[gaussnet,sigma_W=1.0]", "not_resolvable")),
        "b straddles 0"
    );
    let run = serde_json::json!({"pipeline": "synthetic", "stages": [{"name": "sample[width=2]", "content": "ab12cd34ef56ab12cd34"}]});
    let md = markdown("nnqft report", &[fit], &[], Some(&run), &checks);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/report.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &md).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    if want != md {
        std::fs::write(format!("{path}.new"), &md).unwrap();
        panic!("report.md differs from {path} (new version in {path}.new; UPDATE_SNAPSHOTS=1 to accept)");
    }
}

#[test]
fn html_is_self_contained_and_every_svg_parses() {
    let fit = synthetic_fit();
    let checks = checks::checks(&fit);
    let h = html("nnqft report", &[fit], &[], None, &checks);
    for bad in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "<script",
        "<link",
        "@import",
        "url(http",
    ] {
        assert!(!h.contains(bad), "external reference {bad}");
    }
    let mut n = 0;
    let mut rest = h.as_str();
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("closed svg") + start + 6;
        roxmltree::Document::parse(&rest[start..end])
            .unwrap_or_else(|e| panic!("svg {n} does not parse: {e}"));
        n += 1;
        rest = &rest[end..];
    }
    assert!(n >= 7, "expected the width-sweep plots, found {n} SVGs");
    assert!(h.contains("not_resolvable") && h.contains("<table>"));
}
