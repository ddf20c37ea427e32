//! Verdict rules with a positive control (must pass) and a negative control (must fail) each, groups, exact
//! verdicts, consistency checks, figure captions against their data, axes, legends, fitted lines, MathML, the
//! report.md snapshot, and the report's files.

mod common;

use common::{cutoff_fit, flow, overlaps, row, sigma_fit, text_boxes, width_fit};
use nnqft_contract::fit::{FitId, WidthSlope};
use nnqft_report::checks::{self, Check, groups};
use nnqft_report::figures::{histogram_caption, power_line};
use nnqft_report::plots::{Scale, ticks};
use nnqft_report::{Report, math};

fn verdict(c: &Check) -> &str {
    c.verdict.as_str()
}

fn slope(lo: f64, hi: f64, pred: f64) -> Check {
    checks::numeric(
        "s".into(),
        "$x ~ 1/N$",
        pred,
        Some(&row(
            "m4_abs_vs_N",
            Some((lo + hi) / 2.0),
            lo,
            hi,
            Some(pred),
            5,
            "",
        )),
        "slope",
    )
}

#[test]
fn numeric_rule_passes_fails_and_cannot_decide_only_when_both_are_inside() {
    // Positive control: the interval holds the prediction and not the alternative 0.
    assert_eq!(verdict(&slope(-1.1, -0.9, -1.0)), "pass");
    // Negative controls: the interval excludes the prediction ...
    let fail = slope(-0.6, -0.4, -1.0);
    assert_eq!(verdict(&fail), "fail");
    assert!(fail.note.contains("excludes the prediction -1"), "{}", fail.note);
    // ... also when it contains 0 (no scaling) but not the prediction: the data decide against the claim.
    let fail0 = slope(-0.3, 0.5, -1.0);
    assert_eq!(verdict(&fail0), "fail", "{}", fail0.note);
    // Undecided only when the interval holds both the prediction and the alternative.
    let both = slope(-2.0, 1.5, -1.0);
    assert_eq!(verdict(&both), "not_resolvable");
    assert!(
        both.note.contains("contains both the prediction -1 and 0"),
        "{}",
        both.note
    );
    // A zero prediction (m_2) has no alternative: inside passes, outside fails.
    assert_eq!(verdict(&slope(-0.02, 0.03, 0.0)), "pass");
    assert_eq!(verdict(&slope(0.02, 0.03, 0.0)), "fail");
    // Missing fit, and too few resolvable points: not resolvable, with the reason.
    assert_eq!(
        verdict(&checks::numeric("f".into(), "m", 0.0, None, "mean")),
        "not_resolvable"
    );
    let tails = checks::numeric(
        "d".into(),
        "x ~ 1/N^2",
        -2.0,
        Some(&row(
            "gc6_abs_vs_N",
            None,
            0.0,
            0.0,
            Some(-2.0),
            1,
            "2 (tail), 3 (tail)",
        )),
        "slope",
    );
    assert_eq!(verdict(&tails), "not_resolvable");
    assert!(
        tails
            .note
            .contains("only 1 sweep point is resolvable and this fit needs 2"),
        "{}",
        tails.note
    );
}

#[test]
fn sign_rule_controls() {
    let pos = |lo: f64, hi: f64| {
        checks::sign(
            "s".into(),
            "u_6 > 0",
            true,
            Some(&row("m2_mean", Some((lo + hi) / 2.0), lo, hi, None, 3, "")),
            "u6",
        )
    };
    assert_eq!(verdict(&pos(1.0, 2.0)), "pass");
    assert_eq!(verdict(&pos(-2.0, -1.0)), "fail");
    assert_eq!(verdict(&pos(-1.0, 2.0)), "not_resolvable");
}

#[test]
fn exact_verdict_applies_the_claim_to_the_exact_value() {
    // Positive control: the exact slope equals the prediction.
    assert_eq!(
        slope(-1.1, -0.9, -1.0).exact_verdict.map(|v| v.as_str()),
        Some("pass")
    );
    // Negative control: an exact slope 0.05 away from the prediction (beyond EXACT_TOL).
    let c = checks::numeric(
        "s".into(),
        "x",
        -1.0,
        Some(&row("m4_abs_vs_N", Some(-1.0), -1.1, -0.9, Some(-1.05), 5, "")),
        "slope",
    );
    assert_eq!(c.exact_verdict.map(|v| v.as_str()), Some("fail"));
    // ELS: u_6 > 0 is contradicted by the exact u_6 < 0 even where no point is resolvable.
    let checks = checks::checks(&width_fit());
    let u6 = checks.iter().find(|c| c.id.starts_with("u6_sign")).unwrap();
    assert_eq!(
        (u6.verdict.as_str(), u6.exact_verdict.map(|v| v.as_str())),
        ("not_resolvable", Some("fail"))
    );
    let report = Report::new("t", vec![width_fit()], vec![], None);
    let html = report.html();
    let lead = html
        .find("Exact theory decides")
        .expect("the contradiction leads the report");
    assert!(lead < html.find("id=\"verdicts\"").unwrap());
}

#[test]
fn two_term_and_u4_constant_rules_have_both_controls() {
    let mut f = width_fit();
    let set = |f: &mut nnqft_report::data::Fit, id: &str, est: f64, lo: f64, hi: f64| {
        let r = f.fits.iter_mut().find(|r| r.id.to_string() == id).unwrap();
        (r.estimate, r.lo, r.hi) = (Some(est), Some(lo), Some(hi));
    };
    let get = |f: &nnqft_report::data::Fit, p: &str| {
        checks::checks(f)
            .into_iter()
            .find(|c| c.id.starts_with(p))
            .unwrap()
            .verdict
    };
    // b's interval [-50, 90] holds its exact value 30 and 0: undecided.
    assert_eq!(get(&f, "m6_two_term"), "not_resolvable");
    set(&mut f, "m6_two_term_b", 30.0, 20.0, 40.0);
    assert_eq!(get(&f, "m6_two_term"), "pass");
    set(&mut f, "m6_two_term_b", 60.0, 50.0, 70.0);
    assert_eq!(get(&f, "m6_two_term"), "fail");
    assert_eq!(get(&f, "u4_constant_negative"), "pass");
    set(&mut f, "u4_spread", 0.2, 0.1, 0.3);
    assert_eq!(get(&f, "u4_constant_negative"), "fail");
    set(&mut f, "u4_spread", 0.05, 0.01, 0.1);
    assert_eq!(get(&f, "u4_constant_negative"), "not_resolvable");
    set(&mut f, "u4_sign", 20.0, 10.0, 30.0);
    assert_eq!(get(&f, "u4_constant_negative"), "fail");
}

#[test]
fn a_claim_the_data_cannot_move_is_a_consistency_check_not_a_verdict() {
    let a = checks::assess(&cutoff_fit());
    assert!(a.checks.is_empty(), "{:?}", a.checks);
    assert_eq!(a.consistency.len(), 1);
    assert!(a.consistency[0].note.contains("zero width"));
    let r = Report::new("t", vec![cutoff_fit()], vec![], None);
    assert!(
        r.html().contains("(<a href=\"#fig-1\">Figure 1</a>)"),
        "the consistency check names its figure"
    );
    // Negative control: an interval of non-zero width is a verdict.
    let mut f = cutoff_fit();
    f.fits[0].lo = Some(-5.1);
    f.fits[0].hi = Some(-4.9);
    let a = checks::assess(&f);
    assert_eq!((a.checks.len(), a.consistency.len()), (1, 0));
    assert_eq!(a.checks[0].verdict, "pass");
}

#[test]
fn re_expressions_share_a_group_and_the_summary_counts_groups() {
    let checks = checks::checks(&width_fit());
    let group = |p: &str| checks.iter().find(|c| c.id.starts_with(p)).unwrap().group.clone();
    assert_eq!(group("m4_inv_N"), group("gc4_inv_N"));
    assert_eq!(group("m4_inv_N"), group("u4_inv_N"));
    assert_eq!(group("gc6_inv_N2"), group("u6_inv_N2"));
    assert_ne!(group("m4_inv_N"), group("m2_zero"));
    assert_ne!(group("m4_inv_N"), group("u4_constant_negative"));
    // A group fails when any member fails (G_c^(4) fails here).
    let gs = groups(&checks);
    let q = gs.iter().find(|g| g.id.starts_with("m4_inv_N")).unwrap();
    assert_eq!((q.members.len(), q.verdict.as_str()), (3, "fail"));
    // sigma_W: raw and canonical of one range are one number; "le10" holds every point, so it is "all".
    let s = checks::checks(&sigma_fit());
    let g = |id: &str| s.iter().find(|c| c.id.starts_with(id)).unwrap().group.clone();
    assert_eq!(g("u4_raw_slope_all"), g("u4_canonical_slope_all"));
    assert_eq!(g("u4_raw_slope_all"), g("u4_raw_slope_le10"));
    assert_ne!(
        g("u4_raw_slope_all"),
        g("u4_raw_slope_le2"),
        "sigma_W <= 2 drops the point 4"
    );
    assert_eq!(groups(&s).len(), 2);
    let r = Report::new("t", vec![width_fit(), sigma_fit()], vec![], None);
    let n = groups(&r.checks).len();
    assert!(
        r.counts().starts_with(&format!("{n} independent results")),
        "{}",
        r.counts()
    );
    assert!(n < r.checks.len());
}

/// A width fit with both estimators: the conditional one as `width_fit`, but with G_c^(6) and u_6 resolvable
/// (slope -2.02 in [-2.2, -1.85]) and a tighter G_c^(4) (the products one keeps `width_fit`'s numbers).
fn two_estimator_fit() -> nnqft_report::data::Fit {
    use nnqft_report::data::Estimator;
    let mut f = width_fit();
    let mut cond_fits = f.fits.clone();
    for r in &mut cond_fits {
        r.estimator = Estimator::Conditional;
        if [FitId::VsWidth(WidthSlope::Gc6), FitId::VsWidth(WidthSlope::U6)].contains(&r.id) {
            (r.estimate, r.lo, r.hi, r.n_used, r.excluded) =
                (Some(-2.02), Some(-2.2), Some(-1.85), 4, String::new());
        }
        if r.id == FitId::VsWidth(WidthSlope::Gc4) {
            (r.estimate, r.lo, r.hi) = (Some(-1.0), Some(-1.02), Some(-0.98));
        }
    }
    let mut cond_points = f.points.clone();
    for p in &mut cond_points {
        p.estimator = Estimator::Conditional;
        p.resolvable = true;
        // A tenth of the products' interval.
        let (lo, hi) = (p.lo.unwrap(), p.hi.unwrap());
        (p.lo, p.hi) = (Some(p.y - 0.1 * (p.y - lo)), Some(p.y + 0.1 * (hi - p.y)));
    }
    // Per-combination standard errors a tenth of the products' (median 0.012 against 0.12).
    let mut cond_combos = f.combos.clone();
    for c in &mut cond_combos {
        c.estimator = Estimator::Conditional;
        c.gc_stderr = c.gc_stderr.map(|s| s / 10.0);
    }
    f.fits.extend(cond_fits);
    f.points.extend(cond_points);
    f.combos.extend(cond_combos);
    f
}

#[test]
fn an_estimator_pair_is_one_group_decided_by_the_conditional_estimator() {
    let f = two_estimator_fit();
    let c = checks::checks(&f);
    let by = |id: &str| c.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id}"));
    let t = "[gaussnet,sigma_W=1.0]";
    // The conditional estimator decides; the products one is beside it, in the same group.
    let (cond, prod) = (
        by(&format!("gc6_inv_N2{t}")),
        by(&format!("gc6_inv_N2{t}/products")),
    );
    assert_eq!(
        (
            cond.estimator,
            cond.verdict.as_str(),
            prod.estimator,
            prod.verdict.as_str()
        ),
        (Some("conditional"), "pass", Some("products"), "not_resolvable")
    );
    assert_eq!(cond.group, prod.group);
    let gs = groups(&c);
    let g6 = gs.iter().find(|g| g.id == cond.group).unwrap();
    // The products estimator cannot resolve it, but the conditional one does: the group passes.
    assert_eq!(
        g6.verdict.as_str(),
        "pass",
        "{:?}",
        g6.members.iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    // One measured number, one result: as many groups as with one estimator.
    assert_eq!(gs.len(), groups(&checks::checks(&width_fit())).len());
    // A refutation by either estimator fails the group (the products' G_c^(4) slope -0.7 excludes -1).
    assert_eq!(by(&format!("gc4_inv_N{t}/products")).verdict.as_str(), "fail");
    let g4 = gs.iter().find(|g| g.id == format!("m4_inv_N{t}")).unwrap();
    assert_eq!((g4.members.len(), g4.verdict.as_str()), (6, "fail"));
    // Negative control of the group rule: the conditional estimator not resolvable, the products one passing,
    // is not a pass.
    let mut f2 = f.clone();
    for r in &mut f2.fits {
        if r.id == FitId::VsWidth(WidthSlope::Gc6) {
            (r.estimate, r.lo, r.hi) = if r.estimator == nnqft_report::data::Estimator::Conditional {
                (Some(-1.0), Some(-3.0), Some(1.0))
            } else {
                (Some(-2.0), Some(-2.1), Some(-1.9))
            };
            (r.n_used, r.excluded) = (4, String::new());
        }
    }
    let c2 = checks::checks(&f2);
    let gs2 = groups(&c2);
    assert_eq!(
        gs2.iter().find(|g| g.id == cond.group).unwrap().verdict.as_str(),
        "not_resolvable"
    );
    // The figures draw both estimators (squares for the products of f) and the relative standard errors.
    let r = Report::new("t", vec![f], vec![], None);
    let gc4 = r
        .figures
        .iter()
        .find(|g| g.title == "Connected 4-point function against N")
        .unwrap();
    assert!(gc4.svg.contains("<rect x=") && gc4.svg.contains("products-of-f estimator"));
    let rse = r
        .figures
        .iter()
        .find(|g| g.title.starts_with("Relative standard error of G_c^{(4)}"))
        .expect("relative standard error figure");
    assert!(rse.caption.contains("conditional-Gaussian"), "{}", rse.caption);
    // Legend samples match what is drawn: markers without error bars get no bar in the legend, with bars one.
    let legend_bar = "stroke-width=\"1.2\"/>";
    assert!(!rse.svg.contains(legend_bar), "{}", rse.svg);
    assert!(gc4.svg.contains(legend_bar));
    // Issue 16's measure: the median over combinations of the per-combination relative standard error.
    let p = r.precision();
    assert!(
        p[0].contains("median over combinations")
            && p[0].contains("0.0120 (conditional-Gaussian, N = 100)")
            && p[0].contains("0.1200 (products-of-f, N = 100)"),
        "{p:?}"
    );
}

/// A sweep over sigma_b: G_c^(4) and u_4 at three sigma_b, the fit's slopes (no prediction) and means.
fn sigma_b_fit() -> nnqft_report::data::Fit {
    use nnqft_report::data::Sweep;
    let xs = [0.25, 0.5, 1.0];
    let mut points = common::power_points("gc4_mean", &xs, 1.5, 0.2);
    points.extend(common::power_points("u4_mean", &xs, 1.2, -30.0));
    let mut fits = vec![
        row("m2_mean", Some(0.001), -0.01, 0.012, Some(0.0), 3, ""),
        row("u4_sign", Some(-24.0), -26.0, -22.0, Some(-24.4), 3, ""),
        row("u4_spread", Some(0.01), 0.005, 0.02, Some(0.001), 3, ""),
        row("gc4_abs_vs_sigma_b", Some(1.5), 1.4, 1.6, Some(1.5), 3, ""),
    ];
    for r in &mut fits {
        r.sweep = Sweep::SigmaB;
    }
    nnqft_report::data::Fit {
        dir: "synthetic-sigma-b".into(),
        hash: "0a1b2c3d4e5f".into(),
        sweep: Sweep::SigmaB,
        label: "erf sigma_b sweep at N = 10, sigma_W = 1.0".into(),
        tag: "erf,sigma_b-sweep,N=10".into(),
        d: 1.0,
        arch: "erf".into(),
        sample: vec![serde_json::json!({"n_bags": 10, "n_nets": 1000})],
        bootstrap: 100,
        fits,
        points,
        combos: vec![],
    }
}

#[test]
fn a_sweep_over_any_other_parameter_gets_its_figures_and_the_claims_that_apply() {
    let f = sigma_b_fit();
    let c = checks::checks(&f);
    let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
    // The mean claims of a width sweep apply (m_2 = 0, u_4 constant and negative); the slopes in N do not, and
    // a slope without a prediction is not a claim.
    assert_eq!(
        ids,
        [
            "m2_zero[erf,sigma_b-sweep,N=10]",
            "u4_constant_negative[erf,sigma_b-sweep,N=10]"
        ]
    );
    assert!(c.iter().all(|c| c.verdict == "pass"), "{c:?}");
    assert!(
        c[0].note
            .starts_with("signed mean of m_2 over combinations and sigma_b:"),
        "{}",
        c[0].note
    );
    // Negative control: the same rule fails a u_4 whose interval is positive.
    let mut bad = f.clone();
    for r in &mut bad.fits {
        if r.id.to_string() == "u4_sign" {
            (r.estimate, r.lo, r.hi) = (Some(2.0), Some(1.0), Some(3.0));
        }
    }
    let cb = checks::checks(&bad);
    assert_eq!(cb[1].verdict, "fail", "{}", cb[1].note);
    // Figures: each quantity against sigma_b, with the fitted line where the fit has a slope.
    let r = Report::new("t", vec![f], vec![], None);
    let titles: Vec<&str> = r.figures.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["|G_c^{(4)}| against sigma_b", "|u_4| against sigma_b"]);
    assert!(
        r.figures[0].svg.contains("fit: slope 1.50"),
        "{}",
        r.figures[0].svg
    );
}

#[test]
fn notes_give_what_excluded_each_point() {
    let checks = checks::checks(&width_fit());
    for c in &checks {
        assert!(!c.note.contains("fewer than"), "{}", c.note);
    }
    let gc6 = checks.iter().find(|c| c.id.starts_with("gc6_inv_N2")).unwrap();
    assert!(gc6.note.contains("no sweep point is resolvable"), "{}", gc6.note);
    assert!(gc6.note.contains("N = 2, 5 by the tail rule"), "{}", gc6.note);
    // A noise exclusion quotes the interval of the signed average (gc6_mean at N = 20: [-5/400, 1.1 x 5/400]).
    assert!(
        gc6.note
            .contains("N = 20 as noise (the 95% interval [-1.250e-2, 1.375e-2]"),
        "{}",
        gc6.note
    );
}

#[test]
fn histogram_captions_say_what_the_data_show() {
    // Overlapping widths (the 1/N law holds): on top of each other, no spike claim when they spread.
    let same = vec![
        (2.0, vec![1.0, 1.5, 2.0], vec![1.5; 3]),
        (20.0, vec![1.2, 1.6, 2.1], vec![1.5; 3]),
    ];
    let c = histogram_caption(4, "t", &same);
    assert!(c.contains("lie on top of each other"), "{c}");
    assert!(!c.contains("spike"), "{c}");
    // Disjoint narrow groups whose exact values agree: not on top of each other, spikes.
    let apart = vec![
        (2.0, vec![0.50, 0.501, 0.502], vec![1.0; 3]),
        (20.0, vec![0.90, 0.901, 0.902], vec![1.0; 3]),
        (1000.0, vec![0.99, 0.991, 0.992], vec![1.0; 3]),
    ];
    let c = histogram_caption(4, "t", &apart);
    assert!(c.contains("do not lie on top of each other"), "{c}");
    assert!(c.contains("exact values agree across the widths (medians within 0.00%): the differences are in the estimates"), "{c}");
    assert!(c.contains("narrow spike"), "{c}");
    assert!(c.contains("0.5010 at N = 2 (exact 1.0000)"), "{c}");
    // Exact values that differ with N (N m_6 = a + b/N): said so, not blamed on the estimates.
    let m6 = vec![
        (2.0, vec![5.0, 5.1], vec![10.0; 2]),
        (20.0, vec![1.0, 1.1], vec![1.5; 2]),
    ];
    let c = histogram_caption(6, "t", &m6);
    assert!(c.contains("the exact medians differ by 85.0%"), "{c}");
    assert!(!c.contains("in the estimates"), "{c}");
    // The figure of the synthetic width sweep (N m_4 = 1 + 0.01 i exactly overlapping): its caption.
    let r = Report::new("t", vec![width_fit()], vec![], None);
    let h = r.figures.iter().find(|f| f.title.contains("N m_4")).unwrap();
    assert!(h.caption.contains("lie on top of each other"), "{}", h.caption);
}

#[test]
fn fitted_line_goes_through_the_fit() {
    let f = width_fit();
    // m_4 = 0.8/N exactly: the line of the fit's slope -1 goes through every point.
    let r = f.fit(FitId::VsWidth(WidthSlope::M4)).unwrap();
    let l = power_line(&f, r, -1.0, true).expect("drawn");
    for &(x, y, _) in &l {
        assert!((y - 0.8 / x).abs() < 1e-12 * y, "({x}, {y})");
    }
    assert!(
        (l[0].0 - 2.0).abs() < 1e-12 && (l[1].0 - 100.0).abs() < 1e-10,
        "{l:?}"
    );
    // Negative control: the G_c^(4) fit says -0.7 but its points lie on -1: no line that is not the fit.
    let r = f.fit(FitId::VsWidth(WidthSlope::Gc4)).unwrap();
    assert!(power_line(&f, r, -0.7, true).is_none());
}

#[test]
fn log_axes_have_decade_ticks() {
    let labels = |lo: f64, hi: f64| -> Vec<String> {
        ticks(Scale::Log, lo, hi)
            .into_iter()
            .filter_map(|t| t.label)
            .collect()
    };
    assert_eq!(labels(1.5, 1500.0), ["10", "100", "1000"]);
    assert_eq!(labels(1.5, 25.0), ["2", "5", "10", "20"]);
    assert_eq!(
        labels(1e-8, 1e-2),
        [
            "10^{−8}",
            "10^{−7}",
            "10^{−6}",
            "10^{−5}",
            "10^{−4}",
            "10^{−3}",
            "10^{−2}"
        ]
    );
    // Minor ticks at 2..9 x 10^k, unlabelled beyond 2.5 decades.
    let t = ticks(Scale::Log, 1.0, 1000.0);
    assert_eq!(t.len(), 28);
    assert!(
        t.iter()
            .filter(|t| t.major)
            .all(|t| [1.0, 10.0, 100.0, 1000.0].contains(&t.v))
    );
    // Symmetric log: zero and signed decades.
    let s: Vec<f64> = ticks(Scale::SymLog(1.0), -150.0, 2e4)
        .into_iter()
        .map(|t| t.v)
        .collect();
    assert_eq!(s, [-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0]);
}

#[test]
fn figures_have_no_overlapping_text_legends_list_what_is_drawn_and_bars_have_no_hollow_marker() {
    let r = Report::new(
        "t",
        vec![width_fit(), sigma_fit(), cutoff_fit()],
        vec![flow(&[])],
        None,
    );
    assert!(r.figures.len() >= 12, "{}", r.figures.len());
    for f in &r.figures {
        assert_eq!(overlaps(&f.svg), vec![], "figure {} ({})", f.number, f.title);
        let texts: Vec<String> = text_boxes(&f.svg).into_iter().map(|b| b.4).collect();
        assert!(
            texts.iter().filter(|t| t.starts_with("unresolvable")).count() <= 1,
            "figure {}: {texts:?}",
            f.number
        );
        // The only open circles are the per-combination dots.
        assert!(
            !f.svg.contains("fill=\"none\" stroke=\"#1f77b4\""),
            "figure {}",
            f.number
        );
    }
    // <|m_4|>: every point resolvable, so no "unresolvable" entry; a fit line and a dashed prediction.
    let m4 = r.figures.iter().find(|f| f.title.contains("⟨|m_4|⟩")).unwrap();
    let texts: Vec<String> = text_boxes(&m4.svg).into_iter().map(|b| b.4).collect();
    assert!(!texts.iter().any(|t| t.starts_with("unresolvable")), "{texts:?}");
    assert!(texts.iter().any(|t| t == "fit: slope −1.00"), "{texts:?}");
    assert!(m4.svg.contains("stroke-dasharray=\"8 5\""));
    // G_c^(6): every point unresolvable, drawn grey and listed once; no fit line (the fit has no estimate).
    let gc6 = r
        .figures
        .iter()
        .find(|f| f.title.contains("Connected 6"))
        .unwrap();
    let texts: Vec<String> = text_boxes(&gc6.svg).into_iter().map(|b| b.4).collect();
    assert!(texts.iter().any(|t| t.starts_with("unresolvable")), "{texts:?}");
    assert!(!texts.iter().any(|t| t.starts_with("fit:")), "{texts:?}");
    // The flow: three panels, symmetric-log where a coupling spans many decades.
    let fl = r.figures.iter().find(|f| f.title.contains("RG flow")).unwrap();
    assert_eq!(fl.svg.matches("<clipPath").count(), 3);
    assert!(fl.svg.contains("symmetric log axis"));
}

#[test]
fn the_overlap_check_finds_overlapping_text() {
    let svg = |body: &str| format!("<svg xmlns=\"http://www.w3.org/2000/svg\">{body}</svg>");
    // Two labels side by side, 20 px apart: no overlap.
    let apart = svg(
        "<text x=\"10\" y=\"50\" font-size=\"12\">100</text><text x=\"50\" y=\"50\" font-size=\"12\">1000</text>",
    );
    assert_eq!(overlaps(&apart), vec![]);
    // The same labels 10 px apart overlap (\"100\" is about 22 px wide).
    let close = svg(
        "<text x=\"10\" y=\"50\" font-size=\"12\">100</text><text x=\"20\" y=\"50\" font-size=\"12\">1000</text>",
    );
    assert_eq!(overlaps(&close).len(), 1);
    // A rotated axis title running through a column of end-anchored tick labels.
    let rotated = svg(
        "<text x=\"40\" y=\"100\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 40 100)\">a long axis title</text><text x=\"60\" y=\"100\" font-size=\"11\" text-anchor=\"end\">10^5</text>",
    );
    assert_eq!(overlaps(&rotated).len(), 1);
    // Sub- and superscripts count at their size: a tspan at 70% is narrower.
    let b = text_boxes(&svg(
        "<text x=\"0\" y=\"20\" font-size=\"10\">10<tspan baseline-shift=\"super\" font-size=\"70%\">5</tspan></text>",
    ));
    assert_eq!(b[0].4, "105");
    assert!(
        (b[0].2 - (2.0 + 0.7) * 10.0 * common::TEST_CHAR_EM).abs() < 1e-9,
        "{b:?}"
    );
}

#[test]
fn a_flow_from_unresolvable_couplings_is_not_drawn_and_says_why() {
    // The sigma_W fit the flow started from: u_6 at sigma_W = 1 fails the tail rule (ESS 45 < 1000).
    let mut fit = sigma_fit();
    let mut u6 = common::power_points("u6_mean", &[1.0, 2.0, 4.0], -5.0, -2.0);
    for p in &mut u6 {
        p.resolvable = false;
        (p.ess, p.ess_min) = (Some(45.0), Some(1000.0));
    }
    fit.points.extend(u6);
    let mut fl = flow(&["u6"]);
    fl.inputs = vec![fit.hash.clone()];
    let r = Report::new("t", vec![fit.clone()], vec![fl.clone()], None);
    let f = r
        .figures
        .iter()
        .find(|f| f.title.starts_with("Passive RG flow"))
        .expect("a flow figure from the resolvable couplings");
    // Drawn: the flows from the resolvable and from the exact couplings, not the one from the measured u_6.
    assert!(
        f.svg.contains("from the resolvable couplings: measured u"),
        "{}",
        f.svg
    );
    assert!(f.svg.contains("from the exact couplings"));
    assert!(!f.svg.contains("from the measured couplings"));
    // The caption gives the numbers that decided it.
    assert!(
        f.caption.contains("not resolvable") && f.caption.contains("ESS 45.0 < 1000"),
        "{}",
        f.caption
    );
    // Only the measured trajectory, and it is not a result: no figure, the reason instead.
    fl.trajectories
        .retain(|t| t.start == nnqft_report::data::Start::Measured);
    let r = Report::new("t", vec![fit], vec![fl], None);
    assert!(!r.figures.iter().any(|f| f.title.starts_with("Passive RG flow")));
    let h = r.html();
    assert!(
        h.contains("No flow figure:") && h.contains("45.0 &lt; 1000"),
        "{}",
        &h[h.find("No flow figure").unwrap_or(0)..]
    );
}

#[test]
fn formulas_are_mathml() {
    for (src, want) in [
        (
            "u_4 ~ 1/N",
            "<mrow><msub><mi>u</mi><mn>4</mn></msub><mo>∼</mo><mfrac><mrow><mn>1</mn></mrow><mrow><mi>N</mi></mrow></mfrac></mrow>",
        ),
        // Parentheses around a single number stay (the order of G), around an expression they go.
        (
            "G_c^(4)",
            "<mrow><msubsup><mi>G</mi><mi>c</mi><mrow><mo>(</mo><mrow><mn>4</mn></mrow><mo>)</mo></mrow></msubsup></mrow>",
        ),
        (
            "sigma_W^(d-4)",
            "<mrow><msubsup><mi>σ</mi><mi>W</mi><mrow><mi>d</mi><mo>−</mo><mn>4</mn></mrow></msubsup></mrow>",
        ),
        (
            "DeltaG^(4)/N_K",
            "<mrow><mfrac><mrow><msup><mrow><mi>Δ</mi><mi>G</mi></mrow><mrow><mo>(</mo><mrow><mn>4</mn></mrow><mo>)</mo></mrow></msup></mrow><mrow><msub><mi>N</mi><mi>K</mi></msub></mrow></mfrac></mrow>",
        ),
    ] {
        assert_eq!(math::mathml(src), format!("<math>{want}</math>"), "{src}");
    }
    assert_eq!(
        math::plain("raw $u_4 ~ sigma_W^(d-4)$"),
        "raw u_4 ~ sigma_W^(d-4)"
    );
    // Every formula of a full report is well-formed XML.
    let r = Report::new(
        "t",
        vec![width_fit(), sigma_fit(), cutoff_fit()],
        vec![flow(&[])],
        None,
    );
    let h = r.html();
    let mut n = 0;
    let mut rest = h.as_str();
    while let Some(s) = rest.find("<math>") {
        let e = rest[s..].find("</math>").unwrap() + s + 7;
        roxmltree::Document::parse(&rest[s..e]).unwrap_or_else(|e2| panic!("{}: {e2}", &rest[s..e]));
        n += 1;
        rest = &rest[e..];
    }
    assert!(n > 30, "{n} formulas");
    assert!(!h.contains('$'), "a formula was left as text");
}

#[test]
fn report_md_snapshot() {
    let run = serde_json::json!({"pipeline": "synthetic", "stages": [{"name": "sample[width=2]", "content": "ab12cd34ef56ab12cd34"}]});
    let r = Report::new("nnqft report", vec![width_fit(), cutoff_fit()], vec![], Some(run));
    let md = r.markdown();
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
fn the_report_writes_every_figure_as_numbered_svg_and_png_after_the_contents() {
    let dir = tempfile::tempdir().unwrap();
    let r = Report::new(
        "t",
        vec![width_fit(), sigma_fit(), cutoff_fit()],
        vec![flow(&[])],
        None,
    );
    r.write(dir.path()).unwrap();
    let h = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    for bad in [
        "src=\"http",
        "href=\"http",
        "<script",
        "<link",
        "@import",
        "url(http",
    ] {
        assert!(!h.contains(bad), "external reference {bad}");
    }
    let contents = h.find("<h2>Contents</h2>").unwrap();
    let figures = h.find("id=\"figures\"").unwrap();
    let run = h.find("<details id=\"run\">").unwrap();
    assert!(
        contents < figures && figures < run,
        "contents, figures, then the collapsed run summary"
    );
    for f in &r.figures {
        let stem = f.stem();
        assert_eq!(stem, format!("fig{:02}", f.number));
        let svg = std::fs::read_to_string(dir.path().join(format!("{stem}.svg"))).unwrap();
        roxmltree::Document::parse(&svg).unwrap();
        assert!(
            h.contains(&format!("href=\"{stem}.png\"")) && h.contains(&format!("id=\"fig-{}\"", f.number))
        );
        let png = resvg::tiny_skia::Pixmap::decode_png(
            &std::fs::read(dir.path().join(format!("{stem}.png"))).unwrap(),
        )
        .unwrap();
        assert_eq!(png.width(), 1440);
        // Not blank: a few percent of the pixels are ink.
        let ink = png
            .pixels()
            .iter()
            .filter(|p| p.red() < 200 || p.blue() < 200)
            .count();
        assert!(
            ink * 100 > png.pixels().len(),
            "figure {stem} is blank ({ink} ink pixels)"
        );
    }
    let checks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("checks.json")).unwrap()).unwrap();
    for c in checks.as_array().unwrap() {
        assert!(c["group"].is_string() && c.get("exact_verdict").is_some(), "{c}");
        assert!(!c["claim"].as_str().unwrap().contains('$'));
    }
}

#[test]
fn a_run_summary_without_a_name_or_content_is_refused() {
    let ok = serde_json::json!({"pipeline": "p", "stages": [{"name": "fit", "content": "ab"}]});
    assert!(nnqft_report::check_run_summary(&ok).is_ok());
    for (bad, says) in [
        (serde_json::json!({"stages": []}), "\"pipeline\" is missing"),
        (serde_json::json!({"pipeline": "p"}), "\"stages\" is missing"),
        (
            serde_json::json!({"pipeline": "p", "stages": [{"name": "fit"}]}),
            "stages[0].content is missing",
        ),
    ] {
        let e = nnqft_report::check_run_summary(&bad).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
}
