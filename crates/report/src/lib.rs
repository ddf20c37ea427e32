//! The `report` stage: `index.html` (self-contained: inline SVG and MathML, no network, no script, printable),
//! every figure also as its own numbered file (`fig01.svg`, `fig01.png`, ...), `report.md` (the verdicts as
//! text) and `checks.json` (one verdict per claim, with its group and the exact theory's verdict; see
//! [`checks`]).

pub mod checks;
pub mod data;
pub mod deep;
pub mod figures;
pub mod math;
pub mod plots;
pub mod raster;

use anyhow::{Context, Result, bail};
use checks::{Check, Consistency, Verdict, groups};
use data::{Fit, Flow, Sweep, read_fit, read_flow};
use figures::{Figure, Figures};
use nnqft_contract::short_hash;
use nnqft_store::{Staging, TOOL_VERSION};
use plots::esc;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const STAGE: &str = "report";

/// Write the HTML report, report.md and checks.json from fit and flow artifacts.
///
/// Exit status 0 when the report was written, whatever the verdicts; with --strict, 1 when any check fails
/// (the report is still written).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "nnqft-report", version)]
pub struct Args {
    /// Fit artifact directories (width sweeps, sigma_W sweeps, cutoff scans).
    #[arg(long = "fit", value_name = "DIR")]
    pub fits: Vec<PathBuf>,
    /// Flow artifact directories.
    #[arg(long = "flow", value_name = "DIR")]
    pub flows: Vec<PathBuf>,
    /// Moments artifact directories of deep width sweeps, one per width (the deep-network claims; see `deep`).
    #[arg(long = "moments", value_name = "DIR")]
    pub moments: Vec<PathBuf>,
    /// JSON run summary written by `cargo xtask run`: every upstream stage instance, its parameters and content hash.
    #[arg(long, value_name = "FILE")]
    pub run_info: Option<PathBuf>,
    /// Title of the report.
    #[arg(long, default_value = "nnqft report")]
    pub title: String,
    /// Exit with status 1 when any check fails.
    #[arg(long)]
    pub strict: bool,
    /// Output directory; must not exist. Written atomically.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Magnitudes outside [SCIENTIFIC_BELOW, SCIENTIFIC_FROM) are printed in scientific notation.
const SCIENTIFIC_FROM: f64 = 1e4;
const SCIENTIFIC_BELOW: f64 = 1e-3;

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(x) if x != 0.0 && (x.abs() >= SCIENTIFIC_FROM || x.abs() < SCIENTIFIC_BELOW) => {
            format!("{x:.3e}")
        }
        Some(x) => format!("{x:.4}"),
        None => "–".into(),
    }
}

/// Issue 16's precision of one estimator: the largest width with four-point combinations that carry a standard
/// error, and the median over those combinations of gc_stderr / |gc|.
pub fn median_rse4(f: &data::Fit, e: data::Estimator) -> Option<(f64, f64)> {
    let rse = |c: &&nnqft_contract::fit::ComboRow| match (c.gc, c.gc_stderr) {
        (Some(g), Some(se)) if g != 0.0 && c.n == 4 && c.estimator == e => Some(se / g.abs()),
        _ => None,
    };
    let x = f
        .combos
        .iter()
        .filter(|c| rse(c).is_some())
        .map(|c| c.x)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))?;
    let mut v: Vec<f64> = f
        .combos
        .iter()
        .filter(|c| c.x == x)
        .filter_map(|c| rse(&c))
        .collect();
    v.sort_by(f64::total_cmp);
    let k = v.len();
    let median = if k % 2 == 1 {
        v[k / 2]
    } else {
        (v[k / 2 - 1] + v[k / 2]) / 2.0
    };
    Some((x, median))
}

/// The outcome of a run: checks and whether any failed.
#[derive(Debug)]
pub struct Outcome {
    pub hash: String,
    pub checks: Vec<Check>,
    pub failed: bool,
}

/// Everything a report shows, computed once from the artifacts.
#[derive(Debug)]
pub struct Report {
    pub title: String,
    pub fits: Vec<Fit>,
    pub flows: Vec<Flow>,
    pub run: Option<serde_json::Value>,
    pub checks: Vec<Check>,
    pub consistency: Vec<Consistency>,
    pub figures: Vec<Figure>,
    /// Per flow: the reason there is no trajectory figure (HTML), or empty.
    flow_notes: Vec<String>,
}

impl Report {
    pub fn new(title: &str, fits: Vec<Fit>, flows: Vec<Flow>, run: Option<serde_json::Value>) -> Self {
        let (mut checks, mut consistency) = (vec![], vec![]);
        for f in &fits {
            let a = checks::assess(f);
            checks.extend(a.checks);
            consistency.extend(a.consistency);
        }
        let mut figs = Figures::default();
        for f in &fits {
            match f.sweep {
                Sweep::Width => figures::width(f, &mut figs),
                Sweep::SigmaW => figures::sigma(f, &flows, &mut figs),
                Sweep::Cutoff => figures::cutoff(f, &consistency, &mut figs),
                Sweep::None => {}
                #[allow(unreachable_patterns)]
                _ => figures::generic(f, &mut figs),
            }
        }
        let flow_notes = flows
            .iter()
            .map(|fl| figures::flow(fl, &fits, &mut figs))
            .collect();
        Report {
            title: title.into(),
            fits,
            flows,
            run,
            checks,
            consistency,
            figures: figs.list,
            flow_notes,
        }
    }

    /// Writes index.html, report.md, checks.json and the figure files into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let w = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).with_context(|| format!("writing {name}"))
        };
        w(
            "checks.json",
            (serde_json::to_string_pretty(&self.checks)? + "\n").as_bytes(),
        )?;
        w("report.md", self.markdown().as_bytes())?;
        w("index.html", self.html().as_bytes())?;
        let r = raster::Rasteriser::new();
        for f in &self.figures {
            w(&format!("{}.svg", f.stem()), f.svg.as_bytes())?;
            w(&format!("{}.png", f.stem()), &r.png(&f.svg)?)?;
        }
        Ok(())
    }

    /// Summary line: groups by verdict, claims in all, consistency checks.
    pub fn counts(&self) -> String {
        let gs = groups(&self.checks);
        let n = |v: &str| gs.iter().filter(|g| g.verdict == v).count();
        format!(
            "{} independent results: {} pass, {} fail, {} not resolvable ({} claims, re-expressions included; {} consistency check{} without verdict)",
            gs.len(),
            n("pass"),
            n("fail"),
            n("not_resolvable"),
            self.checks.len(),
            self.consistency.len(),
            if self.consistency.len() == 1 { "" } else { "s" }
        )
    }

    /// The precision of G_c^(4) at the largest width of each width sweep, per estimator (issue 16's measure: the
    /// median over combinations of the relative standard error of G_c^(4), gc_stderr / |gc| of the fit's combos
    /// table), one line each.
    pub fn precision(&self) -> Vec<String> {
        let mut v = vec![];
        for f in self.fits.iter().filter(|f| f.sweep == Sweep::Width) {
            let per: Vec<String> = data::Estimator::ALL
                .into_iter()
                .filter_map(|e| {
                    let (x, median) = median_rse4(f, e)?;
                    Some(format!(
                        "{} ({}, N = {})",
                        fmt(Some(median)),
                        figures::estimator_label(e),
                        x
                    ))
                })
                .collect();
            if !per.is_empty() {
                v.push(format!(
                    "{}: median over combinations of the relative standard error of $G_c^(4)$ at the largest width {}",
                    f.label,
                    per.join(", ")
                ));
            }
        }
        v
    }

    /// The figure of the dataset a consistency check belongs to.
    fn consistency_figure(&self, c: &Consistency) -> Option<usize> {
        let fit = self
            .fits
            .iter()
            .find(|f| c.id.ends_with(&format!("[{}]", f.tag)))?;
        self.figures
            .iter()
            .find(|g| g.section == fit.label)
            .map(|g| g.number)
    }

    /// Claims the exact theory contradicts (exact_verdict fail), with the Monte Carlo verdict beside; once per
    /// claim (not again for another estimator's copy, id suffix `/<estimator>`).
    fn contradicted(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.exact_verdict == Some(Verdict::Fail) && checks::base_id(&c.id) == c.id)
            .collect()
    }

    /// report.md: verdicts by group and the run summary as text (snapshot-tested).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# {}\n\n{TOOL_VERSION}\n\n## Verdicts\n\n{}\n",
            self.title,
            self.counts()
        );
        for p in self.precision() {
            let _ = writeln!(s, "- Precision: {}.", math::plain(&p));
        }
        for c in self.contradicted() {
            let _ = writeln!(
                s,
                "- **Exact theory contradicts** {} ({}): {} (Monte Carlo verdict: {}).",
                math::plain(&c.claim),
                c.id,
                exact_reason(c),
                c.verdict
            );
        }
        let _ = writeln!(
            s,
            "\n| group verdict | verdict | exact theory | id | claim | estimator | measured | 95% interval | exact | prediction |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for g in groups(&self.checks) {
            for (i, c) in g.members.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | [{}, {}] | {} | {} |",
                    if i == 0 {
                        g.verdict.as_str()
                    } else {
                        "(same group)"
                    },
                    c.verdict,
                    c.exact_verdict.map_or("–", Verdict::as_str),
                    c.id,
                    math::plain(&c.claim),
                    c.estimator.unwrap_or("–"),
                    fmt(c.measured),
                    fmt(c.ci_low),
                    fmt(c.ci_high),
                    fmt(c.exact),
                    prediction(&c.prediction)
                );
            }
        }
        let _ = writeln!(s, "\n### Notes\n");
        for c in &self.checks {
            let _ = writeln!(s, "- **{}** ({}): {}", c.id, c.verdict, c.note);
        }
        if !self.consistency.is_empty() {
            let _ = writeln!(s, "\n## Consistency checks (no verdict)\n");
            for c in &self.consistency {
                let _ = writeln!(
                    s,
                    "- **{}**: {} measured {}. {}",
                    c.id,
                    math::plain(&c.claim),
                    fmt(c.measured),
                    c.note
                );
            }
        }
        let _ = writeln!(s, "\n## Figures\n");
        for f in &self.figures {
            let _ = writeln!(
                s,
                "{}. {} ({}): `{}.svg`, `{}.png`",
                f.number,
                plots::plain(&f.title),
                f.section,
                f.stem(),
                f.stem()
            );
        }
        let _ = writeln!(s, "\n## Data\n");
        for f in &self.fits {
            let _ = writeln!(
                s,
                "- {}: fit artifact {} ({} bootstrap replicates)",
                f.label,
                short_hash(&f.hash),
                f.bootstrap
            );
        }
        for f in &self.flows {
            let _ = writeln!(s, "- flow artifact {}: {}", short_hash(&f.hash), f.stop());
        }
        if let Some(r) = &self.run {
            let _ = writeln!(s, "\n## Run\n\n{}", run_table_md(r));
        }
        s
    }

    /// index.html: self-contained.
    pub fn html(&self) -> String {
        let mut h = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n<p>{} &middot; {}</p>\n",
            esc(&self.title),
            esc(&self.title),
            esc(TOOL_VERSION),
            esc(&self.counts())
        );
        let precision = self.precision();
        if !precision.is_empty() {
            h += "<p class=\"precision\">";
            h += &precision
                .iter()
                .map(|p| math::html(p))
                .collect::<Vec<_>>()
                .join("<br>");
            h += "</p>\n";
        }
        let contra = self.contradicted();
        if !contra.is_empty() {
            h += "<div class=\"exact\"><b>Exact theory decides</b> (whatever the data can resolve):<ul>";
            for c in contra {
                let _ = write!(
                    h,
                    "<li>{} <small>({})</small>: {}; Monte Carlo verdict: <b>{}</b>.</li>",
                    math::html(&c.claim),
                    esc(&c.id),
                    esc(&exact_reason(c)),
                    c.verdict.as_str().replace('_', " ")
                );
            }
            h += "</ul></div>\n";
        }
        // Contents.
        h += "<nav><h2>Contents</h2><ol><li><a href=\"#verdicts\">Verdicts</a></li><li><a href=\"#figures\">Figures</a><ol>";
        for f in &self.figures {
            let _ = write!(
                h,
                "<li value=\"{}\"><a href=\"#fig-{}\">{}</a> <small>({}; <a href=\"{}.svg\">SVG</a>, <a href=\"{}.png\">PNG</a>)</small></li>",
                f.number,
                f.number,
                plots::html_label(&f.title),
                esc(&f.section),
                f.stem(),
                f.stem()
            );
        }
        h += "</ol></li>";
        if !self.consistency.is_empty() {
            h += "<li><a href=\"#consistency\">Consistency checks (no verdict)</a></li>";
        }
        if !self.flows.is_empty() {
            h += "<li><a href=\"#flow\">Renormalisation-group flow: fixed points</a></li>";
        }
        h += "<li><a href=\"#run\">Run summary</a></li></ol></nav>\n";
        h += &self.verdict_table();
        h += "<h2 id=\"figures\">Figures</h2>\n";
        let mut section = "";
        for f in &self.figures {
            if f.section != section {
                section = &f.section;
                let _ = writeln!(h, "<h3>{}</h3>", esc(section));
            }
            let _ = writeln!(
                h,
                "<figure id=\"fig-{}\">{}<figcaption><b>Figure {}.</b> {} <small>(<a href=\"{}.svg\">SVG</a>, <a href=\"{}.png\">PNG</a>)</small></figcaption></figure>",
                f.number,
                f.svg,
                f.number,
                math::html(&f.caption),
                f.stem(),
                f.stem()
            );
        }
        for note in &self.flow_notes {
            h += note;
        }
        if !self.consistency.is_empty() {
            h += "<h2 id=\"consistency\">Consistency checks (no verdict)</h2>\n<p>Statements the data cannot contradict: the bootstrap over bags does not move them. They are shown, not counted.</p><table><tr><th>claim</th><th>value</th><th>95% interval</th><th>exact</th><th>why it is not a verdict</th></tr>\n";
            for c in &self.consistency {
                let fig = self
                    .consistency_figure(c)
                    .map(|n| format!(" (<a href=\"#fig-{n}\">Figure {n}</a>)"))
                    .unwrap_or_default();
                let _ = writeln!(
                    h,
                    "<tr><td>{}{fig}<br><small>{}</small></td><td>{}</td><td>[{}, {}]</td><td>{}</td><td>{}</td></tr>",
                    math::html(&c.claim),
                    esc(&c.id),
                    fmt(c.measured),
                    fmt(c.ci_low),
                    fmt(c.ci_high),
                    fmt(c.exact),
                    esc(&c.note)
                );
            }
            h += "</table>\n";
        }
        for fl in &self.flows {
            h += "<h2 id=\"flow\">Renormalisation-group flow: fixed points</h2>\n";
            h += &fixed_points(fl);
        }
        h += &self.run_summary();
        h += "</body></html>\n";
        h
    }

    fn verdict_table(&self) -> String {
        let mut h = String::from(
            "<h2 id=\"verdicts\">Verdicts</h2>\n<p>One result per independent measured number: claims that re-express one number (the same fit in another normalisation, or over a range that holds the same points, or the same quantity from the other estimator of the Green functions) form a group, drawn together; the group's verdict is <i>fail</i> if any member fails, else <i>not resolvable</i> if any member from the first member's estimator is. Where a fit has both estimators, claims are decided by the conditional-Gaussian one (the last layer integrated out, PHYSICS.md 9) and the products of <i>f</i> (the papers' estimator) are shown beside it. <i>pass</i>: the prediction lies in the 95% bootstrap interval; <i>fail</i>: it does not; <i>not resolvable</i>: the tail rule leaves too few points, or the interval holds both the prediction and the alternative (no scaling). Notes give the numbers behind each excluded point: ESS is the smallest effective sample size (sum |p|)<sup>2</sup>/sum p<sup>2</sup> of the per-network products over the combinations, against its threshold; for GaussNet, the hidden units drawn over exp(n<sup>2</sup> s<sub>max</sub>/2) against its threshold. <i>Exact theory</i>: the same claim applied to the exact values.</p>\n<table class=\"verdicts\"><tr><th>result</th><th>claim, id and note</th><th>verdict</th><th>exact theory</th><th>measured</th><th>95% interval</th><th>exact</th><th>prediction</th></tr>\n",
        );
        for g in groups(&self.checks) {
            for (i, c) in g.members.iter().enumerate() {
                let lead = if i == 0 {
                    format!(
                        "<td rowspan=\"{}\" class=\"{}\"><b>{}</b>{}</td>",
                        g.members.len(),
                        g.verdict,
                        g.verdict.as_str().replace('_', " "),
                        if g.members.len() > 1 {
                            format!("<br><small>{} claims, one number</small>", g.members.len())
                        } else {
                            String::new()
                        }
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    h,
                    "<tr{}>{lead}<td class=\"claim\">{}{} <small class=\"id\">{}</small><div class=\"note\">{}</div></td><td class=\"{}\">{}</td><td class=\"{}\">{}</td><td>{}</td><td>[{},&nbsp;{}]</td><td>{}</td><td>{}</td></tr>",
                    if i > 0 { " class=\"reexpr\"" } else { "" },
                    match (i, c.estimator) {
                        (0, _) => String::new(),
                        (_, Some(e)) if Some(e) != g.members[0].estimator => {
                            format!("↳ {e} estimator: ")
                        }
                        _ => "↳ re-expression: ".into(),
                    },
                    math::html(&c.claim),
                    esc(&c.id),
                    esc(&c.note),
                    c.verdict,
                    c.verdict.as_str().replace('_', " "),
                    c.exact_verdict.map_or("", Verdict::as_str),
                    c.exact_verdict.map_or("–", Verdict::as_str),
                    fmt(c.measured),
                    fmt(c.ci_low),
                    fmt(c.ci_high),
                    fmt(c.exact),
                    esc(&prediction(&c.prediction))
                );
            }
        }
        h += "</table>\n";
        h
    }

    fn run_summary(&self) -> String {
        let mut h = String::from(
            "<details id=\"run\"><summary><b>Run summary</b> (pipeline, stage instances, parameters, content hashes)</summary>\n",
        );
        if let Some(r) = &self.run {
            let _ = writeln!(
                h,
                "<p>pipeline <b>{}</b> (wall times are in the store's lock file and the run's output)</p><table><tr><th>stage instance</th><th>parameters</th><th>content hash</th></tr>",
                esc(r["pipeline"].as_str().unwrap_or("?")),
            );
            for st in r["stages"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td><small>{}</small></td><td><code>{}</code></td></tr>",
                    esc(st["name"].as_str().unwrap_or("?")),
                    esc(&st["params"].to_string()),
                    esc(st["content"].as_str().unwrap_or("?")),
                );
            }
            h += "</table>\n";
        }
        h += "<table><tr><th>dataset</th><th>statistics</th><th>fit artifact</th></tr>";
        for f in &self.fits {
            let s0 = &f.sample[0];
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{} bags x {} nets per point, {} bootstrap replicates</td><td><code>{}</code></td></tr>",
                esc(&f.label),
                s0["n_bags"],
                s0["n_nets"],
                f.bootstrap,
                &f.hash
            );
        }
        h += "</table>\n<p>Background = standard deviation of the per-bag estimates (the papers' convention), sqrt(bags) larger than the standard error of the mean; intervals are 95% percentile bootstraps over bags that recompute the whole chain.</p>\n</details>\n";
        h
    }
}

fn prediction(p: &serde_json::Value) -> String {
    match p {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k} = {}", fmt(v.as_f64())))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Why the exact theory contradicts a claim.
fn exact_reason(c: &Check) -> String {
    if c.exact_reason.is_empty() {
        format!("the exact value {} contradicts the claim", fmt(c.exact))
    } else {
        c.exact_reason.clone()
    }
}

pub fn run(args: &Args) -> Result<Outcome> {
    if args.out.exists() {
        bail!(
            "--out {}: already exists; give a new directory",
            args.out.display()
        );
    }
    if args.fits.is_empty() && args.flows.is_empty() && args.moments.is_empty() {
        bail!("nothing to report: give at least one --fit, --flow or --moments artifact");
    }
    let fits: Vec<Fit> = args.fits.iter().map(|d| read_fit(d)).collect::<Result<_>>()?;
    let flows: Vec<Flow> = args.flows.iter().map(|d| read_flow(d)).collect::<Result<_>>()?;
    let run_info: Option<serde_json::Value> = match &args.run_info {
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("{}: not valid JSON", p.display()))?,
        ),
        None => None,
    };
    if let (Some(r), Some(p)) = (&run_info, &args.run_info) {
        check_run_summary(r).with_context(|| format!("{}: not a run summary", p.display()))?;
    }
    let mut report = Report::new(&args.title, fits, flows, run_info);
    let moments = (args.moments.iter())
        .map(|d| nnqft_moments::read_moments(d).with_context(|| format!("--moments {}", d.display())))
        .collect::<Result<Vec<_>>>()?;
    deep::extend(&mut report, &deep::sweeps(&moments)?)?;
    let staging = Staging::new(&args.out)?;
    report.write(staging.path())?;
    let failed = report.checks.iter().any(|c| c.verdict == Verdict::Fail);
    Ok(Outcome {
        hash: staging.publish()?,
        checks: report.checks,
        failed,
    })
}

/// A run summary must name its pipeline and give every stage instance a name and a content hash (the report
/// shows them; nothing is made up for a missing one).
pub fn check_run_summary(r: &serde_json::Value) -> Result<()> {
    r["pipeline"]
        .as_str()
        .context("\"pipeline\" is missing or not a string")?;
    let stages = r["stages"]
        .as_array()
        .context("\"stages\" is missing or not a list")?;
    for (i, st) in stages.iter().enumerate() {
        for key in ["name", "content"] {
            st[key]
                .as_str()
                .with_context(|| format!("stages[{i}].{key} is missing or not a string"))?;
        }
    }
    Ok(())
}

fn run_table_md(r: &serde_json::Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pipeline: {}\n\n| stage instance | content |\n|---|---|",
        r["pipeline"].as_str().unwrap_or("?")
    );
    for st in r["stages"].as_array().into_iter().flatten() {
        let _ = writeln!(
            s,
            "| {} | {} |",
            st["name"].as_str().unwrap_or("?"),
            st["content"].as_str().map(short_hash).unwrap_or("?"),
        );
    }
    s
}

const CSS: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1100px;margin:auto;padding:1em;color:#222;line-height:1.4}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
.pass{background:#dff3df}.fail{background:#f8d8d8}.not_resolvable{background:#f3efd4}
tr.reexpr td{color:#555}td.claim{min-width:22em}.note{font-size:0.9em;color:#555;margin-top:0.2em}small.id{color:#777}
.exact{border:2px solid #b33;background:#fdf0f0;padding:0.3em 1em;margin:1em 0}
.warning{border-left:4px solid #c90;background:#fbf6e6;padding:0.4em 0.8em}
nav ol ol{font-size:0.9em}
figure{margin:1.5em 0;page-break-inside:avoid}figure svg{max-width:100%;height:auto}figcaption{font-size:0.9em;color:#333;max-width:720px}
details{margin:1.5em 0}summary{cursor:pointer}
@media print{body{max-width:none}details{display:block}}";

/// The fixed points of a flow and their stability exponents.
fn fixed_points(fl: &Flow) -> String {
    let mut h = String::from(
        "<table><tr><th>fixed point (ū<sub>2</sub>, ū<sub>4</sub>, ū<sub>6</sub>)</th><th>Gaussian</th><th>stability exponents</th></tr>",
    );
    for (u, g, e) in &fl.fixed {
        let ex: Vec<String> = e
            .iter()
            .map(|(re, im)| {
                if *im == 0.0 {
                    format!("{re:.4}")
                } else {
                    format!("{re:.4}{im:+.4}i")
                }
            })
            .collect();
        let _ = write!(
            h,
            "<tr><td>({:.5}, {:.5}, {:.5})</td><td>{}</td><td>{}</td></tr>",
            u[0],
            u[1],
            u[2],
            if *g { "yes" } else { "no" },
            ex.join(", ")
        );
    }
    h += "</table>\n";
    h
}
