//! SVG charts written directly, so that every piece of text has a known place and size.
//!
//! Axes are linear, logarithmic (a real log axis: positions are log10 of the value, ticks at decades, with 2 and 5
//! labelled when the axis spans under two and a half decades and every integer multiple under one decade), or
//! symmetric-logarithmic (`sign(v) log10(1 + |v|/c)`: linear near zero, logarithmic beyond c; for flows that
//! cross zero and grow by orders of magnitude). Legends are drawn under the plot area, never over data, list only
//! series with something drawn, once per label, each with the line style it stands for. Error bars are a line
//! with caps and a filled marker at the estimate.
//!
//! Text is laid out with the width estimate [`text_width`] (DejaVu Sans, the font the PNG is rendered with and
//! the first of the SVG's font list): tick labels are thinned until they are at least [`TICK_GAP`] apart, and
//! the axis titles are placed beyond the widest tick label, so no text overprints another. Labels accept a small
//! markup: `_x`, `_{xy}` for subscripts and `^x`, `^{xy}` for superscripts.

use std::fmt::Write as _;

/// Font list of every text element (the PNG renderer has DejaVu Sans built in).
pub const FONT: &str = "DejaVu Sans, Verdana, sans-serif";
/// Average advance of a character of DejaVu Sans, in em (digits 0.636, lower case about 0.6, capitals 0.7).
pub const CHAR_EM: f64 = 0.64;
/// Size of sub- and superscripts relative to the text around them.
pub const SCRIPT_SCALE: f64 = 0.7;
/// Smallest gap between two tick labels, in pixels.
pub const TICK_GAP: f64 = 8.0;

const TITLE_PX: f64 = 15.0;
const LABEL_PX: f64 = 13.0;
const TICK_PX: f64 = 11.0;
const LEGEND_PX: f64 = 12.0;
const MARGIN: f64 = 10.0;
const TICK_LEN: f64 = 5.0;

/// Colours (Tableau 10), then grey for estimates excluded from fits.
pub const PALETTE: [&str; 7] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
];
pub const GREY: &str = "#9a9a9a";

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// Filled markers, with vertical error bars where given.
    Points,
    /// Filled square markers, with vertical error bars where given (a second estimator beside `Points`).
    Squares,
    /// Small open markers without error bars (many values, e.g. one per combination).
    Dots,
    /// A solid line.
    Line,
    /// A dashed line (predictions).
    Dashed,
    /// A dotted line (the per-bag background).
    Dotted,
    /// A histogram: `pts` are (left edge, count, Some((right edge, _))).
    Bars,
}

/// A plotted point: (x, y, optional error bar (lo, hi)).
pub type Pt = (f64, f64, Option<(f64, f64)>);

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub style: Style,
    pub color: &'static str,
    pub pts: Vec<Pt>,
}

/// Axis scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    Log,
    /// Symmetric log with linear threshold c > 0.
    SymLog(f64),
}

impl Scale {
    /// The position of a value on the axis, None where the scale cannot show it.
    pub fn tr(self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        match self {
            Scale::Linear => Some(v),
            Scale::Log => (v > 0.0).then(|| v.log10()),
            Scale::SymLog(c) => Some(v.signum() * (1.0 + v.abs() / c).log10()),
        }
    }
    fn inv(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
            Scale::SymLog(c) => t.signum() * c * (10f64.powf(t.abs()) - 1.0),
        }
    }
}

/// One axis: title (with markup) and scale.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
}

impl Axis {
    pub fn new(label: &str, scale: Scale) -> Self {
        Axis {
            label: label.into(),
            scale,
        }
    }
}

/// One plot area with its axes and series.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: Option<String>,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
}

/// A piece of text with markup split into runs: (text, 0 normal / -1 subscript / +1 superscript).
fn runs(markup: &str) -> Vec<(String, i8)> {
    let mut out: Vec<(String, i8)> = vec![(String::new(), 0)];
    let cs: Vec<char> = markup.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if (c == '_' || c == '^') && i + 1 < cs.len() {
            let shift = if c == '_' { -1 } else { 1 };
            let (s, next) = if cs[i + 1] == '{' {
                let end = cs[i + 2..]
                    .iter()
                    .position(|&c| c == '}')
                    .map_or(cs.len(), |p| i + 2 + p);
                (cs[i + 2..end].iter().collect::<String>(), end + 1)
            } else {
                (cs[i + 1].to_string(), i + 2)
            };
            out.push((s, shift));
            out.push((String::new(), 0));
            i = next;
        } else {
            out.last_mut().expect("non-empty").0.push(c);
            i += 1;
        }
    }
    out.retain(|(s, _)| !s.is_empty());
    out
}

/// The text of a label without markup (for titles, alt text and tests).
pub fn plain(markup: &str) -> String {
    runs(markup)
        .into_iter()
        .map(|(s, sh)| match sh {
            -1 => format!("_{s}"),
            1 => format!("^{s}"),
            _ => s,
        })
        .collect()
}

/// A label as HTML, with `<sub>` and `<sup>` for its scripts.
pub fn html_label(markup: &str) -> String {
    runs(markup)
        .into_iter()
        .map(|(s, sh)| match sh {
            -1 => format!("<sub>{}</sub>", esc(&s)),
            1 => format!("<sup>{}</sup>", esc(&s)),
            _ => esc(&s),
        })
        .collect()
}

/// Estimated width in pixels of a label at font size `px` (see [`CHAR_EM`]).
pub fn text_width(markup: &str, px: f64) -> f64 {
    runs(markup)
        .iter()
        .map(|(s, sh)| {
            let scale = if *sh == 0 { 1.0 } else { SCRIPT_SCALE };
            s.chars().count() as f64 * CHAR_EM * px * scale
        })
        .sum()
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A `<text>` element; `anchor` is start, middle or end; `rotate` turns it by -90 degrees about (x, y).
fn text(svg: &mut String, x: f64, y: f64, px: f64, anchor: &str, rotate: bool, markup: &str) {
    let tr = if rotate {
        format!(" transform=\"rotate(-90 {x:.1} {y:.1})\"")
    } else {
        String::new()
    };
    let _ = write!(
        svg,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{px}\" text-anchor=\"{anchor}\"{tr}>"
    );
    for (s, sh) in runs(markup) {
        match sh {
            0 => svg.push_str(&esc(&s)),
            _ => {
                let _ = write!(
                    svg,
                    "<tspan baseline-shift=\"{}\" font-size=\"{:.0}%\">{}</tspan>",
                    if sh < 0 { "sub" } else { "super" },
                    SCRIPT_SCALE * 100.0,
                    esc(&s)
                );
            }
        }
    }
    svg.push_str("</text>");
}

/// Superscript digits of an exponent, as markup.
fn pow10(e: i32) -> String {
    format!("10^{{{}}}", e.to_string().replace('-', "\u{2212}"))
}

/// A number for a tick label: plain decimals where short, m×10^e otherwise.
pub fn number(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let sign = if v < 0.0 { "\u{2212}" } else { "" };
    if (1e-3..1e5).contains(&a) {
        let dec = (-step.abs().log10().floor()).clamp(0.0, 6.0) as usize;
        let s = format!("{a:.dec$}");
        return format!("{sign}{s}");
    }
    let e = a.log10().floor() as i32;
    let m = a / 10f64.powi(e);
    let mdec = (-(step.abs() / 10f64.powi(e)).log10().floor()).clamp(0.0, 3.0) as usize;
    let ms = format!("{m:.mdec$}");
    if ms == "1" {
        format!("{sign}{}", pow10(e))
    } else {
        format!("{sign}{ms}\u{00d7}{}", pow10(e))
    }
}

/// A tick: value, label (None: an unlabelled minor tick), major (gets a grid line).
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub v: f64,
    pub label: Option<String>,
    pub major: bool,
}

fn nice_step(span: f64, n: f64) -> f64 {
    let raw = span / n;
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let nice = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * p
}

/// Ticks of an axis over the value range [lo, hi].
pub fn ticks(scale: Scale, lo: f64, hi: f64) -> Vec<Tick> {
    match scale {
        Scale::Linear => {
            let step = nice_step(hi - lo, 5.0);
            let mut v = (lo / step).ceil() * step;
            let mut out = vec![];
            while v <= hi + step * 1e-9 {
                let x = if (v / step).abs() < 1e-9 { 0.0 } else { v };
                out.push(Tick {
                    v: x,
                    label: Some(number(x, step)),
                    major: true,
                });
                v += step;
            }
            out
        }
        Scale::Log => {
            let (a, b) = (lo.log10(), hi.log10());
            let span = b - a;
            let (e0, e1) = (a.floor() as i32, b.ceil() as i32);
            let plain_ok = (-3..=4).contains(&e0) && (-3..=4).contains(&e1);
            let fmt = |m: f64, e: i32| -> String {
                if plain_ok {
                    let v = m * 10f64.powi(e);
                    number(v, 10f64.powi(e.min(0)))
                } else if m == 1.0 {
                    pow10(e)
                } else {
                    format!("{m}\u{00d7}{}", pow10(e))
                }
            };
            // Decades labelled, every other one beyond 8 decades.
            let every = if span > 8.0 { 2 } else { 1 };
            let mut out = vec![];
            let minors = if span > 6.0 { 1 } else { 9 };
            for e in e0..=e1 {
                for m in 1..=minors {
                    let v = m as f64 * 10f64.powi(e);
                    if v < lo * (1.0 - 1e-12) || v > hi * (1.0 + 1e-12) {
                        continue;
                    }
                    let labelled = if m == 1 {
                        e.rem_euclid(every) == 0
                    } else if span < 1.0 {
                        true
                    } else {
                        span < 2.5 && (m == 2 || m == 5)
                    };
                    out.push(Tick {
                        v,
                        label: labelled.then(|| fmt(m as f64, e)),
                        major: m == 1,
                    });
                }
            }
            // Where the labelled multiples of 10^k leave 40% of the axis bare (under about half a decade):
            // nice linear steps, placed on the log axis, labelled.
            let mut at: Vec<f64> = out
                .iter()
                .filter(|t| t.label.is_some())
                .map(|t| t.v.log10())
                .collect();
            at.insert(0, a);
            at.push(b);
            let gap = at.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
            if gap > 0.4 * span {
                let step = nice_step(hi - lo, 4.0);
                let mut v = (lo / step).ceil() * step;
                let mut lin = vec![];
                while v <= hi * (1.0 + 1e-12) {
                    lin.push(Tick {
                        v,
                        label: Some(number(v, step)),
                        major: true,
                    });
                    v += step;
                }
                if lin.len() >= 3 {
                    return lin;
                }
            }
            out
        }
        Scale::SymLog(c) => {
            let mut out = vec![];
            if lo <= 0.0 && hi >= 0.0 {
                out.push(Tick {
                    v: 0.0,
                    label: Some("0".into()),
                    major: true,
                });
            }
            for sign in [1.0, -1.0] {
                let mut v = c;
                while v <= lo.abs().max(hi.abs()) * (1.0 + 1e-12) {
                    let s = sign * v;
                    if s >= lo && s <= hi {
                        let e = v.log10().round() as i32;
                        let lab = if (-3..=4).contains(&e) {
                            number(s, 10f64.powi(e.min(0)))
                        } else {
                            format!("{}{}", if sign < 0.0 { "\u{2212}" } else { "" }, pow10(e))
                        };
                        out.push(Tick {
                            v: s,
                            label: Some(lab),
                            major: true,
                        });
                    }
                    v *= 10.0;
                }
            }
            out.sort_by(|a, b| a.v.total_cmp(&b.v));
            out
        }
    }
}

/// Range of transformed values covered by a panel's series, padded; error bars widen it by at most half the
/// span of the values on each side (beyond that they are clipped at the frame).
fn range(scale: Scale, series: &[Series], is_x: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut elo, mut ehi) = (f64::INFINITY, f64::NEG_INFINITY);
    for s in series {
        for &(x, y, e) in &s.pts {
            let v = if is_x { x } else { y };
            if let Some(t) = scale.tr(v) {
                lo = lo.min(t);
                hi = hi.max(t);
            }
            if !is_x && s.style == Style::Bars {
                lo = lo.min(0.0);
            }
            if let (true, Style::Bars, Some(t)) = (is_x, s.style, e.and_then(|(r, _)| scale.tr(r))) {
                hi = hi.max(t);
            }
            if let (false, Style::Points | Style::Squares, Some((l, h))) = (is_x, s.style, e) {
                if let Some(t) = scale.tr(l) {
                    elo = elo.min(t);
                }
                if let Some(t) = scale.tr(h) {
                    ehi = ehi.max(t);
                }
            }
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) * 0.1 };
    lo = lo.min(elo.max(lo - 0.5 * span));
    hi = hi.max(ehi.min(hi + 0.5 * span));
    if hi <= lo {
        (lo, hi) = (lo - 0.5 * span, hi + 0.5 * span);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Keeps labels of ticks at least TICK_GAP apart (labels at major ticks first).
fn thin(ticks: &mut [Tick], pos: impl Fn(f64) -> f64, extent: impl Fn(&str) -> f64) {
    let mut kept: Vec<(f64, f64)> = vec![];
    let mut order: Vec<usize> = (0..ticks.len()).collect();
    order.sort_by_key(|&i| !ticks[i].major);
    for i in order {
        let Some(l) = &ticks[i].label else { continue };
        let (c, w) = (pos(ticks[i].v), extent(l));
        let (a, b) = (c - w / 2.0, c + w / 2.0);
        if kept
            .iter()
            .any(|&(ka, kb)| a < kb + TICK_GAP && ka < b + TICK_GAP)
        {
            ticks[i].label = None;
        } else {
            kept.push((a, b));
        }
    }
}

const CANVAS_W: f64 = 720.0;
const PLOT_H: f64 = 300.0;

/// Legend entries: (label, style, colour), deduplicated, only for series with something drawn.
/// A legend entry: label, style, colour, and whether its markers carry error bars (drawn in the sample).
type LegendEntry = (String, Style, &'static str, bool);

fn legend_entries(panels: &[Panel]) -> Vec<LegendEntry> {
    let mut v: Vec<LegendEntry> = vec![];
    for p in panels {
        for s in &p.series {
            let shown = s
                .pts
                .iter()
                .any(|&(x, y, _)| p.x.scale.tr(x).is_some() && p.y.scale.tr(y).is_some());
            let bars = s.pts.iter().any(|pt| pt.2.is_some());
            match v.iter_mut().find(|(l, st, _, _)| *l == s.label && *st == s.style) {
                Some(e) => e.3 |= shown && bars,
                None if shown && !s.label.is_empty() => v.push((s.label.clone(), s.style, s.color, bars)),
                None => {}
            }
        }
    }
    v
}

fn legend_sample(svg: &mut String, x: f64, y: f64, style: Style, color: &str, bars: bool) {
    let (x0, x1) = (x, x + 26.0);
    if bars && matches!(style, Style::Points | Style::Squares) {
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{color}\" stroke-width=\"1.2\"/>",
            x + 13.0,
            y - 6.0,
            x + 13.0,
            y + 6.0
        );
    }
    match style {
        Style::Points => {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{color}\"/>",
                x + 13.0
            );
        }
        Style::Squares => {
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{color}\"/>",
                x + 9.5,
                y - 3.5
            );
        }
        Style::Dots => {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1\"/>",
                x + 13.0
            );
        }
        Style::Bars => {
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"18\" height=\"10\" fill=\"{color}\" fill-opacity=\"0.35\" stroke=\"{color}\"/>",
                x + 4.0,
                y - 5.0
            );
        }
        _ => {
            let _ = write!(
                svg,
                "<line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{x1:.1}\" y2=\"{y:.1}\" stroke=\"{color}\" stroke-width=\"2\"{}/>",
                dash(style)
            );
        }
    }
}

fn dash(style: Style) -> &'static str {
    match style {
        Style::Dashed => " stroke-dasharray=\"8 5\"",
        Style::Dotted => " stroke-dasharray=\"2 3\"",
        _ => "",
    }
}

/// Draws one or more panels stacked vertically, with a title and one legend under them; returns the SVG.
/// `id` must be unique within the page (it prefixes the clip paths).
pub fn figure(id: &str, title: &str, panels: &[Panel]) -> String {
    let mut body = String::new();
    let mut y = MARGIN + TITLE_PX;
    text(&mut body, CANVAS_W / 2.0, y, TITLE_PX, "middle", false, title);
    y += 10.0;
    for (k, p) in panels.iter().enumerate() {
        y = panel(&mut body, &format!("{id}-{k}"), p, y);
    }
    // Legend rows.
    let entries = legend_entries(panels);
    let mut x = MARGIN + 10.0;
    y += 6.0;
    let row_h = LEGEND_PX + 8.0;
    if !entries.is_empty() {
        y += row_h / 2.0;
    }
    for (label, style, color, bars) in &entries {
        let w = 26.0 + 6.0 + text_width(label, LEGEND_PX) + 18.0;
        if x + w > CANVAS_W - MARGIN && x > MARGIN + 10.0 {
            x = MARGIN + 10.0;
            y += row_h;
        }
        legend_sample(&mut body, x, y, *style, color, *bars);
        text(
            &mut body,
            x + 32.0,
            y + LEGEND_PX * 0.35,
            LEGEND_PX,
            "start",
            false,
            label,
        );
        x += w;
    }
    if !entries.is_empty() {
        y += row_h / 2.0;
    }
    let h = (y + MARGIN).ceil();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CANVAS_W}\" height=\"{h}\" viewBox=\"0 0 {CANVAS_W} {h}\" font-family=\"{FONT}\" role=\"img\"><title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"white\"/>{body}</svg>",
        esc(&plain(title))
    )
}

/// The plot area of a panel, in pixels.
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

/// Grid lines at major ticks, tick marks (shorter at unlabelled minor ticks) and tick labels of one axis.
fn draw_ticks(svg: &mut String, ticks: &[Tick], pos: &dyn Fn(f64) -> f64, x_axis: bool, f: &Frame) {
    for t in ticks {
        let p = pos(t.v);
        let len = if t.major || t.label.is_some() {
            TICK_LEN
        } else {
            TICK_LEN * 0.6
        };
        // (x1, y1, x2, y2) of the grid line and of the tick mark.
        let (grid, tick) = if x_axis {
            ((p, f.top, p, f.bottom), (p, f.bottom, p, f.bottom + len))
        } else {
            ((f.left, p, f.right, p), (f.left - len, p, f.left, p))
        };
        for (on, (x1, y1, x2, y2), colour) in [(t.major, grid, "#e6e6e6"), (true, tick, "#333")] {
            if on {
                let _ = write!(
                    svg,
                    "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{colour}\"/>"
                );
            }
        }
        if let Some(l) = &t.label {
            if x_axis {
                text(
                    svg,
                    p,
                    f.bottom + TICK_LEN + 3.0 + TICK_PX,
                    TICK_PX,
                    "middle",
                    false,
                    l,
                );
            } else {
                text(
                    svg,
                    f.left - TICK_LEN - 4.0,
                    p + TICK_PX * 0.35,
                    TICK_PX,
                    "end",
                    false,
                    l,
                );
            }
        }
    }
}

/// Draws a panel whose top is at `top`; returns the y below it.
fn panel(svg: &mut String, id: &str, p: &Panel, top: f64) -> f64 {
    let mut top = top;
    if let Some(t) = &p.title {
        top += LABEL_PX + 4.0;
        text(svg, CANVAS_W / 2.0, top, LABEL_PX, "middle", false, t);
        top += 6.0;
    }
    let (x0, x1) = range(p.x.scale, &p.series, true);
    let (y0, y1) = range(p.y.scale, &p.series, false);
    let (vx0, vx1) = (p.x.scale.inv(x0), p.x.scale.inv(x1));
    let (vy0, vy1) = (p.y.scale.inv(y0), p.y.scale.inv(y1));
    let mut yt = ticks(p.y.scale, vy0, vy1);
    let mut xt = ticks(p.x.scale, vx0, vx1);
    // y tick labels stack vertically: thin by their height.
    let (pt, pb) = (top + 8.0, top + 8.0 + PLOT_H);
    let ypos = |v: f64| pb - (p.y.scale.tr(v).unwrap_or(y0) - y0) / (y1 - y0) * PLOT_H;
    thin(&mut yt, ypos, |_| TICK_PX);
    let ytw = yt
        .iter()
        .filter_map(|t| t.label.as_deref())
        .map(|l| text_width(l, TICK_PX))
        .fold(0.0, f64::max);
    let left = MARGIN + LABEL_PX * 1.3 + 6.0 + ytw + 4.0 + TICK_LEN;
    let last_w = xt
        .iter()
        .rev()
        .find_map(|t| t.label.as_deref())
        .map_or(0.0, |l| text_width(l, TICK_PX));
    let right = CANVAS_W - MARGIN - (last_w / 2.0).max(8.0);
    let xpos = |v: f64| left + (p.x.scale.tr(v).unwrap_or(x0) - x0) / (x1 - x0) * (right - left);
    thin(&mut xt, xpos, |l| text_width(l, TICK_PX));
    // Frame, grid, ticks.
    let _ = write!(
        svg,
        "<defs><clipPath id=\"{id}\"><rect x=\"{left:.1}\" y=\"{pt:.1}\" width=\"{:.1}\" height=\"{PLOT_H:.1}\"/></clipPath></defs>",
        right - left
    );
    let frame = Frame {
        left,
        right,
        top: pt,
        bottom: pb,
    };
    draw_ticks(svg, &xt, &xpos, true, &frame);
    draw_ticks(svg, &yt, &ypos, false, &frame);
    let _ = write!(
        svg,
        "<rect x=\"{left:.1}\" y=\"{pt:.1}\" width=\"{:.1}\" height=\"{PLOT_H:.1}\" fill=\"none\" stroke=\"#333\"/>",
        right - left
    );
    // Axis titles: x under its tick labels, y (rotated) left of the widest tick label.
    let xl_y = pb + TICK_LEN + 3.0 + TICK_PX + 8.0 + LABEL_PX;
    text(
        svg,
        (left + right) / 2.0,
        xl_y,
        LABEL_PX,
        "middle",
        false,
        &p.x.label,
    );
    let yl_x = MARGIN + LABEL_PX;
    text(svg, yl_x, (pt + pb) / 2.0, LABEL_PX, "middle", true, &p.y.label);
    // Series.
    let _ = write!(svg, "<g clip-path=\"url(#{id})\">");
    let map = |x: f64, y: f64| -> Option<(f64, f64)> {
        Some((
            left + (p.x.scale.tr(x)? - x0) / (x1 - x0) * (right - left),
            pb - (p.y.scale.tr(y)? - y0) / (y1 - y0) * PLOT_H,
        ))
    };
    // The bottom of the frame in value terms, for error bars and bars that reach below the axis.
    let bottom = pb + 2.0;
    for s in &p.series {
        let c = s.color;
        match s.style {
            Style::Points | Style::Squares | Style::Dots => {
                for &(x, y, e) in &s.pts {
                    let Some((px, py)) = map(x, y) else { continue };
                    if s.style != Style::Dots {
                        if let Some((lo, hi)) = e {
                            let ylo = map(x, lo).map_or(bottom, |q| q.1);
                            if let Some((_, yhi)) = map(x, hi) {
                                let _ = write!(
                                    svg,
                                    "<path d=\"M{px:.1} {ylo:.1}V{yhi:.1}M{:.1} {ylo:.1}h8M{:.1} {yhi:.1}h8\" stroke=\"{c}\" stroke-width=\"1.2\" fill=\"none\"/>",
                                    px - 4.0,
                                    px - 4.0
                                );
                            }
                        }
                        let _ = if s.style == Style::Squares {
                            write!(
                                svg,
                                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"{c}\"/>",
                                px - 3.5,
                                py - 3.5
                            )
                        } else {
                            write!(
                                svg,
                                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3.5\" fill=\"{c}\"/>"
                            )
                        };
                    } else {
                        let _ = write!(
                            svg,
                            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"2.5\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1\" stroke-opacity=\"0.6\"/>"
                        );
                    }
                }
            }
            Style::Line | Style::Dashed | Style::Dotted => {
                let mut d = String::new();
                let mut pen = false;
                for &(x, y, _) in &s.pts {
                    match map(x, y) {
                        Some((px, py)) => {
                            let _ = write!(d, "{}{px:.1} {py:.1}", if pen { "L" } else { "M" });
                            pen = true;
                        }
                        None => pen = false,
                    }
                }
                if !d.is_empty() {
                    let _ = write!(
                        svg,
                        "<path d=\"{d}\" stroke=\"{c}\" stroke-width=\"2\" fill=\"none\"{}/>",
                        dash(s.style)
                    );
                }
            }
            Style::Bars => {
                for &(x, n, e) in &s.pts {
                    let Some((xr, _)) = e else { continue };
                    if n <= 0.0 {
                        continue;
                    }
                    let (Some((a, ytop)), Some((b, _))) = (map(x, n), map(xr, n)) else {
                        continue;
                    };
                    let base = map(x, 0.0).map_or(bottom, |q| q.1);
                    let _ = write!(
                        svg,
                        "<rect x=\"{a:.1}\" y=\"{ytop:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{c}\" fill-opacity=\"0.35\" stroke=\"{c}\"/>",
                        (b - a).max(1.0),
                        (base - ytop).max(0.0)
                    );
                }
            }
        }
    }
    svg.push_str("</g>");
    xl_y + 4.0
}

/// Histogram of several groups sharing bins, as one panel.
pub fn histogram_panel(xlabel: &str, groups: &[(String, Vec<f64>)], bins: usize) -> Panel {
    let all: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
        (a.min(v), b.max(v))
    });
    let mut series = vec![];
    if lo.is_finite() {
        let w = if hi > lo {
            (hi - lo) / bins as f64
        } else {
            lo.abs().max(1e-12) * 0.01
        };
        for (gi, (label, vals)) in groups.iter().enumerate() {
            let mut c = vec![0usize; bins];
            for v in vals.iter().filter(|v| v.is_finite()) {
                c[(((v - lo) / w) as usize).min(bins - 1)] += 1;
            }
            series.push(Series {
                label: label.clone(),
                style: Style::Bars,
                color: PALETTE[gi % PALETTE.len()],
                pts: c
                    .iter()
                    .enumerate()
                    .map(|(b, &n)| {
                        let x = lo + b as f64 * w;
                        (x, n as f64, Some((x + w, 0.0)))
                    })
                    .collect(),
            });
        }
    }
    Panel {
        title: None,
        x: Axis::new(xlabel, Scale::Linear),
        y: Axis::new("combinations (count)", Scale::Linear),
        series,
    }
}

/// The symmetric-log threshold for a set of values: a decade below the 10% quantile of their magnitudes, when
/// the magnitudes span more than three decades; None (use a linear axis) otherwise.
pub fn symlog_threshold(values: &[f64]) -> Option<f64> {
    let mut a: Vec<f64> = values
        .iter()
        .map(|v| v.abs())
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if a.is_empty() {
        return None;
    }
    a.sort_by(f64::total_cmp);
    let max = a[a.len() - 1];
    let q = a[a.len() / 10];
    (max / q > 1e3).then(|| 10f64.powf((q.log10()).floor()))
}
