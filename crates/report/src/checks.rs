//! One machine-readable verdict per claim (DESIGN.md "report" contract; PHYSICS.md 6-8 on what may be claimed).
//!
//! Rules for a numeric claim (a slope, a mean), in this order:
//! - `not_resolvable` when the fit has no estimate or no interval, or fewer sweep points survived the tail rule
//!   and the noise floor than the fit needs (two for a slope or a two-term fit, one for a mean);
//! - `not_resolvable` when the 95% interval contains both the prediction and the alternative (0: no scaling,
//!   for a non-zero predicted exponent): only then can the data not decide;
//! - `pass` when the prediction lies in the interval, `fail` otherwise (also when the interval contains 0 but
//!   not the prediction).
//!
//! Sign claims pass when the whole interval has the predicted sign, fail when it has the opposite sign, and
//! are not resolvable when it straddles 0.
//!
//! A claim whose 95% interval has zero width (relative width under [`DATA_INDEPENDENT_REL`]) is not decided by
//! the data at all (e.g. the ReLU cutoff exponent, fixed by the kernel's growth): it is reported as a
//! consistency check ([`Consistency`]), never as a verdict.
//!
//! Claims that re-express one measured number share a `group` (the id of the group's first claim); the report
//! counts groups. Where the fit has both estimators of the Green functions (PHYSICS.md 9), a claim is decided by
//! the conditional-Gaussian one and the products estimator's verdict is shown beside it in the same group (id
//! suffix `/products`): one measured quantity, one result. A group's verdict is `fail` if any member fails, else
//! `not_resolvable` if any member from the first member's estimator is, else `pass`. `exact_verdict` applies the claim to the exact value of the same fit, where the architecture has one.

use crate::data::{Estimator, Fit, FitId, FitRow, PointRow, Quantity, Reason, Sweep};
use nnqft_contract::fit::{Coupling, Norm, Range};
use nnqft_contract::predict::{
    self, CUTOFF_CLAIMS, Claim, SIGMA_W_CLAIMS, SIGMA_W_FAMILIES, Test, WIDTH_CLAIMS, WIDTH_CLAIMS_8,
};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    pub id: String,
    /// The claim, with `$...$` formulas (see [`crate::math`]); written without the dollars.
    #[serde(serialize_with = "plain_text")]
    pub claim: String,
    pub prediction: serde_json::Value,
    pub measured: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub exact: Option<f64>,
    pub verdict: Verdict,
    /// What the exact theory says of the claim (`pass` or `fail`), where the fit has an exact value.
    pub exact_verdict: Option<Verdict>,
    /// Claims that re-express one measured number share a group (so do the estimators of one claim).
    pub group: String,
    /// The estimator of the Green functions the measured number comes from (`conditional` or `products`), where
    /// the fit says.
    pub estimator: Option<&'static str>,
    pub note: String,
    /// Why the exact theory contradicts the claim, where it is not simply the exact value (HTML and Markdown).
    #[serde(skip)]
    pub exact_reason: String,
    /// Why the number is fixed by construction if the bootstrap does not move it (from the claim), or empty.
    #[serde(skip)]
    pub fixed_by: &'static str,
}

fn plain_text<S: Serializer>(s: &str, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&crate::math::plain(s))
}

/// A statement the data cannot contradict, shown with its figure but given no verdict.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Consistency {
    pub id: String,
    #[serde(serialize_with = "plain_text")]
    pub claim: String,
    pub measured: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub exact: Option<f64>,
    pub note: String,
}

/// The outcome of a claim (`pass`, `fail` or `not_resolvable` in checks.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The prediction lies in the 95% interval (or the interval has the predicted sign).
    Pass,
    /// It does not.
    Fail,
    /// The data cannot decide (too few resolvable points, or the interval holds the prediction and the alternative).
    NotResolvable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotResolvable => "not_resolvable",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verdict equals its name in checks.json.
impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Largest relative spread of u_4 over combinations that still counts as "constant" (locality).
pub const U4_SPREAD_MAX: f64 = 0.05;
/// Largest distance between the exact value of a fitted exponent (or dimensionless mean) and its prediction
/// for which the exact theory agrees with the claim: the predictions are asymptotic (local limit), and the exact
/// values at the sweep points carry corrections of order sigma_W^2 |x|^2.
pub const EXACT_TOL: f64 = 0.01;
/// Relative width of a 95% interval under which the bootstrap over bags did not move the number: the claim is
/// fixed by construction, not by the data.
pub const DATA_INDEPENDENT_REL: f64 = 1e-9;

fn base(id: String, claim: &str, prediction: serde_json::Value, r: Option<&FitRow>) -> Check {
    Check {
        group: id.clone(),
        estimator: r.map(|r| r.estimator.name()),
        id,
        claim: claim.into(),
        prediction,
        measured: r.and_then(|r| r.estimate),
        ci_low: r.and_then(|r| r.lo),
        ci_high: r.and_then(|r| r.hi),
        exact: r.and_then(|r| r.exact),
        verdict: Verdict::NotResolvable,
        exact_verdict: None,
        note: String::new(),
        exact_reason: String::new(),
        fixed_by: "",
    }
}

fn unresolved(r: Option<&FitRow>) -> Option<String> {
    let Some(r) = r else {
        return Some("the fit artifact has no such fit".into());
    };
    let need = r.kind.min_points();
    if r.n_used < need {
        let ex = if r.excluded.is_empty() {
            "none listed".to_string()
        } else {
            r.excluded.clone()
        };
        return Some(if r.n_used == 0 {
            format!("no sweep point is resolvable (excluded: {ex})")
        } else {
            format!(
                "only {} sweep point is resolvable and this fit needs {need} (excluded: {ex})",
                r.n_used
            )
        });
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
        format!(" Points excluded: {}.", r.excluded)
    }
}

/// A slope or a mean against a numeric prediction (the alternative is 0 for a non-zero prediction).
pub fn numeric(id: String, claim: &str, pred: f64, r: Option<&FitRow>, what: &str) -> Check {
    let mut c = base(id, claim, serde_json::json!(pred), r);
    c.exact_verdict = c.exact.map(|e| {
        if (e - pred).abs() <= EXACT_TOL {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    });
    if let Some(why) = unresolved(r) {
        c.note = format!("{what}: {why}.");
        return c;
    }
    let r = r.expect("checked");
    let (lo, hi) = (r.lo.expect("checked"), r.hi.expect("checked"));
    let inside = lo <= pred && pred <= hi;
    let exact = r
        .exact
        .map(|e| format!(" (exact-value fit {e:.3})"))
        .unwrap_or_default();
    if inside && pred != 0.0 && lo <= 0.0 && 0.0 <= hi {
        c.note = format!(
            "{what}: the 95% interval [{lo:.3}, {hi:.3}] contains both the prediction {pred} and 0 (no scaling), so the data cannot decide{exact}.{}",
            excluded_note(r)
        );
        return c;
    }
    c.verdict = if inside { Verdict::Pass } else { Verdict::Fail };
    c.note = format!(
        "{what}: {:.3} with 95% interval [{lo:.3}, {hi:.3}] {} the prediction {pred}{exact}.{}",
        r.estimate.expect("checked"),
        if inside { "contains" } else { "excludes" },
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
    c.exact_verdict = c.exact.map(|e| {
        if (e > 0.0) == positive && e != 0.0 {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    });
    let exact = r
        .and_then(|r| r.exact)
        .map(|e| format!("; exact value {e:.4e}"))
        .unwrap_or_default();
    if let Some(why) = unresolved(r) {
        c.note = format!("{what}: {why}{exact}.");
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
        Verdict::Pass
    } else if disagree {
        Verdict::Fail
    } else {
        Verdict::NotResolvable
    };
    c.note = format!(
        "{what}: 95% interval [{lo:.4e}, {hi:.4e}]{}{exact}.{}",
        if !agree && !disagree { " straddles 0" } else { "" },
        excluded_note(r)
    );
    c
}

/// The verdicts and consistency checks of one fit artifact.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    pub checks: Vec<Check>,
    pub consistency: Vec<Consistency>,
}

/// The verdicts of one fit artifact (without the consistency checks).
pub fn checks(fit: &Fit) -> Vec<Check> {
    assess(fit).checks
}

/// The tail diagnostics of a point that decided the tail rule, e.g. "ESS 45.0 < 100" (PHYSICS.md 8: the
/// smallest effective sample size over the combinations, and for GaussNet the hidden units drawn over
/// exp(n^2 s_max / 2)): each diagnostic the point has, with `<` where it fails its threshold; None where the
/// point has none.
pub fn tail_numbers(p: &PointRow) -> Option<String> {
    let mut v = vec![];
    if let (Some(e), Some(m)) = (p.ess, p.ess_min) {
        v.push(format!(
            "ESS {} {} {}",
            sig(e),
            if e < m { "<" } else { ">=" },
            sig(m)
        ));
    }
    if let (Some(r), Some(m)) = (p.tail_ratio, p.tail_min) {
        v.push(format!(
            "hidden units / exp(n^2 s_max/2) {} {} {}",
            sig(r),
            if r < m { "<" } else { ">=" },
            sig(m)
        ));
    }
    (!v.is_empty()).then(|| v.join(", "))
}

/// Three significant digits (no fewer integer digits), scientific beyond 1e5 and below 1e-2.
fn sig(v: f64) -> String {
    if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-2) {
        format!("{v:.2e}")
    } else {
        let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    }
}

/// Why a quantity at one sweep point is not resolvable, with the numbers that decided it: the tail diagnostics
/// where the tail rule fails, else the 95% interval of the signed average behind the noise floor where it holds
/// 0; then the estimate, its interval and the exact value.
pub fn point_reason(fit: &Fit, q: Quantity, x: f64) -> String {
    let var = fit.sweep.variable();
    let e = fit.series(q).first().map_or(fit.primary(), |p| p.estimator);
    let Some(p) = fit.point(q, x, e) else {
        return format!("the fit has no {q} at {var} = {x}");
    };
    let tail_fails = p.ess.zip(p.ess_min).is_some_and(|(e, m)| e < m)
        || p.tail_ratio.zip(p.tail_min).is_some_and(|(r, m)| r < m);
    let companion = q
        .signed_companion()
        .and_then(|c| fit.point(c, x, e))
        .and_then(|c| Some((c.quantity, c.lo?, c.hi?)));
    let why = if tail_fails {
        format!(
            "the tail rule excludes it ({})",
            tail_numbers(p).unwrap_or_default()
        )
    } else if let Some((c, lo, hi)) = companion.filter(|(_, lo, hi)| *lo <= 0.0 && 0.0 <= *hi) {
        format!("noise: the 95% interval [{lo:.3e}, {hi:.3e}] of {c} contains 0")
    } else if p.resolvable {
        "it is resolvable".into()
    } else {
        match tail_numbers(p) {
            Some(t) => format!("the fit marks it unresolvable ({t})"),
            None => "the fit marks it unresolvable".into(),
        }
    };
    let est = match (p.lo, p.hi) {
        (Some(lo), Some(hi)) => format!("{:.3e}, 95% interval [{lo:.3e}, {hi:.3e}]", p.y),
        _ => format!("{:.3e}, no interval", p.y),
    };
    let exact = p.exact.map(|e| format!(", exact {e:.3e}")).unwrap_or_default();
    format!("{why}; estimate {est}{exact}")
}

/// A copy of a fit row whose `excluded` text says, point by point, what excluded it (the fit's structured
/// exclusions) and the numbers that did: the tail rule with the point's tail diagnostics, or the noise floor with
/// the interval of the signed quantity that contains 0.
fn detailed(fit: &Fit, r: Option<&FitRow>) -> Option<FitRow> {
    let mut r = r?.clone();
    if r.exclusions.is_empty() {
        return Some(r);
    }
    let var = fit.sweep.variable();
    let (mut tail, mut parts) = (vec![], vec![]);
    for e in &r.exclusions {
        let x = e.x;
        let point = |q: Quantity| fit.point(q, x, r.estimator);
        match e.reason {
            Reason::Tail => tail.push(match point(r.quantity).and_then(tail_numbers) {
                Some(t) => format!("{x} ({t})"),
                None => x.to_string(),
            }),
            Reason::Noise => {
                let ci = r
                    .quantity
                    .signed_companion()
                    .and_then(point)
                    .and_then(|p| Some((p.lo?, p.hi?)));
                parts.push(match ci {
                    Some((lo, hi)) => format!(
                        "{var} = {x} as noise (the 95% interval [{lo:.3e}, {hi:.3e}] of its signed average contains 0)"
                    ),
                    None => format!("{var} = {x} as noise (its signed average's interval contains 0)"),
                });
            }
        }
    }
    if !tail.is_empty() {
        parts.insert(0, format!("{var} = {} by the tail rule", tail.join(", ")));
    }
    r.excluded = parts.join("; ");
    Some(r)
}

/// The verdicts of one claim of [`predict`] on a fit artifact (none where it does not apply): the primary
/// estimator's first, then each other estimator's in the same group, with `/<estimator>` after the id.
fn claim(fit: &Fit, c: &Claim) -> Vec<Check> {
    if c.needs_u6 && !has_u6(fit, c.fit) {
        return vec![];
    }
    let primary = fit.fit(c.fit).map_or(fit.primary(), |r| r.estimator);
    let first = claim_of(fit, c, primary, format!("{}[{}]", c.check, fit.tag));
    let mut out = vec![];
    for r in fit.others(c.fit, primary) {
        let mut other = claim_of(
            fit,
            c,
            r.estimator,
            format!("{}[{}]/{}", c.check, fit.tag, r.estimator),
        );
        other.group = first.group.clone();
        out.push(other);
    }
    out.insert(0, first);
    out
}

/// The verdict of one claim from one estimator's fit.
fn claim_of(fit: &Fit, c: &Claim, e: Estimator, id: String) -> Check {
    let row = detailed(fit, fit.fit_of(c.fit, e));
    let mut check = match c.test {
        Test::Value => {
            let pred = predict::predicted(c.fit, fit.d).expect("a value claim has a prediction");
            numeric(id, c.text, pred, row.as_ref(), c.what)
        }
        Test::Positive => sign(id, c.text, true, row.as_ref(), c.what),
        Test::TwoTerm => two_term(fit, id, c, e),
        Test::ConstantNegative => u4_constant_negative(fit, id, c, e),
    };
    check.estimator = Some(e.name());
    // A width sweep's mean claim on another sweep averages over that sweep, not over N.
    if fit.sweep.generic() {
        check.note = check
            .note
            .replace(" and N", &format!(" and {}", fit.sweep.variable()));
    }
    if let Some(g) = c.group {
        check.group = format!("{g}[{}]", fit.tag);
    }
    check.fixed_by = c.fixed_by;
    check
}

/// All verdicts and consistency checks of one fit artifact.
pub fn assess(fit: &Fit) -> Assessment {
    let t = &fit.tag;
    let id = |s: &str| format!("{s}[{t}]");
    let mut v = Vec::new();
    let mut consistency = Vec::new();
    let claims = |set: &[Claim]| -> Vec<Check> { set.iter().flat_map(|c| claim(fit, c)).collect() };
    match fit.sweep {
        Sweep::Width => {
            v.extend(claims(WIDTH_CLAIMS));
            // The eight-point claim where the moments went up to eight points.
            if fit.points.iter().any(|p| p.quantity == Quantity::Gc8Mean) {
                v.extend(claims(WIDTH_CLAIMS_8));
            }
        }
        Sweep::SigmaW => {
            // Every sigma_W range the fit has (whole range first). Ranges whose fits use the same sweep points
            // are one fit, and the canonical slope is the raw slope plus 2(4-d) (or 3(6-2d)/...): one group.
            let mut ranges: Vec<Range> = fit
                .fits
                .iter()
                .filter_map(|r| match r.id {
                    FitId::VsSigmaW {
                        coupling: Coupling::U4,
                        norm: Norm::Raw,
                        range,
                    } => Some(range),
                    _ => None,
                })
                .collect();
            ranges.sort_by_key(|r| (*r != Range::All, r.tag()));
            // One entry per range (each estimator has its own rows).
            ranges.dedup();
            let mut groups: Vec<(Coupling, Vec<u64>, String)> = vec![];
            let mut group_of = |family: Coupling, r: Option<&FitRow>, this: &str| -> String {
                let key = used_points(fit, r);
                if let Some(g) = groups.iter().find(|g| g.0 == family && g.1 == key) {
                    return g.2.clone();
                }
                groups.push((family, key, this.into()));
                this.into()
            };
            // Family by family (all u_4 claims, then all u_6 ones), so that each family's groups stay together.
            for family in SIGMA_W_FAMILIES {
                let q = family.coupling.name();
                for &range in &ranges {
                    let fit_id = |norm| FitId::VsSigmaW {
                        coupling: family.coupling,
                        norm,
                        range,
                    };
                    if family.coupling == Coupling::U6 && !has_u6(fit, fit_id(Norm::Raw)) {
                        continue;
                    }
                    let tag = match range {
                        Range::All => "whole range".to_string(),
                        Range::UpTo(x) => format!("$sigma_W <= {x}$"),
                    };
                    let rt = range.tag();
                    let raw_id = id(&format!("{q}_raw_slope_{rt}"));
                    let g = group_of(family.coupling, fit.fit(fit_id(Norm::Raw)), &raw_id);
                    let primary = fit.fit(fit_id(Norm::Raw)).map_or(fit.primary(), |r| r.estimator);
                    let mut estimators = vec![primary];
                    estimators.extend(fit.others(fit_id(Norm::Raw), primary).iter().map(|r| r.estimator));
                    for e in estimators {
                        let suffix = if e == primary {
                            String::new()
                        } else {
                            format!("/{e}")
                        };
                        for (cid, (claim, what), norm) in [
                            (raw_id.clone(), family.raw, Norm::Raw),
                            (
                                id(&format!("{q}_canonical_slope_{rt}")),
                                family.canonical,
                                Norm::Canonical,
                            ),
                        ] {
                            let pred = predict::predicted(fit_id(norm), fit.d)
                                .expect("a sigma_W slope has a prediction");
                            let row = detailed(fit, fit.fit_of(fit_id(norm), e));
                            let mut c = numeric(
                                cid + &suffix,
                                &format!("{claim} ({tag})"),
                                pred,
                                row.as_ref(),
                                what,
                            );
                            c.group = g.clone();
                            c.estimator = Some(e.name());
                            v.push(c);
                        }
                    }
                }
            }
            v.extend(claims(SIGMA_W_CLAIMS));
        }
        Sweep::Cutoff => v.extend(claims(CUTOFF_CLAIMS)),
        Sweep::None => {}
        #[allow(unreachable_patterns)]
        _ => v.extend(generic(fit)),
    }
    // Claims the bootstrap cannot move are consistency checks, not verdicts.
    v.retain(|c| {
        let fixed = match (c.measured, c.ci_low, c.ci_high) {
            (Some(m), Some(lo), Some(hi)) => {
                (hi - lo).abs() <= DATA_INDEPENDENT_REL * m.abs().max(f64::MIN_POSITIVE)
            }
            _ => false,
        };
        // Another estimator's copy of a claim fixed by construction is the same statement: listed once.
        let listed = consistency
            .iter()
            .any(|k: &Consistency| base_id(&k.id) == base_id(&c.id));
        if fixed && !listed {
            consistency.push(Consistency {
                id: c.id.clone(),
                claim: c.claim.clone(),
                measured: c.measured,
                ci_low: c.ci_low,
                ci_high: c.ci_high,
                exact: c.exact,
                note: format!(
                    "The 95% bootstrap interval [{:.6}, {:.6}] has zero width: resampling the bags does not move this number, so it is fixed by construction{}, not measured. Not a verdict; the data are consistent with it by construction.",
                    c.ci_low.unwrap_or(f64::NAN),
                    c.ci_high.unwrap_or(f64::NAN),
                    if c.fixed_by.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.fixed_by)
                    }
                ),
            });
        }
        !fixed
    });
    Assessment {
        checks: v,
        consistency,
    }
}

/// The claims of a sweep over any other parameter (sigma_b, d, depth, widths, d_out): the claims of a width
/// sweep that are means over the sweep rather than slopes in N (m_2 = 0, u_4 constant and negative, u_6 > 0),
/// where the fit has them, and every other fitted number for which the fit has a prediction, by the numeric
/// rule (each its own group: outside a width sweep m_4, G_c^(4) and u_4 are not one number, since G_0 and N_K
/// vary with the swept parameter).
pub fn generic(fit: &Fit) -> Vec<Check> {
    let var = fit.sweep.variable();
    let means = WIDTH_CLAIMS
        .iter()
        .filter(|c| c.fit.kind() == nnqft_contract::fit::FitKind::Mean && fit.fit(c.fit).is_some())
        .flat_map(|c| claim(fit, c));
    let covered: Vec<FitId> = WIDTH_CLAIMS
        .iter()
        .filter(|c| c.fit.kind() == nnqft_contract::fit::FitKind::Mean)
        .map(|c| c.fit)
        .collect();
    let predicted = fit
        .fits
        .iter()
        .filter(|r| !covered.contains(&r.id))
        .filter_map(|r| {
            let pred = r.predicted?;
            let q = r.quantity;
            let (claim, what) = match r.kind {
                nnqft_contract::fit::FitKind::Slope => (
                    format!("{} ~ ${var}^({pred})$", q.description()),
                    format!("slope of log |{q}| vs log {var}"),
                ),
                nnqft_contract::fit::FitKind::Mean => (
                    format!("{} = {pred}", q.description()),
                    format!("{q} averaged over the sweep"),
                ),
                _ => return None,
            };
            let row = detailed(fit, Some(r));
            let group = format!("{}[{}]", r.id, fit.tag);
            let id = if r.estimator == fit.primary() {
                group.clone()
            } else {
                format!("{group}/{}", r.estimator)
            };
            let mut c = numeric(id, &claim, pred, row.as_ref(), &what);
            c.group = group;
            Some(c)
        });
    means.chain(predicted).collect()
}

/// A check id without its estimator suffix (`m4_inv_N[tag]/products` -> `m4_inv_N[tag]`).
pub fn base_id(id: &str) -> &str {
    match id.find("]/") {
        Some(i) => &id[..=i],
        None => id,
    }
}

/// The sweep points a fit used, as bit patterns (to tell whether two fits are the same fit).
fn used_points(fit: &Fit, r: Option<&FitRow>) -> Vec<u64> {
    let Some(r) = r else { return vec![] };
    let mut xs: Vec<u64> = fit.used(r).iter().map(|p| p.x.to_bits()).collect();
    xs.sort_unstable();
    xs.dedup();
    xs
}

/// u_6 claims apply where the architecture has the closed-form tree integral (GaussNet) or a value exists; an
/// unresolvable u_6 is reported as such, never dropped.
fn has_u6(fit: &Fit, id: FitId) -> bool {
    fit.fits
        .iter()
        .any(|r| r.id == id && (r.estimate.is_some() || fit.arch == "gaussnet"))
}

fn two_term(fit: &Fit, id: String, claim: &Claim, e: Estimator) -> Check {
    let (a, b) = (
        detailed(fit, fit.fit_of(FitId::M6TwoTermA, e)),
        detailed(fit, fit.fit_of(FitId::M6TwoTermB, e)),
    );
    let (a, b) = (a.as_ref(), b.as_ref());
    let mut c = base(id, claim.text, serde_json::json!("a, b of the exact values"), a);
    let (Some(ea), Some(eb)) = (a.and_then(|r| r.exact), b.and_then(|r| r.exact)) else {
        c.note = "no exact values to compare the two-term fit with.".into();
        return c;
    };
    // The exact m_6 is a/N + b/N^2 by construction (PHYSICS.md 4).
    c.exact_verdict = Some(Verdict::Pass);
    c.prediction = serde_json::json!({"a": ea, "b": eb});
    if let Some(why) = unresolved(a).or_else(|| unresolved(b)) {
        c.note = format!("{}: {why}.", claim.what);
        return c;
    }
    let (a, b) = (a.expect("checked"), b.expect("checked"));
    let (alo, ahi, blo, bhi) = (
        a.lo.expect("checked"),
        a.hi.expect("checked"),
        b.lo.expect("checked"),
        b.hi.expect("checked"),
    );
    let ina = alo <= ea && ea <= ahi;
    let inb = blo <= eb && eb <= bhi;
    // The alternative of each coefficient is 0 (no such term); undecided only where an interval holds both.
    let undecided =
        (ina && alo <= 0.0 && 0.0 <= ahi && ea != 0.0) || (inb && blo <= 0.0 && 0.0 <= bhi && eb != 0.0);
    c.verdict = if !(ina && inb) {
        Verdict::Fail
    } else if undecided {
        Verdict::NotResolvable
    } else {
        Verdict::Pass
    };
    c.note = format!(
        "<m_6> = a/N + b/N^2: a = {:.4} [{alo:.4}, {ahi:.4}] (exact {ea:.4}), b = {:.4} [{blo:.4}, {bhi:.4}] (exact {eb:.4}){}.{}",
        a.estimate.unwrap_or(f64::NAN),
        b.estimate.unwrap_or(f64::NAN),
        if undecided {
            "; an interval that holds its exact coefficient also holds 0, so the data cannot decide"
        } else {
            ""
        },
        excluded_note(a)
    );
    c
}

fn u4_constant_negative(fit: &Fit, id: String, claim: &Claim, e: Estimator) -> Check {
    let (s, spread) = (
        detailed(fit, fit.fit_of(claim.fit, e)),
        fit.fit_of(FitId::U4Spread, e),
    );
    let mut c = sign(id, claim.text, false, s.as_ref(), claim.what);
    let exact_spread = spread.and_then(|r| r.exact);
    c.exact_verdict = match (c.exact_verdict, exact_spread) {
        (Some(Verdict::Pass), Some(e)) if e <= U4_SPREAD_MAX => Some(Verdict::Pass),
        (Some(Verdict::Pass), Some(e)) => {
            c.exact_reason = format!(
                "the exact u_4 is negative, but its relative spread over combinations is {e:.4} > {U4_SPREAD_MAX}: not constant"
            );
            Some(Verdict::Fail)
        }
        (Some(_), Some(_)) => Some(Verdict::Fail),
        _ => None,
    };
    if c.verdict != Verdict::Pass {
        return c;
    }
    match spread.and_then(|r| Some((r.estimate?, r.lo?, r.hi?))) {
        Some((e, lo, hi)) if hi <= U4_SPREAD_MAX => {
            c.note += &format!(
                " Relative spread over combinations {e:.4} (95% [{lo:.4}, {hi:.4}]) <= {U4_SPREAD_MAX}."
            )
        }
        Some((e, lo, _)) if lo > U4_SPREAD_MAX => {
            c.verdict = Verdict::Fail;
            c.note += &format!(
                " But the relative spread over combinations is {e:.4} (95% lower end {lo:.4}) > {U4_SPREAD_MAX}: not constant."
            );
        }
        Some((e, lo, hi)) => {
            c.verdict = Verdict::NotResolvable;
            c.note += &format!(
                " The relative spread over combinations {e:.4} has the 95% interval [{lo:.4}, {hi:.4}], which contains the threshold {U4_SPREAD_MAX}."
            );
        }
        None => {
            c.verdict = Verdict::NotResolvable;
            c.note += " The spread over combinations has no interval.";
        }
    }
    c
}

/// One group of claims that re-express one measured number.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub id: &'a str,
    pub members: Vec<&'a Check>,
    pub verdict: Verdict,
}

/// Checks gathered by group, in order of first appearance.
pub fn groups(checks: &[Check]) -> Vec<Group<'_>> {
    let mut out: Vec<Group> = vec![];
    for c in checks {
        match out.iter_mut().find(|g| g.id == c.group) {
            Some(g) => g.members.push(c),
            None => out.push(Group {
                id: &c.group,
                members: vec![c],
                verdict: Verdict::Pass,
            }),
        }
    }
    for g in &mut out {
        // The first member's estimator decides what the data cannot resolve; another estimator's numbers are
        // shown beside and fail the group if they refute the claim.
        let primary = g.members[0].estimator;
        g.verdict = if g.members.iter().any(|c| c.verdict == Verdict::Fail) {
            Verdict::Fail
        } else if g
            .members
            .iter()
            .any(|c| c.estimator == primary && c.verdict == Verdict::NotResolvable)
        {
            Verdict::NotResolvable
        } else {
            Verdict::Pass
        };
    }
    out
}
