//! Synthetic fit and flow artifacts (known power laws and verdicts), and an independent check of SVG text
//! placement, shared by the report's tests.
#![allow(dead_code)]

pub mod chain;

use nnqft_report::data::{
    ComboRow, Estimator, Exclusion, Fit, FitId, FitRow, Flow, PointRow, Quantity, Reason, Sweep,
};

pub fn row(
    id: &str,
    est: Option<f64>,
    lo: f64,
    hi: f64,
    exact: Option<f64>,
    n_used: u64,
    excluded: &str,
) -> FitRow {
    // The contract gives the quantity, kind and range of a fit from its id.
    let id = FitId::parse(id).unwrap_or_else(|| panic!("{id} is not a fit id of the contract"));
    FitRow {
        id,
        quantity: id.quantity(),
        sweep: Sweep::Width,
        kind: id.kind(),
        x_max: id.x_max(),
        estimate: est,
        lo: est.map(|_| lo),
        hi: est.map(|_| hi),
        exact,
        predicted: None,
        n_used,
        // The structured exclusions from the text `x (reason), ...`.
        exclusions: excluded
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (x, why) = item.split_once(' ').expect("x (reason)");
                Exclusion {
                    x: x.parse().expect("a swept value"),
                    reason: Reason::parse(why.trim_matches(|c| c == '(' || c == ')')).expect("a reason"),
                }
            })
            .collect(),
        excluded: excluded.into(),
        note: String::new(),
        estimator: Estimator::Products,
    }
}

/// A row whose quantity (given by its id) is `q`.
fn with_quantity(r: FitRow, q: &str) -> FitRow {
    assert_eq!(r.quantity.name(), q, "{}", r.id);
    r
}

/// Power-law points y = amp x^slope with 10% intervals, the exact values equal to them.
pub fn power_points(q: &str, xs: &[f64], slope: f64, amp: f64) -> Vec<PointRow> {
    xs.iter()
        .map(|&x| {
            let y: f64 = amp * x.powf(slope);
            PointRow {
                quantity: Quantity::parse(q).unwrap_or_else(|| panic!("{q} is not a quantity")),
                x,
                y,
                lo: Some(y - 0.1 * y.abs()),
                hi: Some(y + 0.1 * y.abs()),
                exact: Some(y),
                background: Some(0.3 * y.abs()),
                resolvable: true,
                width: 10,
                sigma_w: Some(1.0),
                ess: None,
                ess_min: None,
                tail_ratio: None,
                tail_min: None,
                estimator: Estimator::Products,
            }
        })
        .collect()
}

/// A GaussNet width sweep: m_4, G_c^(4), u_4 exactly ~ 1/N; the six-point quantities unresolvable.
pub fn width_fit() -> Fit {
    let xs = [2.0f64, 5.0, 20.0, 100.0];
    let mut points = Vec::new();
    for (q, slope, amp) in [
        ("m2_abs", 0.0, 0.01),
        ("m4_abs", -1.0, 0.8),
        ("m4_mean", -1.0, 0.8),
        ("m6_abs", -1.0, 30.0),
        ("gc4_mean", -1.0, 0.3),
        ("u4_mean", -1.0, -60.0),
    ] {
        points.extend(power_points(q, &xs, slope, amp));
    }
    let mut gc6 = power_points("gc6_mean", &xs, -2.0, 5.0);
    for p in &mut gc6 {
        p.resolvable = false;
        // Noise at the large widths: the interval of the signed average holds 0.
        if p.x >= 20.0 {
            p.lo = Some(-p.y);
        }
    }
    points.extend(gc6);
    let combos = xs
        .iter()
        .flat_map(|&x| {
            (0..5).flat_map(move |i| {
                [4u64, 6].map(|n| ComboRow {
                    x,
                    n,
                    m: Some((n as f64 - 3.0) / x + 0.01 * i as f64 / x),
                    m_exact: Some((n as f64 - 3.0) / x),
                    u: (n == 4).then_some(-60.0 / x),
                    u_exact: (n == 4).then_some(-60.0 / x),
                    combo: vec![],
                    lambda: None,
                    gc: Some((n as f64 - 3.0) / x),
                    gc_stderr: Some((0.1 + 0.01 * i as f64) / x),
                    resolvable: true,
                    estimator: Estimator::Products,
                })
            })
        })
        .collect();
    Fit {
        dir: "synthetic".into(),
        hash: "0123456789abcdef0123456789abcdef".into(),
        sweep: Sweep::Width,
        label: "gaussnet width sweep at sigma_W = 1.0".into(),
        tag: "gaussnet,sigma_W=1.0".into(),
        d: 1.0,
        arch: "gaussnet".into(),
        sample: vec![serde_json::json!({"n_bags": 30, "n_nets": 30000})],
        bootstrap: 400,
        fits: vec![
            row("m2_mean", Some(0.001), -0.01, 0.012, Some(0.0), 4, ""),
            row("m2_abs_vs_N", Some(0.0), -0.1, 0.1, Some(0.0), 4, ""),
            with_quantity(
                row("m4_abs_vs_N", Some(-1.0), -1.1, -0.95, Some(-1.0), 4, ""),
                "m4_abs",
            ),
            row("m6_two_term_a", Some(40.0), 35.0, 45.0, Some(40.2), 4, ""),
            row("m6_two_term_b", Some(10.0), -50.0, 90.0, Some(30.0), 4, ""),
            with_quantity(
                row("gc4_abs_vs_N", Some(-0.7), -0.8, -0.6, Some(-1.0), 4, ""),
                "gc4_mean",
            ),
            with_quantity(
                row(
                    "gc6_abs_vs_N",
                    None,
                    0.0,
                    0.0,
                    Some(-2.0),
                    0,
                    "2 (tail), 5 (tail), 20 (noise), 100 (noise)",
                ),
                "gc6_mean",
            ),
            row("u4_sign", Some(-24.0), -26.0, -22.0, Some(-24.4), 4, ""),
            row("u4_spread", Some(0.01), 0.005, 0.02, Some(0.001), 4, ""),
            with_quantity(
                row("u4_abs_vs_N", Some(-1.0), -1.05, -0.93, Some(-1.0), 4, ""),
                "u4_mean",
            ),
            with_quantity(
                row(
                    "u6_abs_vs_N",
                    None,
                    0.0,
                    0.0,
                    Some(-2.0),
                    0,
                    "2 (tail), 5 (tail), 20 (tail), 100 (tail)",
                ),
                "u6_mean",
            ),
            with_quantity(
                row(
                    "u6_sign",
                    None,
                    0.0,
                    0.0,
                    Some(-2.1e6),
                    0,
                    "2 (tail), 5 (tail), 20 (tail), 100 (tail)",
                ),
                "u6_mean",
            ),
        ],
        points,
        combos,
    }
}

/// A sigma_W sweep at N = 10 with ranges le2 (holds the points 1, 2) and le10 (all points, the same fit as "all").
pub fn sigma_fit() -> Fit {
    let xs = [1.0f64, 2.0, 4.0];
    let mut points = power_points("u4_mean", &xs, -3.0, -50.0);
    points.extend(power_points("u4_canon_abs", &xs, 3.0, 2.0));
    points.extend(power_points("u4_spread", &xs, 1.0, 0.01));
    let mut fits = vec![];
    for (range, x_max, lo_raw) in [
        ("all", None, -3.1),
        ("le2", Some(2.0), -3.3),
        ("le10", Some(10.0), -3.1),
    ] {
        let r = with_quantity(
            row(
                &format!("u4_raw_vs_sigma_w_{range}"),
                Some(-3.0),
                lo_raw,
                -2.9,
                Some(-3.0),
                3,
                "",
            ),
            "u4_mean",
        );
        assert_eq!(r.x_max, x_max);
        fits.push(r);
        let r = with_quantity(
            row(
                &format!("u4_canonical_vs_sigma_w_{range}"),
                Some(3.0),
                lo_raw + 6.0,
                3.1,
                Some(3.0),
                3,
                "",
            ),
            "u4_canon_abs",
        );
        assert_eq!(r.x_max, x_max);
        fits.push(r);
    }
    Fit {
        dir: "synthetic-sigma".into(),
        hash: "fedcba9876543210fedcba9876543210".into(),
        sweep: Sweep::SigmaW,
        label: "gaussnet sigma_W sweep at N = 10".into(),
        tag: "gaussnet,N=10".into(),
        d: 1.0,
        arch: "erf".into(),
        sample: vec![serde_json::json!({"n_bags": 4, "n_nets": 1000})],
        bootstrap: 100,
        fits,
        points,
        combos: vec![],
    }
}

/// A ReLU cutoff scan whose slope is -5 with a zero-width interval (fixed by construction).
pub fn cutoff_fit() -> Fit {
    let xs = [7.0f64, 10.0, 100.0, 1000.0];
    Fit {
        dir: "synthetic-relu".into(),
        hash: "00112233445566778899aabbccddeeff".into(),
        sweep: Sweep::Cutoff,
        label: "relu cutoff scan at N = 20".into(),
        tag: "relu,N=20".into(),
        d: 1.0,
        arch: "relu".into(),
        sample: vec![serde_json::json!({"n_bags": 4, "n_nets": 500})],
        bootstrap: 100,
        fits: vec![with_quantity(
            row("lambda_vs_cutoff", Some(-5.0), -5.0, -5.0, Some(-5.0), 4, ""),
            "lambda_abs",
        )],
        points: power_points("lambda_abs", &xs, -5.0, 3.0),
        combos: vec![],
    }
}

/// A flow whose couplings span many decades and cross zero (unresolved: the names of unresolvable inputs): the
/// trajectory from the measured couplings, one from the resolvable ones where some are unresolvable, and the
/// exact one.
pub fn flow(unresolved: &[&str]) -> Flow {
    use nnqft_report::data::{Origin, Start, Trajectory, TrajectoryRow};
    let k: Vec<f64> = (0..50).map(|i| 10f64.powf(-2.0 * i as f64 / 49.0)).collect();
    let traj = |start, from, scale: f64| Trajectory {
        start,
        from,
        rows: k
            .iter()
            .map(|&k| TrajectoryRow {
                k,
                ubar: [
                    1.0 / k.powi(2),
                    -0.5 + 3e4 * scale * (1.0 - k),
                    1e6 * scale * (k - 0.5),
                ],
                u: [0.0; 3],
            })
            .collect(),
        stop: "reached k_end".into(),
    };
    let mut trajectories = vec![traj(Start::Measured, [Origin::Measured; 2], 1.0)];
    if !unresolved.is_empty() {
        trajectories.push(traj(Start::Resolvable, [Origin::Measured, Origin::Exact], 2.0));
    }
    trajectories.push(traj(Start::Exact, [Origin::Exact; 2], 3.0));
    Flow {
        hash: "99887766554433221100ffeeddccbbaa".into(),
        inputs: vec![],
        params: serde_json::json!({ "unresolved_inputs": unresolved }),
        unresolved: unresolved.iter().map(|s| s.to_string()).collect(),
        x: Some(1.0),
        trajectories,
        fixed: vec![([0.0, 0.0, 0.0], true, vec![(-2.0, 0.0), (-3.0, 0.0), (-4.0, 0.0)])],
        active: vec![],
    }
}

/// Approximate box of an SVG text element: (x0, y0, x1, y1, text).
pub type TextBox = (f64, f64, f64, f64, String);

/// Average character advance in em used to estimate text extents, independently of the renderer's own estimate
/// (DejaVu Sans: digits 0.64, lower case about 0.6).
pub const TEST_CHAR_EM: f64 = 0.6;

/// Boxes of every `<text>` of an SVG document, from its x, y, font-size, text-anchor and rotate(-90) transform;
/// the characters of a `<tspan>` with a font-size percentage count at that size.
pub fn text_boxes(svg: &str) -> Vec<TextBox> {
    let doc = roxmltree::Document::parse(svg).expect("SVG parses");
    let mut out = vec![];
    for t in doc.descendants().filter(|n| n.has_tag_name("text")) {
        let num = |a: &str| t.attribute(a).and_then(|v| v.parse::<f64>().ok());
        let (x, y, fs) = (
            num("x").unwrap_or(0.0),
            num("y").unwrap_or(0.0),
            num("font-size").unwrap_or(12.0),
        );
        let mut width = 0.0;
        let mut s = String::new();
        for c in t.children() {
            if c.is_text() {
                let txt = c.text().unwrap_or("");
                width += txt.chars().count() as f64 * TEST_CHAR_EM * fs;
                s += txt;
            } else if c.has_tag_name("tspan") {
                let scale = c
                    .attribute("font-size")
                    .and_then(|v| v.strip_suffix('%'))
                    .and_then(|v| v.parse::<f64>().ok())
                    .map_or(1.0, |p| p / 100.0);
                let txt: String = c
                    .descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| d.text())
                    .collect();
                width += txt.chars().count() as f64 * TEST_CHAR_EM * fs * scale;
                s += &txt;
            }
        }
        if s.trim().is_empty() {
            continue;
        }
        let x0 = match t.attribute("text-anchor").unwrap_or("start") {
            "middle" => x - width / 2.0,
            "end" => x - width,
            _ => x,
        };
        // Ascent 0.75 em above the baseline, descent 0.2 em below (sub/superscripts stay inside).
        let (bx0, by0, bx1, by1) = (x0, y - 0.75 * fs, x0 + width, y + 0.2 * fs);
        let rotated = t
            .attribute("transform")
            .is_some_and(|tr| tr.starts_with("rotate(-90"));
        out.push(if rotated {
            // Rotating by -90 degrees about (x, y): (u, v) -> (x + (v - y), y - (u - x)).
            (x + (by0 - y), y - (bx1 - x), x + (by1 - y), y - (bx0 - x), s)
        } else {
            (bx0, by0, bx1, by1, s)
        });
    }
    out
}

/// Pairs of text boxes that overlap.
pub fn overlaps(svg: &str) -> Vec<(String, String)> {
    let b = text_boxes(svg);
    let mut v = vec![];
    for i in 0..b.len() {
        for j in i + 1..b.len() {
            let (p, q) = (&b[i], &b[j]);
            if p.0 < q.2 && q.0 < p.2 && p.1 < q.3 && q.1 < p.3 {
                v.push((p.4.clone(), q.4.clone()));
            }
        }
    }
    v
}
