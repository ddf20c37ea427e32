//! One machine-readable verdict per claim (DESIGN.md "report" contract; PHYSICS.md 6-8 on what may be claimed).
//!
//! Rules, applied in this order:
//! - `not_resolvable` when the fit has no estimate or no interval, or fewer than two sweep points survived the
//!   tail rule (heavy tails), or, for a non-zero predicted slope, when the 95% interval contains 0 (the noise
//!   cannot tell the predicted scaling from no scaling);
//! - `pass` when the prediction lies in the 95% interval, `fail` otherwise.
//!
//! Sign claims pass when the whole interval has the predicted sign, fail when it has the opposite sign, and
//! are not resolvable otherwise.

use crate::data::{Fit, FitRow};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub id: String,
    pub claim: String,
    pub prediction: serde_json::Value,
    pub measured: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub exact: Option<f64>,
    pub verdict: String,
    pub note: String,
}

pub const PASS: &str = "pass";
pub const FAIL: &str = "fail";
pub const NOT_RESOLVABLE: &str = "not_resolvable";

/// Largest relative spread of u_4 over combinations that still counts as "constant" (locality).
pub const U4_SPREAD_MAX: f64 = 0.05;

fn base(id: String, claim: &str, prediction: serde_json::Value, r: Option<&FitRow>) -> Check {
    Check {
        id,
        claim: claim.into(),
        prediction,
        measured: r.and_then(|r| r.estimate),
        ci_low: r.and_then(|r| r.lo),
        ci_high: r.and_then(|r| r.hi),
        exact: r.and_then(|r| r.exact),
        verdict: NOT_RESOLVABLE.into(),
        note: String::new(),
    }
}

fn unresolved(r: Option<&FitRow>, min_points: u64) -> Option<String> {
    let Some(r) = r else {
        return Some("the fit artifact has no such fit".into());
    };
    if r.n_used < min_points {
        return Some(format!(
            "fewer than {min_points} sweep point(s) are resolvable (excluded by the tail diagnostic or the noise: {})",
            if r.excluded.is_empty() {
                "none"
            } else {
                &r.excluded
            }
        ));
    }
    if r.estimate.is_none() || r.lo.is_none() || r.hi.is_none() {
        return Some("no estimate or interval (non-positive or missing values)".into());
    }
    None
}

fn excluded_note(r: &FitRow) -> String {
    if r.excluded.is_empty() {
        String::new()
    } else {
        format!(" Points excluded as unresolvable: {}.", r.excluded)
    }
}

/// A slope against a numeric prediction (needs two resolvable sweep points), or a mean (one suffices).
pub fn numeric(id: String, claim: &str, pred: f64, r: Option<&FitRow>, what: &str) -> Check {
    let mut c = base(id, claim, serde_json::json!(pred), r);
    let min_points = if r.is_some_and(|r| r.id.contains("_vs_") || r.id.contains("two_term")) {
        2
    } else {
        1
    };
    if let Some(why) = unresolved(r, min_points) {
        c.note = format!("{what}: {why}.");
        return c;
    }
    let r = r.expect("checked");
    let (lo, hi) = (r.lo.expect("checked"), r.hi.expect("checked"));
    if pred != 0.0 && lo <= 0.0 && 0.0 <= hi {
        c.note = format!(
            "{what}: the 95% interval [{lo:.3}, {hi:.3}] contains 0, so the noise cannot decide.{}",
            excluded_note(r)
        );
        return c;
    }
    let inside = lo <= pred && pred <= hi;
    c.verdict = if inside { PASS } else { FAIL }.into();
    c.note = format!(
        "{what}: {:.3} with 95% interval [{lo:.3}, {hi:.3}] {} the prediction {pred}{}.{}",
        r.estimate.expect("checked"),
        if inside { "contains" } else { "excludes" },
        r.exact
            .map(|e| format!(" (exact-value fit {e:.3})"))
            .unwrap_or_default(),
        excluded_note(r)
    );
    c
}

/// A sign claim: `positive` = the claim is that the quantity is > 0.
pub fn sign(id: String, claim: &str, positive: bool, r: Option<&FitRow>, what: &str) -> Check {
    let mut c = base(
        id,
        claim,
        serde_json::json!(if positive { "> 0" } else { "< 0" }),
        r,
    );
    if let Some(why) = unresolved(r, 1) {
        c.note = format!("{what}: {why}.");
        return c;
    }
    let r = r.expect("checked");
    let (lo, hi) = (r.lo.expect("checked"), r.hi.expect("checked"));
    let (agree, disagree) = if positive {
        (lo > 0.0, hi < 0.0)
    } else {
        (hi < 0.0, lo > 0.0)
    };
    c.verdict = if agree {
        PASS
    } else if disagree {
        FAIL
    } else {
        NOT_RESOLVABLE
    }
    .into();
    c.note = format!(
        "{what}: 95% interval [{lo:.4e}, {hi:.4e}]{}{}.{}",
        if !agree && !disagree { " straddles 0" } else { "" },
        r.exact
            .map(|e| format!("; exact value {e:.4e}"))
            .unwrap_or_default(),
        excluded_note(r)
    );
    c
}

/// All checks of one fit artifact.
pub fn checks(fit: &Fit) -> Vec<Check> {
    let t = &fit.tag;
    let d = fit.d;
    let id = |s: &str| format!("{s}[{t}]");
    let mut v = Vec::new();
    match fit.sweep.as_str() {
        "width" => {
            v.push(numeric(
                id("m2_zero"),
                "m_2 is consistent with 0 (K is exact at every N)",
                0.0,
                fit.fit("m2_mean"),
                "signed mean of m_2 over combinations and N",
            ));
            v.push(numeric(
                id("m4_inv_N"),
                "m_4 ~ 1/N",
                -1.0,
                fit.fit("m4_abs_vs_N"),
                "slope of log <|m_4|> vs log N",
            ));
            v.push(two_term(fit, id("m6_two_term")));
            v.push(numeric(
                id("gc4_inv_N"),
                "G_c^(4) ~ 1/N",
                -1.0,
                fit.fit("gc4_abs_vs_N"),
                "slope of log mean |G_c^(4)| vs log N",
            ));
            v.push(numeric(
                id("gc6_inv_N2"),
                "G_c^(6) ~ 1/N^2",
                -2.0,
                fit.fit("gc6_abs_vs_N"),
                "slope of log mean |G_c^(6)| vs log N",
            ));
            v.push(u4_constant_negative(fit, id("u4_constant_negative")));
            v.push(numeric(
                id("u4_inv_N"),
                "u_4 ~ 1/N",
                -1.0,
                fit.fit("u4_abs_vs_N"),
                "slope of log mean |u_4| vs log N (raw field)",
            ));
            if has_u6(fit, "u6_abs_vs_N") {
                v.push(numeric(
                    id("u6_inv_N2"),
                    "u_6 ~ 1/N^2",
                    -2.0,
                    fit.fit("u6_abs_vs_N"),
                    "slope of log mean |u_6| vs log N (raw field)",
                ));
                v.push(sign(
                    id("u6_sign"),
                    "u_6 > 0 (the talk argues it is needed for a stable flow)",
                    true,
                    fit.fit("u6_sign"),
                    "u_6 averaged over combinations and N (raw field)",
                ));
            }
        }
        "sigma_w" => {
            // Every sigma_W range the fit has (whole range first).
            let mut ranges: Vec<String> = fit
                .fits
                .iter()
                .filter_map(|r| r.id.strip_prefix("u4_raw_vs_sigma_w_").map(String::from))
                .collect();
            ranges.sort_by_key(|r| (r != "all", r.clone()));
            for range in &ranges {
                let tag = if range == "all" {
                    "whole range".to_string()
                } else {
                    format!("sigma_W <= {}", range.trim_start_matches("le"))
                };
                let f = |q: &str| fit.fit(&format!("{q}_vs_sigma_w_{range}"));
                v.push(numeric(id(&format!("u4_raw_slope_{range}")), &format!("raw u_4 ~ sigma_W^(d-4) ({tag})"), d - 4.0, f("u4_raw"), "slope of log |u_4| vs log sigma_W, raw field u_4 = -DeltaG^(4)/N_K; follows from the rescaling identity"));
                v.push(numeric(id(&format!("u4_canonical_slope_{range}")), &format!("canonical u_4^phi ~ sigma_W^(4-d) ({tag})"), 4.0 - d, f("u4_canonical"), "slope for the canonical field phi = f_W/a (the talk's sigma_W du_4/dsigma_W = (4-d) u_4)"));
                if has_u6(fit, &format!("u6_raw_vs_sigma_w_{range}")) {
                    v.push(numeric(
                        id(&format!("u6_raw_slope_{range}")),
                        &format!("raw u_6 ~ sigma_W^(d-6) ({tag})"),
                        d - 6.0,
                        f("u6_raw"),
                        "slope of log |u_6| vs log sigma_W, raw field",
                    ));
                    v.push(numeric(
                        id(&format!("u6_canonical_slope_{range}")),
                        &format!("canonical u_6^phi ~ sigma_W^(6-2d) ({tag})"),
                        6.0 - 2.0 * d,
                        f("u6_canonical"),
                        "slope for the canonical field",
                    ));
                }
            }
            if has_u6(fit, "u6_sign") {
                v.push(sign(
                    id("u6_sign"),
                    "u_6 > 0 (the talk argues it is needed)",
                    true,
                    fit.fit("u6_sign"),
                    "u_6 averaged over combinations and sigma_W (raw field)",
                ));
            }
        }
        "cutoff" => {
            v.push(numeric(
                id("relu_lambda_cutoff"),
                "ReLU lambda ~ Lambda^-(d+4) (HMS)",
                -(d + 4.0),
                fit.fit("lambda_vs_cutoff"),
                "slope of log |lambda_HMS| vs log Lambda",
            ));
        }
        _ => {}
    }
    v
}

/// u_6 claims apply where the architecture has the closed-form tree integral (GaussNet) or a value exists; an
/// unresolvable u_6 is reported as such, never dropped.
fn has_u6(fit: &Fit, id: &str) -> bool {
    fit.fit(id)
        .is_some_and(|r| r.estimate.is_some() || fit.arch == "gaussnet")
}

fn two_term(fit: &Fit, id: String) -> Check {
    let (a, b) = (fit.fit("m6_two_term_a"), fit.fit("m6_two_term_b"));
    let mut c = base(
        id,
        "m_6 = a/N + b/N^2 (exact two-term form)",
        serde_json::json!("a, b of the exact values"),
        a,
    );
    if let Some(why) = unresolved(a, 2).or_else(|| unresolved(b, 2)) {
        c.note = format!("two-term fit of <m_6>: {why}.");
        return c;
    }
    let (a, b) = (a.expect("checked"), b.expect("checked"));
    let (Some(ea), Some(eb)) = (a.exact, b.exact) else {
        c.note = "no exact values to compare the two-term fit with.".into();
        return c;
    };
    let ina = a.lo.expect("checked") <= ea && ea <= a.hi.expect("checked");
    let inb = b.lo.expect("checked") <= eb && eb <= b.hi.expect("checked");
    c.prediction = serde_json::json!({"a": ea, "b": eb});
    let straddles = |r: &FitRow| r.lo.expect("checked") <= 0.0 && 0.0 <= r.hi.expect("checked");
    c.verdict = if !(ina && inb) {
        FAIL
    } else if straddles(a) || straddles(b) {
        NOT_RESOLVABLE
    } else {
        PASS
    }
    .into();
    c.note = format!(
        "<m_6> = a/N + b/N^2: a = {:.4} [{:.4}, {:.4}] (exact {ea:.4}), b = {:.4} [{:.4}, {:.4}] (exact {eb:.4}).{}",
        a.estimate.unwrap_or(f64::NAN),
        a.lo.unwrap_or(f64::NAN),
        a.hi.unwrap_or(f64::NAN),
        b.estimate.unwrap_or(f64::NAN),
        b.lo.unwrap_or(f64::NAN),
        b.hi.unwrap_or(f64::NAN),
        excluded_note(a)
    );
    c
}

fn u4_constant_negative(fit: &Fit, id: String) -> Check {
    let (s, spread) = (fit.fit("u4_sign"), fit.fit("u4_spread"));
    let mut c = sign(
        id,
        "u_4 is constant over combinations and negative",
        false,
        s,
        "u_4 averaged over combinations and N",
    );
    if c.verdict != PASS {
        return c;
    }
    match spread.and_then(|r| Some((r.estimate?, r.lo?, r.hi?))) {
        Some((e, lo, hi)) if hi <= U4_SPREAD_MAX => {
            c.note += &format!(
                " Relative spread over combinations {e:.4} (95% [{lo:.4}, {hi:.4}]) <= {U4_SPREAD_MAX}."
            )
        }
        Some((e, lo, _)) if lo > U4_SPREAD_MAX => {
            c.verdict = FAIL.into();
            c.note += &format!(
                " But the relative spread over combinations is {e:.4} > {U4_SPREAD_MAX}: not constant."
            );
        }
        _ => {
            c.verdict = NOT_RESOLVABLE.into();
            c.note += " The spread over combinations is not resolved.";
        }
    }
    c
}
