//! The report's figures, built from the fit and flow artifacts: what is drawn, with which line, and the
//! caption (captions that describe data are computed from it, e.g. [`histogram_caption`]).

use crate::checks::{Consistency, U4_SPREAD_MAX};
use crate::data::{
    ActiveRow, Estimator, Fit, FitId, FitRow, Flow, Origin, PointRow, Quantity, Start, Trajectory,
};
use crate::plots::{
    Axis, GREY, PALETTE, Panel, Pt, Scale, Series, Style, figure, histogram_panel, symlog_threshold,
};
use nnqft_contract::fit::{Coupling, Norm, Range, WidthSlope};
use nnqft_contract::predict::predicted;

/// Colour of exact values.
pub const EXACT: &str = "#222222";
const MEASURED: &str = PALETTE[0];
const FITTED: &str = PALETTE[1];
const PREDICTED: &str = PALETTE[2];
const BACKGROUND: &str = PALETTE[4];
/// Legend label of estimates excluded from fits.
pub const UNRESOLVABLE: &str = "unresolvable (tail rule or noise; not fitted)";
/// Relative agreement of a recomputed least-squares slope with the fit's, for the fitted line to be drawn.
const SLOPE_AGREEMENT: f64 = 1e-6;

/// One numbered figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub number: usize,
    /// The section (dataset) it belongs to.
    pub section: String,
    /// Title with the plot markup (`_x`, `^x`).
    pub title: String,
    pub svg: String,
    /// Caption with `$...$` formulas.
    pub caption: String,
}

impl Figure {
    /// File stem of the figure's own SVG and PNG files.
    pub fn stem(&self) -> String {
        format!("fig{:02}", self.number)
    }
}

/// Collects figures and numbers them in order.
#[derive(Debug, Default)]
pub struct Figures {
    pub list: Vec<Figure>,
}

impl Figures {
    pub fn add(&mut self, section: &str, title: &str, panels: &[Panel], caption: String) {
        let number = self.list.len() + 1;
        self.list.push(Figure {
            number,
            section: section.into(),
            title: title.into(),
            svg: figure(&format!("fig{number}"), title, panels),
            caption,
        });
    }
}

/// A series of points with its legend label, line style and colour.
pub(crate) fn series(label: &str, style: Style, color: &'static str, pts: Vec<Pt>) -> Series {
    Series {
        label: label.into(),
        style,
        color,
        pts,
    }
}

/// The interval of |x| given the interval [lo, hi] of x.
pub fn abs_interval(lo: f64, hi: f64) -> (f64, f64) {
    if lo <= 0.0 && hi >= 0.0 {
        (0.0, lo.abs().max(hi.abs()))
    } else {
        (lo.abs().min(hi.abs()), lo.abs().max(hi.abs()))
    }
}

fn pts(rows: &[&PointRow]) -> Vec<Pt> {
    rows.iter()
        .map(|p| {
            (
                p.x,
                p.y.abs(),
                p.lo.zip(p.hi).map(|(lo, hi)| abs_interval(lo, hi)),
            )
        })
        .collect()
}

/// Measured points: resolvable ones in colour, unresolvable ones in grey (excluded from fits).
fn measured(label: &str, color: &'static str, rows: &[&PointRow]) -> Vec<Series> {
    let (good, bad): (Vec<&PointRow>, Vec<&PointRow>) = rows.iter().partition(|p| p.resolvable);
    vec![
        series(label, Style::Points, color, pts(&good)),
        series(UNRESOLVABLE, Style::Points, GREY, pts(&bad)),
    ]
}

fn exact_line(rows: &[&PointRow]) -> Series {
    series(
        "exact",
        Style::Line,
        EXACT,
        rows.iter()
            .filter_map(|p| p.exact.map(|e| (p.x, e.abs(), None)))
            .collect(),
    )
}

/// Least-squares slope of ln y on ln x.
fn ols_slope(lx: &[f64], ly: &[f64]) -> Option<f64> {
    let n = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = lx.iter().zip(ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The points a log-log fit used (resolvable, within its range), as (ln x, ln |y|).
fn fit_points(f: &Fit, r: &FitRow) -> (Vec<f64>, Vec<f64>) {
    f.used(r)
        .into_iter()
        .filter(|p| p.y != 0.0 && p.x > 0.0)
        .map(|p| (p.x.ln(), p.y.abs().ln()))
        .unzip()
}

/// A power law y = e^a x^slope over the range of the points a fit used, with the least-squares intercept a for
/// that slope: with the fit's own slope this is the fitted line (drawn only when the slope recomputed from the
/// same points agrees with the fit's); with a predicted slope, the prediction normalised to the data.
pub fn power_line(f: &Fit, r: &FitRow, slope: f64, must_match_fit: bool) -> Option<Vec<Pt>> {
    let (lx, ly) = fit_points(f, r);
    if lx.len() < 2 {
        return None;
    }
    if must_match_fit {
        let s = ols_slope(&lx, &ly)?;
        if (s - slope).abs() > SLOPE_AGREEMENT * slope.abs().max(1.0) {
            return None;
        }
    }
    let n = lx.len() as f64;
    let a = ly.iter().sum::<f64>() / n - slope * lx.iter().sum::<f64>() / n;
    let (x0, x1) = lx.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(p, q), &x| {
        (p.min(x), q.max(x))
    });
    Some(
        [x0, x1]
            .iter()
            .map(|&x| (x.exp(), (a + slope * x).exp(), None))
            .collect(),
    )
}

/// Fitted and predicted lines of a slope fit (those that can be drawn).
fn fit_lines(f: &Fit, id: FitId, predicted: Option<f64>) -> Vec<Series> {
    let Some(r) = f.fit(id) else { return vec![] };
    let mut v = vec![];
    if let Some((s, l)) = r.estimate.and_then(|s| Some((s, power_line(f, r, s, true)?))) {
        v.push(series(
            &format!("fit: slope {}", signed(s, 2)),
            Style::Line,
            FITTED,
            l,
        ));
    }
    if let Some((p, l)) = predicted.and_then(|p| Some((p, power_line(f, r, p, false)?))) {
        v.push(series(
            &format!("prediction: slope {} (normalised to the data)", signed(p, 0)),
            Style::Dashed,
            PREDICTED,
            l,
        ));
    }
    v
}

fn signed(v: f64, dec: usize) -> String {
    format!("{v:.dec$}").replace('-', "\u{2212}")
}

/// Median of a slice (NaN when empty).
fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Largest difference (percent of the largest) between the exact medians of the widths for which they count as
/// the same value in a histogram's caption.
pub const EXACT_SAME_PERCENT: f64 = 1.0;

/// Largest spread of one group, as a fraction of the whole histogram's range, under which each group is called
/// a spike.
pub const SPIKE_FRACTION: f64 = 0.05;

/// The caption of a histogram of N m_n over combinations at several widths, stating what the data show:
/// the medians (and exact medians), whether the widths' ranges overlap ("on top of each other", as the exact
/// 1/N law predicts), and whether each width is a narrow spike. `groups`: (N, values of N m_n, exact values).
pub fn histogram_caption(n: u64, label: &str, groups: &[(f64, Vec<f64>, Vec<f64>)]) -> String {
    let groups: Vec<&(f64, Vec<f64>, Vec<f64>)> = groups.iter().filter(|g| !g.1.is_empty()).collect();
    let mut s = format!("Histogram of $N m_{n}$ over the multisets of points at several widths ({label}).");
    if groups.is_empty() {
        return s + " No values.";
    }
    let ranges: Vec<(f64, f64)> = groups
        .iter()
        .map(|g| {
            g.1.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            })
        })
        .collect();
    let meds: Vec<String> = groups
        .iter()
        .map(|g| {
            let ex = median(&g.2);
            format!(
                "{:.4} at N = {}{}",
                median(&g.1),
                g.0,
                if ex.is_finite() {
                    format!(" (exact {ex:.4})")
                } else {
                    String::new()
                }
            )
        })
        .collect();
    s += &format!(" Medians: {}.", meds.join("; "));
    if groups.len() >= 2 {
        let overlap = ranges
            .iter()
            .enumerate()
            .all(|(i, a)| ranges[i + 1..].iter().all(|b| a.0 <= b.1 && b.0 <= a.1));
        let ex: Vec<f64> = groups.iter().map(|g| median(&g.2)).collect();
        let exact_spread = ex.iter().all(|e| e.is_finite()).then(|| {
            let (lo, hi) = ex.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
            100.0 * (hi - lo) / lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE)
        });
        if overlap {
            s += " The widths lie on top of each other (their ranges overlap)";
        } else {
            s += " The widths do not lie on top of each other: their ranges are disjoint";
        }
        match exact_spread {
            Some(e) if e <= EXACT_SAME_PERCENT => {
                s += &format!(
                    ", while the exact values agree across the widths (medians within {e:.2}%){}.",
                    if overlap {
                        ""
                    } else {
                        ": the differences are in the estimates"
                    }
                )
            }
            Some(e) => {
                s += &format!(
                    "; the exact medians differ by {e:.1}% across the widths ($N m_{n}$ is not $N$-independent here)."
                )
            }
            None => s += ".",
        }
        let total = ranges.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max)
            - ranges.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
        let widest = ranges.iter().map(|r| r.1 - r.0).fold(0.0, f64::max);
        if total > 0.0 && widest <= SPIKE_FRACTION * total {
            s += &format!(
                " Each width is a narrow spike (its values spread over at most {:.1}% of the plotted range): at these points $m_{n}$ hardly varies over the combinations.",
                100.0 * widest / total
            );
        }
    }
    s
}

pub fn width(f: &Fit, figs: &mut Figures) {
    let sec = &f.label;
    let combos = f.primary_combos();
    let mut xs: Vec<f64> = combos.iter().map(|c| c.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let pick: Vec<f64> = if xs.len() <= 3 {
        xs.clone()
    } else {
        vec![xs[0], xs[xs.len() / 2], xs[xs.len() - 1]]
    };
    for n in [4u64, 6] {
        let groups: Vec<(f64, Vec<f64>, Vec<f64>)> = pick
            .iter()
            .map(|&x| {
                let rows = combos.iter().filter(|c| c.x == x && c.n == n);
                (
                    x,
                    rows.clone().filter_map(|c| c.m.map(|m| m * x)).collect(),
                    rows.filter_map(|c| c.m_exact.map(|m| m * x)).collect(),
                )
            })
            .collect();
        if groups.iter().all(|g| g.1.is_empty()) {
            continue;
        }
        let labelled: Vec<(String, Vec<f64>)> = groups
            .iter()
            .map(|g| (format!("N = {}", g.0), g.1.clone()))
            .collect();
        let mut panel = histogram_panel(
            &format!("N m_{n} = N ΔG^{{({n})}}/G_0 (dimensionless)"),
            &labelled,
            30,
        );
        let top = panel
            .series
            .iter()
            .flat_map(|s| s.pts.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        for g in &groups {
            let e = median(&g.2);
            if e.is_finite() {
                panel.series.push(series(
                    "exact value (median over combinations)",
                    Style::Dashed,
                    EXACT,
                    vec![(e, 0.0, None), (e, top, None)],
                ));
            }
        }
        figs.add(
            sec,
            &format!("N m_{n} over combinations"),
            &[panel],
            histogram_caption(n, &f.label, &groups),
        );
    }
    for (n, quantity, slope) in [
        (2, Quantity::M2Abs, WidthSlope::M2),
        (4, Quantity::M4Abs, WidthSlope::M4),
        (6, Quantity::M6Abs, WidthSlope::M6),
    ] {
        let rows = f.series(quantity);
        if rows.is_empty() {
            continue;
        }
        let bg: Vec<Pt> = rows
            .iter()
            .filter_map(|p| p.background.map(|b| (p.x, b, None)))
            .collect();
        let mut s = measured(&format!("⟨|m_{n}|⟩ (95% bootstrap)"), MEASURED, &rows);
        s.push(exact_line(&rows));
        s.push(series(
            "background: std over bags / G_0",
            Style::Dotted,
            BACKGROUND,
            bg,
        ));
        if n != 2 {
            let id = FitId::VsWidth(slope);
            s.extend(fit_lines(f, id, predicted(id, f.d)));
        }
        figs.add(
            sec,
            &format!("⟨|m_{n}|⟩ against the width N"),
            &[Panel {
                title: None,
                x: Axis::new("width N", Scale::Log),
                y: Axis::new(&format!("⟨|m_{n}|⟩ (dimensionless)"), Scale::Log),
                series: s,
            }],
            format!(
                "Mean $|m_{n}|$ over combinations against the width ({}), with 95% bootstrap intervals, the exact values, and the per-bag background (the papers' error scale, $sqrt(bags)$ times the standard error).{}",
                f.label,
                match n {
                    2 => " $m_2$ vanishes exactly at every $N$: what is drawn is the noise.",
                    4 => " The fitted line is the least-squares fit of $log <|m_4|>$ on $log N$ over the resolvable points; the dashed line has the predicted slope $-1$.",
                    _ => " $m_6 = a/N + b/N^2$ exactly, not a power law: the fitted slope is descriptive.",
                }
            ),
        );
    }
    for (n, quantity, id) in [
        (4, Quantity::Gc4Mean, FitId::VsWidth(WidthSlope::Gc4)),
        (6, Quantity::Gc6Mean, FitId::VsWidth(WidthSlope::Gc6)),
        (8, Quantity::Gc8Mean, FitId::VsWidth(WidthSlope::Gc8)),
    ] {
        let rows = f.series(quantity);
        if rows.is_empty() {
            continue;
        }
        let primary = rows[0].estimator;
        let slope = predicted(id, f.d).expect("G_c has a predicted slope");
        let mut s = measured(
            &format!(
                "|G_c^{{({n})}}|, {} estimator (95% interval)",
                estimator_label(primary)
            ),
            MEASURED,
            &rows,
        );
        let others: Vec<&PointRow> = f
            .points
            .iter()
            .filter(|p| p.quantity == quantity && p.estimator != primary)
            .collect();
        if !others.is_empty() {
            s.extend(dodged(
                &format!(
                    "|G_c^{{({n})}}|, {} estimator (drawn {}% right of its N)",
                    estimator_label(others[0].estimator),
                    ((DODGE - 1.0) * 100.0).round()
                ),
                &others,
            ));
        }
        s.push(exact_line(&rows));
        s.extend(fit_lines(f, id, Some(slope)));
        let slopes: Vec<String> = f
            .fits
            .iter()
            .filter(|r| r.id == id)
            .map(|r| {
                format!(
                    "{} estimator {}",
                    estimator_label(r.estimator),
                    match (r.estimate, r.lo, r.hi) {
                        (Some(e), Some(lo), Some(hi)) =>
                            format!("{} [{}, {}]", signed(e, 2), signed(lo, 2), signed(hi, 2)),
                        _ => "not fitted (too few resolvable points)".into(),
                    }
                )
            })
            .collect();
        figs.add(
            sec,
            &format!("Connected {n}-point function against N"),
            &[Panel {
                title: None,
                x: Axis::new("width N", Scale::Log),
                y: Axis::new(&format!("|G_c^{{({n})}}| (units of f^{n})"), Scale::Log),
                series: s,
            }],
            format!(
                "The connected part $G_c^({n})$ averaged over combinations ({}), with the fit through the resolvable points of the {} estimator, the predicted slope {slope} and the exact values ($G_c^({n})$ is exactly {}). Fitted slopes with 95% intervals: {}.",
                f.label,
                estimator_label(primary),
                match n {
                    4 => "$1/N$",
                    6 => "$1/N^2$",
                    _ => "$1/N^3$",
                },
                slopes.join("; ")
            ),
        );
    }
    rse_figure(f, figs);
    let per: Vec<Pt> = combos
        .iter()
        .filter(|c| c.n == 4)
        .filter_map(|c| c.u.map(|u| (c.x, u.abs(), None)))
        .collect();
    let rows = f.series(Quantity::U4Mean);
    if !rows.is_empty() {
        let mut s = vec![series("|u_4| per combination", Style::Dots, PALETTE[5], per)];
        s.extend(measured(
            "|u_4| averaged over combinations (95% bootstrap)",
            MEASURED,
            &rows,
        ));
        s.push(exact_line(&rows));
        let id = FitId::VsWidth(WidthSlope::U4);
        s.extend(fit_lines(f, id, predicted(id, f.d)));
        figs.add(
            sec,
            "Quartic coupling against N",
            &[Panel {
                title: None,
                x: Axis::new("width N", Scale::Log),
                y: Axis::new("|u_4| (raw field, units of f^{−4} x^{−d})", Scale::Log),
                series: s,
            }],
            format!(
                "$u_4 = -DeltaG^(4)/N_K$ per combination and averaged over them ({}); $u_4$ is negative, absolute values are drawn.",
                f.label
            ),
        );
    }
}

pub fn sigma(f: &Fit, flows: &[Flow], figs: &mut Figures) {
    let sec = &f.label;
    let active: Vec<&ActiveRow> = flows
        .iter()
        .filter(|fl| fl.inputs.contains(&f.hash))
        .flat_map(|fl| fl.active.iter())
        .collect();
    for (coupling, n) in [(Coupling::U4, 4.0), (Coupling::U6, 6.0)] {
        for (norm, active_q) in [
            (
                Norm::Raw,
                if n == 4.0 {
                    Quantity::U4Abs
                } else {
                    Quantity::U6Abs
                },
            ),
            (
                Norm::Canonical,
                if n == 4.0 {
                    Quantity::U4CanonAbs
                } else {
                    Quantity::U6CanonAbs
                },
            ),
        ] {
            let fit_id = FitId::VsSigmaW {
                coupling,
                norm,
                range: Range::All,
            };
            let quantity = fit_id.quantity();
            let slope = predicted(fit_id, f.d).expect("a sigma_W slope has a prediction");
            let norm = norm.name();
            let rows = f.series(quantity);
            if rows.iter().all(|p| !p.y.is_finite()) || rows.is_empty() {
                continue;
            }
            let sym = if norm == "raw" {
                format!("|u_{}|", n as u32)
            } else {
                format!("|u_{}^φ|", n as u32)
            };
            let mut s = measured(&format!("{sym} (95% bootstrap)"), MEASURED, &rows);
            s.push(exact_line(&rows));
            s.extend(fit_lines(f, fit_id, None));
            let mut pred: Vec<Pt> = active
                .iter()
                .filter(|a| a.quantity == active_q)
                .map(|a| (a.sigma_w, a.predicted.abs(), None))
                .collect();
            pred.sort_by(|a, b| a.0.total_cmp(&b.0));
            pred.dedup_by(|a, b| a.0 == b.0);
            let pred_label;
            if pred.is_empty() {
                if let Some(l) = f.fit(fit_id).and_then(|r| power_line(f, r, slope, false)) {
                    pred = l;
                }
                pred_label = format!("prediction: slope {} (normalised to the data)", signed(slope, 0));
            } else {
                pred_label = format!(
                    "active-RG prediction: slope {} from the first point",
                    signed(slope, 0)
                );
            }
            s.push(series(&pred_label, Style::Dashed, PREDICTED, pred));
            figs.add(
                sec,
                &format!("{norm} u_{} against σ_W", n as u32),
                &[Panel {
                    title: None,
                    x: Axis::new("σ_W", Scale::Log),
                    y: Axis::new(&format!("{sym} ({norm} field)"), Scale::Log),
                    series: s,
                }],
                format!(
                    "The {norm} coupling $u_{}$ against $sigma_W$ ({}), with the fit over the whole range and the predicted slope {} (the rescaling identity: the raw field falls as $sigma_W^(d-{})$, the canonical one grows).",
                    n as u32,
                    f.label,
                    signed(slope, 0),
                    n as u32
                ),
            );
        }
    }
    let rows = f.series(Quantity::U4Spread);
    if !rows.is_empty() {
        let xs: Vec<f64> = rows.iter().map(|p| p.x).collect();
        figs.add(
            sec,
            "Spread of u_4 over combinations against σ_W",
            &[Panel {
                title: None,
                x: Axis::new("σ_W", Scale::Log),
                y: Axis::new("std/|mean| of u_4 (dimensionless)", Scale::Linear),
                series: vec![
                    series("spread (95% bootstrap)", Style::Points, MEASURED, pts(&rows)),
                    exact_line(&rows),
                    series(
                        &format!("threshold {U4_SPREAD_MAX} of “constant”"),
                        Style::Dashed,
                        PREDICTED,
                        [xs[0], xs[xs.len() - 1]]
                            .iter()
                            .map(|&x| (x, U4_SPREAD_MAX, None))
                            .collect(),
                    ),
                ],
            }],
            format!(
                "Where locality breaks: the relative spread of $u_4$ over combinations grows with $sigma_W |x|$ ({}).",
                f.label
            ),
        );
    }
}

pub fn cutoff(f: &Fit, consistency: &[Consistency], figs: &mut Figures) {
    let rows = f.series(Quantity::LambdaAbs);
    if rows.is_empty() {
        return;
    }
    let mut s = measured("|λ_{HMS}| (95% bootstrap)", MEASURED, &rows);
    s.push(exact_line(&rows));
    let id = FitId::LambdaVsCutoff;
    s.extend(fit_lines(f, id, predicted(id, f.d)));
    let fixed = consistency
        .iter()
        .any(|c| c.id.starts_with(nnqft_contract::predict::RELU_LAMBDA_CUTOFF));
    figs.add(
        &f.label,
        "ReLU coupling against the cutoff Λ",
        &[Panel {
            title: None,
            x: Axis::new("cutoff Λ", Scale::Log),
            y: Axis::new("|λ_{HMS}| (raw field)", Scale::Log),
            series: s,
        }],
        format!(
            "HMS coupling $lambda = DeltaG^(4)/(24 N_K)$ with $x$ in $[-Lambda, Lambda]$ ({}).{}",
            f.label,
            if fixed {
                " A consistency figure, not a verdict: $DeltaG^(4)$ does not depend on $Lambda$, and for ReLU with $sigma_b = 0$ every $N_K(Lambda)$ grows as $Lambda^(d+4)$, so the slope $-(d+4)$ holds for any data (its bootstrap interval has zero width)."
            } else {
                ""
            }
        ),
    );
}

/// Factor by which a second estimator's points are drawn to the right of the first's on a log axis.
pub const DODGE: f64 = 1.08;

/// How an estimator is named in legends and captions.
pub fn estimator_label(e: Estimator) -> &'static str {
    match e {
        Estimator::Conditional => "conditional-Gaussian",
        Estimator::Products => "products-of-f",
    }
}

/// A second estimator's points: squares, moved right by [`DODGE`] so that error bars do not overlap.
fn dodged(label: &str, rows: &[&PointRow]) -> Vec<Series> {
    let (good, bad): (Vec<&PointRow>, Vec<&PointRow>) = rows.iter().partition(|p| p.resolvable);
    let shift = |v: Vec<Pt>| -> Vec<Pt> { v.into_iter().map(|(x, y, e)| (x * DODGE, y, e)).collect() };
    vec![
        series(label, Style::Squares, PALETTE[4], shift(pts(&good))),
        series(
            &format!(
                "unresolvable, {} (not fitted)",
                rows.first()
                    .map_or("second estimator", |p| estimator_label(p.estimator))
            ),
            Style::Squares,
            GREY,
            shift(pts(&bad)),
        ),
    ]
}

/// Relative standard error of a point from its 95% interval: (hi - lo) / (2 * 1.96 * |y|).
pub fn relative_se(p: &PointRow) -> Option<f64> {
    let (lo, hi) = (p.lo?, p.hi?);
    (p.y != 0.0 && hi > lo).then(|| (hi - lo) / (2.0 * Z95 * p.y.abs()))
}

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The relative standard error of the combination-averaged G_c^(4) against N, per estimator: the picture of
/// why the conditional-Gaussian estimator resolves what the products of f cannot (PHYSICS.md 9).
fn rse_figure(f: &Fit, figs: &mut Figures) {
    let mut s = vec![];
    let mut at_max: Vec<String> = vec![];
    for (i, e) in Estimator::ALL.into_iter().enumerate() {
        let rows = f.series_of(Quantity::Gc4Mean, e);
        let v: Vec<Pt> = rows
            .iter()
            .filter_map(|p| relative_se(p).map(|r| (p.x, r, None)))
            .collect();
        if v.is_empty() {
            continue;
        }
        if let Some(last) = v.last() {
            at_max.push(format!(
                "{} {:.3} at $N = {}$",
                estimator_label(e),
                last.1,
                last.0
            ));
        }
        s.push(series(
            &format!("{} estimator", estimator_label(e)),
            if i == 0 { Style::Squares } else { Style::Points },
            if e == Estimator::Products {
                PALETTE[4]
            } else {
                MEASURED
            },
            v,
        ));
    }
    if s.len() < 2 {
        return;
    }
    figs.add(
        &f.label,
        "Relative standard error of G_c^{(4)} against N",
        &[Panel {
            title: None,
            x: Axis::new("width N", Scale::Log),
            y: Axis::new("relative standard error of ⟨G_c^{(4)}⟩", Scale::Log),
            series: s,
        }],
        format!(
            "Relative standard error of $G_c^(4)$ averaged over combinations, from its 95% interval as (high − low)/(3.92 |value|), for both estimators ({}). Products of $f$ carry the last layer's noise, which does not shrink with $N$ while the signal falls as $1/N$; the conditional-Gaussian estimator integrates the last layer out. At the largest width: {}.",
            f.label,
            at_max.join("; ")
        ),
    );
}

/// Quantities drawn against any other swept parameter, where the points table has them.
const GENERIC: [Quantity; 6] = [
    Quantity::M4Abs,
    Quantity::Gc4Mean,
    Quantity::Gc6Mean,
    Quantity::U4Mean,
    Quantity::U6Mean,
    Quantity::M6Abs,
];

/// The plot label of a quantity drawn against a generic sweep (absolute values, as on log axes).
fn generic_label(q: Quantity) -> &'static str {
    match q {
        Quantity::M4Abs => "⟨|m_4|⟩",
        Quantity::M6Abs => "⟨|m_6|⟩",
        Quantity::Gc4Mean => "|G_c^{(4)}|",
        Quantity::Gc6Mean => "|G_c^{(6)}|",
        Quantity::U4Mean => "|u_4|",
        Quantity::U6Mean => "|u_6|",
        _ => q.name(),
    }
}

/// The figures of a sweep over any other parameter (sigma_b, d, depth, d_out, ...): each quantity against the
/// swept value, measured (resolvable in colour), exact, and the fitted and predicted power laws where the fit has
/// a slope of it. The swept axis is logarithmic where every value is positive and they span a factor of 3.
pub fn generic(f: &Fit, figs: &mut Figures) {
    let var = f.sweep.variable();
    for q in GENERIC {
        let rows = f.series(q);
        if rows.is_empty() || rows.iter().all(|p| !p.y.is_finite()) {
            continue;
        }
        let (lo, hi) = rows.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.x), b.max(p.x))
        });
        let xs = if lo > 0.0 && hi / lo >= 3.0 {
            Scale::Log
        } else {
            Scale::Linear
        };
        let label = generic_label(q);
        let mut s = measured(&format!("{label} (95% interval)"), MEASURED, &rows);
        s.push(exact_line(&rows));
        let slope = f
            .fits
            .iter()
            .find(|r| r.quantity == q && r.kind == nnqft_contract::fit::FitKind::Slope);
        if let Some(r) = slope.filter(|_| xs == Scale::Log) {
            s.extend(fit_lines(f, r.id, r.predicted));
        }
        figs.add(
            &f.label,
            &format!("{label} against {var}"),
            &[Panel {
                title: None,
                x: Axis::new(var, xs),
                y: Axis::new(label, Scale::Log),
                series: s,
            }],
            format!(
                "{} against the swept ${var}$ ({}), with 95% bootstrap intervals and the exact values{}.",
                q.description(),
                f.label,
                if slope.is_some() && xs == Scale::Log {
                    "; the fitted line and the predicted slope where the fit has them"
                } else {
                    ""
                }
            ),
        );
    }
}

/// The legend label of a trajectory: where its starting couplings came from.
fn trajectory_label(t: &Trajectory) -> String {
    match t.start {
        Start::Measured => "from the measured couplings".into(),
        Start::Exact => "from the exact couplings".into(),
        Start::Resolvable => {
            let parts: Vec<String> = ["u_4", "u_6"]
                .iter()
                .zip(t.from)
                .map(|(u, o)| match o {
                    Origin::Exact => format!("exact {u}"),
                    Origin::Zero => format!("{u} = 0"),
                    Origin::Given => format!("given {u}"),
                    Origin::Measured => format!("measured {u}"),
                })
                .collect();
            format!("from the resolvable couplings: {}", parts.join(", "))
        }
    }
}

/// Why the flow's unresolvable starting couplings are unresolvable, one sentence each (with the numbers, from
/// the fit the flow started from where the report has it).
pub fn flow_reasons(fl: &Flow, fits: &[Fit]) -> Vec<String> {
    let fit = fits.iter().find(|f| fl.inputs.contains(&f.hash));
    fl.unresolved
        .iter()
        .map(|name| {
            let (q, sym) = match name.as_str() {
                "u4" => (Quantity::U4Mean, "u_4"),
                _ => (Quantity::U6Mean, "u_6"),
            };
            match (fit, fl.x) {
                (Some(f), Some(x)) => format!(
                    "the measured ${sym}$ at ${} = {x}$ is not resolvable: {}",
                    f.sweep.variable(),
                    crate::checks::point_reason(f, q, x)
                ),
                _ => format!(
                    "the fit marks the measured ${sym}$ unresolvable (the fit is not among the report's inputs)"
                ),
            }
        })
        .collect()
}

/// The RG-flow figure: one panel per coupling (symmetric-log where a coupling spans many decades), one line per
/// trajectory that is a result: the one from the measured couplings only where the fit marks every one of them
/// resolvable, else the one from the resolvable couplings (the others at their exact value, or 0), and the one
/// from the exact couplings. Returns the reason as HTML where nothing can be drawn, else an empty string.
pub fn flow(fl: &Flow, fits: &[Fit], figs: &mut Figures) -> String {
    let reasons = flow_reasons(fl, fits);
    let drawn: Vec<&Trajectory> = fl
        .trajectories
        .iter()
        .filter(|t| (t.start != Start::Measured || fl.unresolved.is_empty()) && t.rows.len() >= 2)
        .collect();
    if drawn.is_empty() {
        return format!(
            "<p class=\"warning\">No flow figure: {} (flow artifact <code>{}</code>; the integration ended: {}).</p>\n",
            crate::math::html(&reasons.join("; ")),
            nnqft_contract::short_hash(&fl.hash),
            crate::plots::esc(fl.stop())
        );
    }
    let names = ["ū_2", "ū_4", "ū_6"];
    let color = |t: &Trajectory| match t.start {
        Start::Measured => (PALETTE[0], Style::Line),
        Start::Resolvable => (PALETTE[1], Style::Line),
        Start::Exact => (EXACT, Style::Dashed),
    };
    let panels: Vec<Panel> = (0..3)
        .map(|i| {
            let vals: Vec<f64> = drawn
                .iter()
                .flat_map(|t| t.rows.iter().map(|r| r.ubar[i]))
                .collect();
            let scale = symlog_threshold(&vals).map_or(Scale::Linear, Scale::SymLog);
            Panel {
                title: Some(format!(
                    "{}{}",
                    names[i],
                    match scale {
                        Scale::SymLog(c) => format!(
                            " (symmetric log axis, linear within ±{})",
                            crate::plots::number(c, c)
                        ),
                        _ => String::new(),
                    }
                )),
                x: Axis::new("k", Scale::Log),
                y: Axis::new(names[i], scale),
                series: drawn
                    .iter()
                    .map(|t| {
                        let (c, st) = color(t);
                        series(
                            &trajectory_label(t),
                            st,
                            c,
                            t.rows.iter().map(|r| (r.k, r.ubar[i], None)).collect(),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let ends: Vec<String> = drawn
        .iter()
        .map(|t| format!("{}: {}", trajectory_label(t), t.stop))
        .collect();
    let not_drawn = if reasons.is_empty() {
        String::new()
    } else {
        format!(
            " The trajectory from the measured couplings is not drawn, because {}.",
            reasons.join("; ")
        )
    };
    figs.add(
        "Renormalisation-group flow",
        "Passive RG flow (LPA, Litim regulator)",
        &panels,
        format!(
            "The dimensionless couplings along the flow from $k_0 = sqrt(2 sigma_W^2/d)$ toward the IR, one panel each.{not_drawn} Where each integration ended: {}.",
            ends.join("; ")
        ),
    );
    String::new()
}
