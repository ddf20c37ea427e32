//! The command line of `cargo xtask`: argument parsing and one function per command.

use crate::exec::{self, ProgressFormat, RunOpts};
use crate::kind::StageKind;
use crate::plan::{self, Binaries, State};
use crate::{archive, identity, pipeline, slurm, store};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use pipeline::{Pipeline, Set};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::Store;

/// Run nnqft pipelines with every stage cached by hash, and look after the artifact store.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version)]
struct Cli {
    /// Artifact store (default: $NNQFT_STORE, else artifacts/ in the repository).
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build the stage binaries (release), then run what is not cached; prints where the report is.
    Run {
        /// Pipeline name (pipelines/NAME.toml) or path to a pipeline file.
        name: String,
        /// Stage instances run in parallel (local executor; under Slurm the scheduler decides). Each stage uses
        /// every core; two at a time overlap one stage's serial phases (start-up, hashing, writing) with
        /// another's computation: the paper run took 200 s with 2 against 233 s with 1.
        #[arg(short, long, default_value_t = 2)]
        jobs: usize,
        /// Re-run this stage (block name, stage kind or instance id) and everything that depends on it.
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Check every instance's parameters and print the plan (cached / will run, and why, with each
        /// command line) without running anything.
        #[arg(long)]
        dry_run: bool,
        /// Override a parameter of a stage block without editing the file (repeatable), e.g.
        /// `--set sample_width.n_nets=5000 --set sample_width.arch=erf`; a swept parameter becomes the one
        /// value. Results are cached under their own keys, and the run keeps a lock of its own
        /// (`locks/NAME.set-HASH.json`), so the pipeline's own lock is untouched.
        #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
        sets: Vec<Set>,
        /// Progress as lines for people (`human`) or one JSON object per line (`json`: events cached,
        /// running, submitted, done, failed, skipped, cancelled with the instance id).
        #[arg(long, value_enum, default_value_t = ProgressFormat::Human)]
        progress: ProgressFormat,
        /// Where stages run: here (`local`), or as Slurm batch jobs (`slurm`; the store must be on a filesystem
        /// every node sees).
        #[arg(long, value_enum, default_value_t = Executor::Local)]
        executor: Executor,
        /// Slurm partition of every job (overrides the pipeline's [slurm] and per-stage settings).
        #[arg(long, value_name = "NAME")]
        partition: Option<String>,
        /// Slurm time limit of every job, e.g. 02:00:00 (default: the pipeline's, else 01:00:00).
        #[arg(long, value_name = "TIME")]
        time: Option<String>,
        /// CPUs per Slurm job (default: the pipeline's, else 2); stages use that many threads.
        #[arg(long, value_name = "N")]
        cpus: Option<u32>,
        /// Memory per Slurm job, e.g. 8G (default: the pipeline's, else the cluster's).
        #[arg(long, value_name = "SIZE")]
        mem: Option<String>,
    },
    /// The body of one Slurm job (used by `run --executor slurm`; not for direct use).
    #[command(hide = true)]
    Job {
        rundir: PathBuf,
        /// blake3 of RUNDIR/plan.json as submitted (the job refuses a plan changed since).
        #[arg(long, required = true)]
        plan_hash: String,
        #[arg(long, value_delimiter = ',', required = true)]
        indices: Vec<usize>,
        #[arg(long)]
        array: bool,
    },
    /// For every stage instance: cached, or stale and why (parameter, input or binary changed). Exit code 0
    /// when everything is cached, 3 when something is stale, 1 on an error.
    Status {
        name: String,
        /// One JSON object per instance (`instance`, `stage`, `kind`, `state`, `content`, `reasons`).
        #[arg(long)]
        json: bool,
    },
    /// Where each instance's result is in the store (its object directory), with its parameters.
    Show {
        /// Pipeline name or file.
        name: String,
        /// Only this instance (an id such as `sample_width[width=2]`) or stage block.
        instance: Option<String>,
        /// A JSON array instead of lines (`instance`, `stage`, `kind`, `params`, `path` or null).
        #[arg(long)]
        json: bool,
    },
    /// The shipped pipelines (pipelines/*.toml) with their descriptions.
    List,
    /// Remove objects that no pipeline lock reaches.
    Gc {
        /// Only print what would be removed and how many bytes.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-hash every stored object, quarantine what is damaged (corrupt/, recomputed by the next run) and
    /// report stray files and lock entries whose object is missing; non-zero exit on any finding.
    Verify,
    /// Write a deterministic tarball of a pipeline's lock, artifacts, checksums and provenance.
    Archive {
        name: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Verify an archive and import it into the store, so that `run` finds its stages cached.
    Import {
        file: PathBuf,
        /// Record the imported lock under this pipeline name instead of the archive's.
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Replace a different lock of the same name (its objects become garbage for gc).
        #[arg(long)]
        force: bool,
    },
    /// Run the benchmarks (release build) and print their figures.
    Bench {
        /// sample, moments or all.
        #[arg(default_value = "all")]
        which: String,
        /// Repetitions (rounds of the sample benchmark).
        #[arg(long)]
        repeat: Option<usize>,
        /// Cap the sampling loops' vector level: baseline, avx2 or avx512 (same output bits at every level).
        #[arg(long)]
        simd: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Executor {
    Local,
    Slurm,
}

/// Exit code of `status` when something is stale.
const EXIT_STALE: u8 = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn pipeline_path(name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    if p.extension().is_some_and(|e| e == "toml") || p.components().count() > 1 {
        p
    } else {
        root().join("pipelines").join(format!("{name}.toml"))
    }
}

/// Stage binaries: $NNQFT_BIN_DIR as they are, or a release build of the workspace's.
fn binaries(build: bool) -> Result<Binaries> {
    let root = root();
    if let Some(dir) = std::env::var_os("NNQFT_BIN_DIR") {
        return Ok(Binaries {
            dir: PathBuf::from(dir),
            identity: identity::identities(&root, "external")?,
        });
    }
    if build {
        eprintln!("building stage binaries (release) ...");
        let mut c = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(&root).args(["build", "--release", "--quiet"]);
        for k in StageKind::ALL {
            c.args(["-p", &k.package()]);
        }
        if !c.status().context("running cargo build")?.success() {
            bail!("building the stage binaries failed");
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(Binaries {
        dir: target.join("release"),
        identity: identity::identities(&root, "release")?,
    })
}

fn store_root(cli: &Cli) -> PathBuf {
    cli.store
        .clone()
        .or_else(|| std::env::var_os("NNQFT_STORE").map(PathBuf::from))
        .unwrap_or_else(|| root().join("artifacts"))
}

/// Parses the command line, runs the command, prints the error chain; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(&cli) {
        Ok(code) => code,
        // A full disk is said plainly, naming what was being written (the archive, else the store).
        Err(e) => {
            let out = match &cli.cmd {
                Cmd::Archive { out, .. } => out.clone(),
                _ => store_root(&cli),
            };
            nnqft_store::cli::fail("xtask", Some(&out), &e)
        }
    }
}

/// The shipped pipelines: (name, description).
fn shipped() -> Vec<(String, Option<String>)> {
    let dir = root().join("pipelines");
    let mut v: Vec<(String, Option<String>)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let p = e.path();
                    if p.extension()? != "toml" {
                        return None;
                    }
                    let name = p.file_stem()?.to_string_lossy().into_owned();
                    let desc = Pipeline::load(&p, &dir, &[]).ok().and_then(|q| q.description);
                    Some((name, desc))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn load(name: &str, sets: &[Set]) -> Result<Pipeline> {
    let path = pipeline_path(name);
    if !path.exists() && !name.ends_with(".toml") && !name.contains('/') {
        let known: Vec<String> = shipped().into_iter().map(|(n, _)| n).collect();
        bail!(
            "no pipeline named {name:?} (pipelines/{name}.toml does not exist); the shipped pipelines are: {} \
             (`cargo xtask list` describes them); or give the path of a pipeline file",
            known.join(", ")
        );
    }
    Pipeline::load(&path, &root().join("pipelines"), sets)
}

fn real_main(cli: &Cli) -> Result<ExitCode> {
    if let Cmd::List = cli.cmd {
        for (name, desc) in shipped() {
            crate::outln!("{name:<12} {}", desc.unwrap_or_default());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let creates = matches!(
        cli.cmd,
        Cmd::Run { .. } | Cmd::Import { .. } | Cmd::Job { .. } | Cmd::Bench { .. }
    );
    let store = if creates {
        Store::open(&store_root(cli))?
    } else {
        Store::open_existing(&store_root(cli))?
    };
    match &cli.cmd {
        Cmd::Run {
            name,
            jobs,
            force,
            dry_run,
            sets,
            progress,
            executor,
            partition,
            time,
            cpus,
            mem,
        } => {
            let flags = pipeline::Resources {
                partition: partition.clone(),
                time: time.clone(),
                cpus: *cpus,
                mem: mem.clone(),
            };
            if *executor == Executor::Local && flags != pipeline::Resources::default() {
                bail!("--partition, --time, --cpus and --mem apply to --executor slurm only");
            }
            if cpus == &Some(0) {
                bail!("--cpus 0 is invalid: give at least 1");
            }
            let p = load(name, sets)?;
            let opts = RunOpts {
                jobs: *jobs,
                force: force.clone(),
                progress: *progress,
            };
            cmd_run(
                &store,
                &p,
                &opts,
                *dry_run,
                (*executor == Executor::Slurm).then_some(&flags),
            )
        }
        Cmd::Job {
            rundir,
            plan_hash,
            indices,
            array,
        } => {
            slurm::job(&store, rundir, plan_hash, indices, *array)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { name, json } => cmd_status(&store, &load(name, &[])?, *json),
        Cmd::Show { name, instance, json } => cmd_show(&store, &load(name, &[])?, instance.as_deref(), *json),
        Cmd::List => unreachable!("handled above"),
        Cmd::Gc { dry_run } => cmd_gc(&store, *dry_run),
        Cmd::Verify => cmd_verify(&store),
        Cmd::Archive { name, out } => {
            let p = load(name, &[])?;
            let bins = binaries(false)?;
            let _lock = store.lock()?;
            let n = archive::archive(&store, &p, &bins.identity, &root(), out)?;
            crate::outln!("archived {} ({n} files) to {}", p.name, out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Import { file, as_name, force } => {
            let _lock = store.lock()?;
            // tmp/ was just emptied: jobs of an interrupted Slurm run have lost their run directory.
            slurm::cancel_leftovers(&store);
            let shipped: Vec<String> = shipped().into_iter().map(|(n, _)| n).collect();
            let name = archive::import(&store, file, as_name.as_deref(), *force, &shipped)?;
            crate::outln!(
                "imported pipeline {name} from {} into {}",
                file.display(),
                store.root.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench { which, repeat, simd } => {
            let mut cmd =
                std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.current_dir(root())
                .args(["run", "--release", "--quiet", "-p", "nnqft-bench", "--", which]);
            if let Some(r) = repeat {
                cmd.arg(format!("--repeat={r}"));
            }
            if let Some(l) = simd {
                cmd.arg(format!("--simd={l}"));
            }
            Ok(if cmd.status()?.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `run`: validate, then the plan (`--dry-run`) or the run under the local or (with `slurm` resources) the
/// Slurm executor; prints where the report is.
fn cmd_run(
    store: &Store,
    p: &Pipeline,
    opts: &RunOpts,
    dry_run: bool,
    slurm: Option<&pipeline::Resources>,
) -> Result<ExitCode> {
    let bins = binaries(true)?;
    exec::validate(p, &bins)?;
    if dry_run {
        let forced = plan::forced_mask(p, &opts.force)?;
        exec::print_plan(p, store, &bins, &forced)?;
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = store.lock()?;
    slurm::cancel_leftovers(store);
    let t0 = std::time::Instant::now();
    let report = match slurm {
        Some(flags) => slurm::run(p, store, &bins, &opts.force, flags, opts.progress)?,
        None => exec::run(p, store, &bins, opts)?,
    };
    let progress = exec::Progress {
        format: opts.progress,
        total: p.instances.len(),
    };
    progress.note(&format!(
        "{}: {} stage instances in {:.2} s",
        p.name,
        p.instances.len(),
        t0.elapsed().as_secs_f64()
    ));
    if let Some(r) = report {
        let dir = store.object(&r);
        match opts.progress {
            ProgressFormat::Json => crate::outln!(
                "{}",
                serde_json::json!({"event": "report", "path": dir.join("index.html")})
            ),
            ProgressFormat::Human => {
                crate::outln!("report: {}", dir.join("index.html").display());
                crate::outln!(
                    "        {} and {}",
                    dir.join("report.md").display(),
                    dir.join("checks.json").display()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_status(store: &Store, p: &Pipeline, json: bool) -> Result<ExitCode> {
    let bins = binaries(false)?;
    let forced = vec![false; p.instances.len()];
    let states = plan::assess(p, store, &bins, &forced)?;
    let stale = states.iter().any(|s| matches!(s, State::Run(_)));
    if json {
        for (inst, st) in p.instances.iter().zip(&states) {
            let (state, content, reasons) = match st {
                State::Cached(c) => ("cached", Some(c.as_str()), vec![]),
                State::Run(r) => ("stale", None, r.clone()),
            };
            crate::outln!(
                "{}",
                serde_json::json!({"instance": inst.id, "stage": inst.stage, "kind": inst.kind,
                    "state": state, "content": content, "reasons": reasons})
            );
        }
    } else {
        crate::outln!("status of {} ({} stage instances):", p.name, p.instances.len());
        for (inst, st) in p.instances.iter().zip(&states) {
            match st {
                State::Cached(c) => crate::outln!("  cached  {}  ({})", inst.id, crate::names::short(c)),
                State::Run(r) => crate::outln!("  stale   {}: {}", inst.id, r.join("; ")),
            }
        }
    }
    Ok(if stale {
        ExitCode::from(EXIT_STALE)
    } else {
        ExitCode::SUCCESS
    })
}

fn cmd_show(store: &Store, p: &Pipeline, only: Option<&str>, json: bool) -> Result<ExitCode> {
    let bins = binaries(false)?;
    let forced = vec![false; p.instances.len()];
    let states = plan::assess(p, store, &bins, &forced)?;
    let picked: Vec<usize> = (0..p.instances.len())
        .filter(|&i| only.is_none_or(|o| p.instances[i].id == o || p.instances[i].stage == o))
        .collect();
    if let (Some(o), true) = (only, picked.is_empty()) {
        bail!(
            "{}: no instance or stage {o:?} (instances: {})",
            p.path.display(),
            p.instances
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let rows: Vec<serde_json::Value> = picked
        .iter()
        .map(|&i| {
            let inst = &p.instances[i];
            let path = states[i].content().map(|c| store.object(c).display().to_string());
            serde_json::json!({"instance": inst.id, "stage": inst.stage, "kind": inst.kind,
                "params": inst.params, "path": path})
        })
        .collect();
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            let path = r["path"].as_str().unwrap_or("(not computed: run the pipeline)");
            crate::outln!("{}  {path}", r["instance"].as_str().unwrap_or(""));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_gc(store: &Store, dry_run: bool) -> Result<ExitCode> {
    let _lock = store.lock()?;
    slurm::cancel_leftovers(store);
    let (count, bytes) = store.gc(dry_run, &mut |o, b| {
        crate::outln!(
            "{} {o} ({b} bytes)",
            if dry_run { "would remove" } else { "removing" }
        )
    })?;
    crate::outln!(
        "{} {count} unreachable object(s), {bytes} bytes",
        if dry_run { "gc would remove" } else { "gc removed" }
    );
    Ok(ExitCode::SUCCESS)
}

fn cmd_verify(store: &Store) -> Result<ExitCode> {
    let _lock = store.lock()?;
    slurm::cancel_leftovers(store);
    let v = store.verify_all()?;
    for l in &v.findings {
        crate::outln!("{l}");
    }
    crate::outln!(
        "verified {} object(s): {} corrupt (quarantined in {}; the next run recomputes them), {} stray \
         entr(y/ies), {} lock entr(y/ies) without their object, {} unreadable lock(s)",
        v.objects,
        v.corrupt,
        store.root.join("corrupt").display(),
        v.stray,
        v.missing,
        v.bad_locks
    );
    Ok(if v.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
