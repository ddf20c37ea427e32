//! SVG charts drawn with plotters into strings, embedded inline in the HTML (no network, no files).
//!
//! Log axes are drawn as log10 of the value on a linear axis, labelled "log10 ..." so that slopes read off
//! the chart directly.

use plotters::prelude::*;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// Markers, with vertical error bars where given.
    Points,
    /// A solid line.
    Line,
    /// A dashed line (predictions, the background).
    Dashed,
}

/// A plotted point: (x, y, optional error bar (lo, hi)).
pub type Pt = (f64, f64, Option<(f64, f64)>);

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub style: Style,
    pub color: RGBColor,
    pub pts: Vec<Pt>,
}

pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// Axis transformation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Axis {
    Linear,
    Log,
}

fn tr(a: Axis, v: f64) -> Option<f64> {
    match a {
        Axis::Linear => v.is_finite().then_some(v),
        Axis::Log => (v.is_finite() && v > 0.0).then(|| v.log10()),
    }
}

/// Draws a chart and returns the SVG text; series points that cannot be shown on the axes are dropped.
pub fn chart(title: &str, xlabel: &str, ylabel: &str, ax: Axis, ay: Axis, series: &[Series]) -> String {
    let mut svg = String::new();
    let xl = if ax == Axis::Log {
        format!("log10 {xlabel}")
    } else {
        xlabel.to_string()
    };
    let yl = if ay == Axis::Log {
        format!("log10 {ylabel}")
    } else {
        ylabel.to_string()
    };
    let data: Vec<(Series, Vec<Pt>)> = series
        .iter()
        .map(|s| {
            let pts = s
                .pts
                .iter()
                .filter_map(|&(x, y, e)| {
                    let (x, y) = (tr(ax, x)?, tr(ay, y)?);
                    let e =
                        e.and_then(|(lo, hi)| Some((tr(ay, lo).unwrap_or(y.min(tr(ay, hi)?)), tr(ay, hi)?)));
                    Some((x, y, e))
                })
                .collect();
            (s.clone(), pts)
        })
        .collect();
    let all: Vec<(f64, f64)> = data
        .iter()
        .flat_map(|(_, p)| {
            p.iter().flat_map(|&(x, y, e)| {
                [(x, y)]
                    .into_iter()
                    .chain(e.map(|(l, h)| [(x, l), (x, h)]).into_iter().flatten())
            })
        })
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = all.iter().fold(
        (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |lo: f64, hi: f64| {
        let w = if hi > lo { hi - lo } else { 1.0 };
        (lo - 0.06 * w, hi + 0.06 * w)
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let built = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1);
        let Ok(mut c) = built else {
            return svg_fallback(title);
        };
        let _ = c
            .configure_mesh()
            .x_desc(xl)
            .y_desc(yl)
            .light_line_style(RGBColor(235, 235, 235))
            .draw();
        for (s, pts) in &data {
            let color = s.color;
            let res = match s.style {
                Style::Points => {
                    let _ = c.draw_series(pts.iter().filter_map(|&(x, _, e)| {
                        e.map(|(lo, hi)| {
                            ErrorBar::new_vertical(x, lo, (lo + hi) / 2.0, hi, color.stroke_width(1), 6)
                        })
                    }));
                    c.draw_series(
                        pts.iter()
                            .map(|&(x, y, _)| Circle::new((x, y), 3, color.filled())),
                    )
                }
                Style::Line => c.draw_series(LineSeries::new(
                    pts.iter().map(|&(x, y, _)| (x, y)),
                    color.stroke_width(2),
                )),
                Style::Dashed => c.draw_series(DashedLineSeries::new(
                    pts.iter().map(|&(x, y, _)| (x, y)),
                    6,
                    4,
                    color.stroke_width(2),
                )),
            };
            if let Ok(a) = res {
                a.label(s.label.clone())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
            }
        }
        let _ = c
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

/// Histogram of `values` for several groups, as outlined bars sharing bins.
pub fn histogram(title: &str, xlabel: &str, groups: &[(String, Vec<f64>)]) -> String {
    let all: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        return svg_fallback(title);
    }
    let bins = 30usize;
    let w = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let counts: Vec<Vec<usize>> = groups
        .iter()
        .map(|g| {
            let mut c = vec![0usize; bins];
            for v in g.1.iter().filter(|v| v.is_finite()) {
                c[(((v - lo) / w) as usize).min(bins - 1)] += 1;
            }
            c
        })
        .collect();
    let ymax = counts.iter().flatten().copied().max().unwrap_or(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut c) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(lo - w..hi + w, 0.0..ymax * 1.1)
        else {
            return svg_fallback(title);
        };
        let _ = c
            .configure_mesh()
            .x_desc(xlabel)
            .y_desc("combinations (count)")
            .draw();
        for (gi, (label, _)) in groups.iter().enumerate() {
            let color = PALETTE[gi % PALETTE.len()];
            let rects = counts[gi].iter().enumerate().map(move |(b, &n)| {
                let x = lo + b as f64 * w;
                Rectangle::new([(x, 0.0), (x + w, n as f64)], color.mix(0.35).filled())
            });
            if let Ok(a) = c.draw_series(rects) {
                a.label(label.clone())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled()));
            }
        }
        let _ = c
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

fn svg_fallback(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"60\"><text x=\"10\" y=\"30\">{}: no data to plot</text></svg>",
        crate::escape(title)
    )
}
