//! The report in a real browser: index.html is loaded by headless Chromium (Debian's `chromium`; `.ci/run`
//! installs it where absent), and the test fails on a console message (the page has no script, so any is an
//! error), a figure missing from the rendered DOM or from the report's files, an empty figure, or overlapping
//! text in a figure's SVG. Where no browser exists the test says so loudly and checks the files only.
//!
//! It checks a report made from synthetic artifacts, reports made from real artifacts of small ensembles (the
//! smoke pipeline's datasets, and HMS-like Erf, ReLU and GaussNet width sweeps with a ReLU cutoff scan), and
//! every report directory listed (colon-separated) in `NNQFT_BROWSER_REPORTS`, e.g. `NNQFT_BROWSER_REPORTS=artifacts/objects/<hash> cargo test -p nnqft-report --test browser`.

mod common;

use common::chain::{fit, flow as real_flow, sweep};
use common::{cutoff_fit, flow, overlaps, sigma_fit, width_fit};
use nnqft_report::Report;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one page load may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn chromium() -> Option<PathBuf> {
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs the browser on a page; returns (DOM, stderr).
fn dump_dom(bin: &Path, page: &Path) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .expect("starting the browser");
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "the browser exited with {st}");
            break;
        }
        if start.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            panic!(
                "the browser did not finish loading {} in {BROWSER_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        std::fs::read_to_string(out.path()).unwrap(),
        std::fs::read_to_string(err.path()).unwrap(),
    )
}

/// Number of marks (circles, paths, bars) inside the clipped data layers of a figure.
fn marks(svg: &str) -> usize {
    svg.split("clip-path=\"url(")
        .skip(1)
        .map(|g| {
            let g = &g[..g.find("</g>").unwrap_or(g.len())];
            ["<circle", "<path", "<rect"]
                .iter()
                .map(|m| g.matches(m).count())
                .sum::<usize>()
        })
        .sum()
}

/// The figure files fig01.svg, fig02.svg, ... of a report directory, in order.
fn figure_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("fig") && n.ends_with(".svg")
        })
        .collect();
    v.sort();
    v
}

/// Everything checked without a browser: each figure file parses, has marks, a PNG beside it, no overlapping
/// text. Returns the number of figures.
fn check_files(dir: &Path) -> usize {
    let figs = figure_files(dir);
    for (i, p) in figs.iter().enumerate() {
        let want = dir.join(format!("fig{:02}.svg", i + 1));
        assert_eq!(p, &want, "figures are numbered without gaps");
        let svg = std::fs::read_to_string(p).unwrap();
        assert!(marks(&svg) >= 2, "{}: an empty figure", p.display());
        assert_eq!(overlaps(&svg), vec![], "{}: overlapping text", p.display());
        let png = p.with_extension("png");
        let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{}: missing or empty PNG", png.display());
    }
    figs.len()
}

fn check_in_browser(bin: &Path, dir: &Path) {
    let n = check_files(dir);
    let (dom, err) = dump_dom(bin, &dir.join("index.html"));
    let console: Vec<&str> = err.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages:\n{}", console.join("\n"));
    assert!(dom.contains("</html>"), "no DOM from the browser; stderr:\n{err}");
    let figures: Vec<&str> = dom.split("<figure").skip(1).collect();
    assert_eq!(
        figures.len(),
        n,
        "figures in the page against figure files in {}",
        dir.display()
    );
    for (i, f) in figures.iter().enumerate() {
        let f = &f[..f.find("</figure>").expect("closed figure")];
        assert!(
            f.contains("<svg"),
            "figure {} has no SVG in the rendered page",
            i + 1
        );
        assert!(marks(f) >= 2, "figure {} is empty in the rendered page", i + 1);
        assert!(
            f.contains(&format!("fig{:02}.png", i + 1)),
            "figure {} does not link its PNG",
            i + 1
        );
    }
    assert!(dom.contains("<math"), "no formula in the page");
}

/// Runs every check on the report directories: in the browser where there is one, else the files only (loudly).
fn check_all(dirs: &[PathBuf]) {
    let Some(bin) = chromium() else {
        eprintln!(
            "\n\n********************************************************************************\n\
             SKIPPED the browser half of the report test: no Chromium on PATH (apt-get install chromium).\n\
             Only the figure files were checked.\n\
             ********************************************************************************\n"
        );
        for d in dirs {
            check_files(d);
        }
        return;
    };
    for d in dirs {
        check_in_browser(&bin, d);
    }
}

/// Small ensembles: 4 bags of 1000 networks.
const SMALL: [&str; 6] = ["--n-bags", "4", "--n-nets", "1000", "--seed", "1"];

/// A width sweep (N = 2, 5, 20) of small ensembles, fitted.
fn small_width(dir: &Path, arch: &str, sigma_b: &str, points: &str) -> nnqft_report::data::Fit {
    let points = format!("--points={points}");
    let mut fixed = vec!["--arch", arch, "--sigma-w", "1", "--sigma-b", sigma_b, &points];
    fixed.extend(SMALL);
    let ms = sweep(dir, &format!("w{arch}{sigma_b}"), "-N", &["2", "5", "20"], &fixed);
    fit(
        dir,
        &format!("fw{arch}{sigma_b}"),
        &ms,
        &["--sweep", "width", "--cutoff", "10"],
    )
}

/// A ReLU cutoff scan at N = 20 (sigma_b = 0, positive points).
fn small_cutoff(dir: &Path) -> nnqft_report::data::Fit {
    let mut fixed = vec![
        "--arch",
        "relu",
        "--sigma-w",
        "1",
        "--sigma-b",
        "0",
        "--points=0.2,0.4,0.6,0.8",
    ];
    fixed.extend(SMALL);
    let ms = sweep(dir, "cut", "-N", &["20"], &fixed);
    fit(
        dir,
        "fcut",
        &ms,
        &["--sweep", "cutoff", "--cutoffs", "7,10,100,1000"],
    )
}

/// Reports from real artifacts: the smoke pipeline's datasets (GaussNet width and sigma_W sweeps, a ReLU
/// cutoff scan, the flow), and an HMS-like report (Erf, ReLU and GaussNet width sweeps at the HMS points).
#[test]
fn reports_of_real_artifacts_render_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Smoke.
    let width = small_width(d, "gaussnet", "0.5", "-0.3,-0.1,0.1,0.3");
    let mut fixed = vec![
        "--arch",
        "gaussnet",
        "-N",
        "10",
        "--sigma-b",
        "0.5",
        "--points=-0.03,-0.01,0.01,0.03",
    ];
    fixed.extend(SMALL);
    let ms = sweep(d, "sig", "--sigma-w", &["1", "2", "4"], &fixed);
    let sigma = fit(d, "fsig", &ms, &["--sweep", "sigma-w", "--ranges", "2"]);
    let fl = real_flow(d, "flow", &sigma);
    let cutoff = small_cutoff(d);
    let smoke = Report::new("smoke", vec![width, sigma, cutoff.clone()], vec![fl], None);
    assert!(
        smoke
            .figures
            .iter()
            .any(|f| f.title.starts_with("Passive RG flow")),
        "the smoke report draws a flow (from the resolvable or the exact couplings)"
    );
    let smoke_dir = d.join("smoke-report");
    std::fs::create_dir(&smoke_dir).unwrap();
    smoke.write(&smoke_dir).unwrap();
    // HMS-like.
    let hms = Report::new(
        "hms",
        vec![
            small_width(d, "erf", "0", "-1,-0.6,-0.2,0.2,0.6,1"),
            small_width(d, "relu", "0", "0.2,0.4,0.6,0.8,1.0,1.2"),
            small_width(d, "gaussnet", "1", "-0.01,-0.006,-0.002,0.002,0.006,0.01"),
            cutoff,
        ],
        vec![],
        None,
    );
    let hms_dir = d.join("hms-report");
    std::fs::create_dir(&hms_dir).unwrap();
    hms.write(&hms_dir).unwrap();
    check_all(&[smoke_dir, hms_dir]);
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let report = Report::new(
        "browser test",
        vec![width_fit(), sigma_fit(), cutoff_fit()],
        vec![flow(&[])],
        None,
    );
    report.write(tmp.path()).unwrap();
    let mut dirs = vec![tmp.path().to_path_buf()];
    if let Some(v) = std::env::var_os("NNQFT_BROWSER_REPORTS") {
        dirs.extend(std::env::split_paths(&v));
    }
    check_all(&dirs);
}

#[test]
fn the_empty_figure_check_can_fail() {
    use nnqft_report::plots::{Axis, Panel, Scale, figure};
    let empty = figure(
        "e",
        "nothing drawn",
        &[Panel {
            title: None,
            x: Axis::new("x", Scale::Linear),
            y: Axis::new("y", Scale::Log),
            series: vec![],
        }],
    );
    assert_eq!(marks(&empty), 0);
    let r = Report::new("t", vec![width_fit()], vec![], None);
    assert!(r.figures.iter().all(|f| marks(&f.svg) >= 2));
}
