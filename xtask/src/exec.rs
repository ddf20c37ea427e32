//! Executing stage instances: the command line of a stage, parameter validation before anything runs, the
//! execution of one instance (shared by the local executor and a Slurm job), progress events, the state a run
//! keeps (lock, contents, report) and the local executor.

use crate::kind::StageKind;
use crate::pipeline::{Instance, Pipeline};
use crate::plan::{self, Binaries};
use crate::store::{LockEntry, PipelineLock, Store};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

/// Arguments of one stage instance after the program name: its inputs, its parameters as flags (a sample
/// stage reads them from `params_file`), the run summary of a report, and `--out`.
fn stage_args(
    inst: &Instance,
    inputs: &[(StageKind, PathBuf)],
    out: &Path,
    params_file: &Path,
    run_info: Option<&Path>,
) -> Vec<std::ffi::OsString> {
    let mut c: Vec<std::ffi::OsString> = Vec::new();
    let flag = |k: &str, v: &Value| -> Option<String> {
        let v = match v {
            Value::Bool(true) => return Some(format!("--{}", k.replace('_', "-"))),
            Value::Bool(false) | Value::Null => return None,
            Value::Array(a) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(format!("--{}={v}", k.replace('_', "-")))
    };
    let flags = |c: &mut Vec<std::ffi::OsString>| {
        for (k, v) in &inst.params {
            c.extend(flag(k, v).map(Into::into));
        }
    };
    for (kind, path) in inputs {
        c.extend(inst.kind.input_flag(*kind).map(Into::into));
        c.push(path.into());
    }
    if let Some(r) = run_info {
        c.extend(["--run-info".into(), r.into()]);
    }
    if inst.kind.params_in_file() {
        c.extend(["--params".into(), params_file.into(), "--quiet".into()]);
    } else {
        flags(&mut c);
    }
    c.extend(["--out".into(), out.into()]);
    c
}

/// Command line of one stage instance (its parameter file, if any, written into `work`).
fn command(
    inst: &Instance,
    bins: &Binaries,
    inputs: &[(StageKind, PathBuf)],
    out: &Path,
    work: &Path,
    run_info: Option<&Path>,
) -> Result<Command> {
    let pf = work.join("params.json");
    if inst.kind.params_in_file() {
        std::fs::write(&pf, serde_json::to_vec(&inst.params)?)?;
    }
    let mut c = Command::new(bins.path(inst.kind));
    c.args(stage_args(inst, inputs, out, &pf, run_info));
    Ok(c)
}

/// Most invalid instances listed in one error.
const MAX_LISTED_ERRORS: usize = 20;

/// Validates every instance's parameters with its stage binary (`nnqft-KIND --check-batch FILE`: the same
/// argument parsing and checks as a real run, with placeholder inputs, nothing read or written), one call per
/// stage kind, before anything runs. Errors cite the pipeline file and the line of the offending parameter.
pub fn validate(p: &Pipeline, bins: &Binaries) -> Result<()> {
    // Never a predictable name in a shared /tmp: another user could plant it, with links to the user's files.
    let dir = crate::store::private_temp_dir("nnqft-check")?;
    let res = validate_in(p, bins, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    res
}

fn validate_in(p: &Pipeline, bins: &Binaries, dir: &Path) -> Result<()> {
    let mut by_kind: BTreeMap<StageKind, Vec<usize>> = BTreeMap::new();
    for (i, inst) in p.instances.iter().enumerate() {
        by_kind.entry(inst.kind).or_default().push(i);
    }
    let mut errors = Vec::new();
    for (kind, members) in by_kind {
        let mut batch = Vec::new();
        for &i in &members {
            let inst = &p.instances[i];
            let pf = dir.join(format!("params-{i}.json"));
            if inst.kind.params_in_file() {
                std::fs::write(&pf, serde_json::to_vec(&inst.params)?)?;
            }
            let inputs: Vec<(StageKind, PathBuf)> = inst
                .inputs
                .iter()
                .enumerate()
                .map(|(k, &u)| (p.instances[u].kind, dir.join(format!("input-{i}-{k}"))))
                .collect();
            let info = inst.kind.reads_run_summary().then(|| dir.join("run-info.json"));
            let args: Vec<String> = stage_args(inst, &inputs, &dir.join("out"), &pf, info.as_deref())
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            batch.push(args);
        }
        let bf = dir.join(format!("batch-{kind}.json"));
        std::fs::write(&bf, serde_json::to_vec(&batch)?)?;
        let exe = bins.path(kind);
        let o = Command::new(&exe)
            .arg("--check-batch")
            .arg(&bf)
            .output()
            .with_context(|| format!("starting {} to check parameters", exe.display()))?;
        let verdicts: Vec<Option<String>> = serde_json::from_slice(&o.stdout)
            .ok()
            .filter(|v: &Vec<Option<String>>| o.status.success() && v.len() == members.len())
            .with_context(|| {
                format!(
                    "{} --check-batch gave no verdicts ({}): {}",
                    exe.display(),
                    o.status,
                    last_lines(&String::from_utf8_lossy(&o.stderr), 5)
                )
            })?;
        for (&i, v) in members.iter().zip(verdicts) {
            if let Some(msg) = v {
                let inst = &p.instances[i];
                // The line of the first parameter the message names, else the stage's header.
                let key = inst
                    .params
                    .keys()
                    .chain(std::iter::once(&"".to_string()))
                    .find(|k| {
                        let lower = msg.to_lowercase();
                        !k.is_empty() && (lower.contains(k.as_str()) || lower.contains(&k.replace('_', "-")))
                    })
                    .cloned()
                    .unwrap_or_else(|| inst.stage.clone());
                let def = p.stages.iter().find(|s| s.name == inst.stage);
                let line = def.map_or(0, |d| d.lines.get(&key).copied().unwrap_or(d.line));
                errors.push(format!(
                    "{}:{line}: stage {}: {}: {msg}",
                    p.path.display(),
                    inst.stage,
                    inst.id
                ));
            }
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        errors.truncate(MAX_LISTED_ERRORS);
        bail!(
            "{n} stage instance(s) have invalid parameters; nothing was run:\n  {}{}",
            errors.join("\n  "),
            if n > MAX_LISTED_ERRORS { "\n  ..." } else { "" }
        );
    }
    Ok(())
}

pub enum Outcome {
    Done { content: String, wall: f64 },
    Failed(String),
}

/// Where a failed instance's stderr is kept: `logs/<lock name>/<encoded instance id>.stderr`.
pub fn log_path(store: &Store, lock_name: &str, id: &str) -> PathBuf {
    store
        .root
        .join("logs")
        .join(lock_name)
        .join(format!("{}.stderr", crate::names::file_name(id)))
}

/// Runs one stage instance in `work` (which must exist) and publishes its output into the store. The same
/// code path serves the local executor and a Slurm job. `lock_name` names the log directory.
pub fn execute(
    store: &Store,
    bins: &Binaries,
    lock_name: &str,
    inst: &Instance,
    inputs: &[(StageKind, PathBuf)],
    work: &Path,
    info: Option<&str>,
) -> Outcome {
    let t0 = Instant::now();
    let log = log_path(store, lock_name, &inst.id);
    let res = (|| -> Result<Outcome> {
        let info_path = match info {
            Some(s) => {
                let path = work.join("run-info.json");
                std::fs::write(&path, s)?;
                Some(path)
            }
            None => None,
        };
        let out = work.join("out");
        let mut cmd = command(inst, bins, inputs, &out, work, info_path.as_deref())?;
        // The stage exits when this process dies (nnqft_store::cli::exit_with_parent).
        cmd.env("NNQFT_PARENT_PID", std::process::id().to_string());
        let stderr_path = work.join("stderr.log");
        let o = cmd
            .stderr(std::fs::File::create(&stderr_path)?)
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let wall = t0.elapsed().as_secs_f64();
        if !o.success() {
            let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            // Keep the log: tmp/ is cleaned at the start of the next run.
            let log_dir = store.real_dir(Path::new("logs").join(lock_name));
            // Whatever sits at the log's name (a link planted in a shared store) is replaced, never written through.
            let _ = std::fs::remove_file(&log);
            let stderr_path = if log_dir.is_ok() && std::fs::copy(&stderr_path, &log).is_ok() {
                log
            } else {
                stderr_path
            };
            let tail = last_lines(&err, 20);
            return Ok(Outcome::Failed(format!(
                "{} (stderr: {})\n{tail}",
                o,
                stderr_path.display()
            )));
        }
        Ok(Outcome::Done {
            content: store.publish(&out)?,
            wall,
        })
    })();
    res.unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")))
}

/// The last `n` lines of a log, for error messages.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// (input kind, object directory) of every input of `i`, whose contents must be known.
pub fn input_paths(
    store: &Store,
    instances: &[Instance],
    i: usize,
    content: &[Option<String>],
) -> Vec<(StageKind, PathBuf)> {
    instances[i]
        .inputs
        .iter()
        .map(|&u| {
            (
                instances[u].kind,
                store.object(content[u].as_ref().expect("ready")),
            )
        })
        .collect()
}

/// How a run reports progress: lines for people, or one JSON object per line for programs (`--progress json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressFormat {
    #[default]
    Human,
    Json,
}

/// What happened to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Cached,
    Running,
    Submitted,
    Done,
    Failed,
    Skipped,
    Cancelled,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Cached => "cached",
            Event::Running => "running",
            Event::Submitted => "submitted",
            Event::Done => "done",
            Event::Failed => "failed",
            Event::Skipped => "skipped",
            Event::Cancelled => "cancelled",
        }
    }
}

/// Details of an event (all optional).
#[derive(Debug, Clone, Default)]
pub struct Detail<'a> {
    pub wall_s: Option<f64>,
    pub job: Option<&'a str>,
    pub message: Option<&'a str>,
    pub stage: Option<&'a str>,
    pub stderr: Option<&'a Path>,
}

/// Prints progress events in one format.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub format: ProgressFormat,
    pub total: usize,
}

impl Progress {
    /// One event: `[k/n] done    ID (1.23 s, job 12)` for people, `{"event":"done","instance":ID,...}` for
    /// programs. Failures go to stderr in the human format.
    pub fn event(&self, k: usize, ev: Event, id: &str, d: &Detail) {
        let n = self.total;
        match self.format {
            ProgressFormat::Json => {
                let mut o = serde_json::json!({"event": ev.name(), "instance": id, "k": k, "n": n});
                let m = o.as_object_mut().expect("object");
                if let Some(w) = d.wall_s {
                    m.insert("wall_s".into(), w.into());
                }
                if let Some(j) = d.job {
                    m.insert("job".into(), j.into());
                }
                if let Some(s) = d.stage {
                    m.insert("stage".into(), s.into());
                }
                if let Some(p) = d.stderr {
                    m.insert("stderr".into(), p.display().to_string().into());
                }
                if let Some(msg) = d.message {
                    m.insert("message".into(), msg.into());
                }
                crate::outln!("{o}");
            }
            ProgressFormat::Human => {
                let width = n.to_string().len();
                let head = format!("[{k:>width$}/{n}]");
                let job = d.job.map(|j| format!("job {j}"));
                let paren = |parts: Vec<String>| {
                    if parts.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", parts.join(", "))
                    }
                };
                match ev {
                    Event::Failed => {
                        let mut parts: Vec<String> =
                            d.stage.map(|s| format!("stage {s}")).into_iter().collect();
                        parts.extend(job);
                        parts.extend(d.stderr.map(|p| format!("stderr: {}", p.display())));
                        eprintln!(
                            "{head} FAILED  {id}{}: {}",
                            paren(parts),
                            d.message.unwrap_or("").trim_end()
                        );
                    }
                    Event::Skipped | Event::Cancelled => crate::outln!(
                        "{head} {} {id}{}: {}",
                        ev.name(),
                        paren(job.into_iter().collect()),
                        d.message.unwrap_or("")
                    ),
                    _ => {
                        let mut parts: Vec<String> =
                            d.wall_s.map(|w| format!("{w:.2} s")).into_iter().collect();
                        parts.extend(job);
                        crate::outln!("{head} {:<7} {id}{}", ev.name(), paren(parts));
                    }
                }
            }
        }
    }

    /// A line that is not about one instance (queue states, summaries): human format only.
    pub fn note(&self, line: &str) {
        if self.format == ProgressFormat::Human {
            crate::outln!("{line}");
        }
    }
}

/// What a run keeps while it goes: the pipeline's lock (written after every change), the content hash of every
/// finished instance, the last report's content, the count of finished instances. Both executors use it.
pub struct RunState<'a> {
    pub p: &'a Pipeline,
    pub store: &'a Store,
    pub bins: &'a Binaries,
    pub lock: PipelineLock,
    pub content: Vec<Option<String>>,
    pub report: Option<String>,
    pub finished: usize,
    pub progress: Progress,
}

impl<'a> RunState<'a> {
    pub fn new(
        p: &'a Pipeline,
        store: &'a Store,
        bins: &'a Binaries,
        format: ProgressFormat,
    ) -> Result<Self> {
        let lock = plan::lock_for_run(p, store)?;
        store.write_lock(&lock)?;
        Ok(RunState {
            p,
            store,
            bins,
            lock,
            content: vec![None; p.instances.len()],
            report: None,
            finished: 0,
            progress: Progress {
                format,
                total: p.instances.len(),
            },
        })
    }

    /// Whether every input of `i` is finished.
    pub fn ready(&self, i: usize) -> bool {
        self.p.instances[i]
            .inputs
            .iter()
            .all(|&u| self.content[u].is_some())
    }

    /// Stage key of `i` (inputs finished) and, for a report, its run summary.
    pub fn key(&self, i: usize) -> (String, Option<String>) {
        plan::key_of(&self.p.name, &self.p.instances, i, &self.content, self.bins)
    }

    /// (input kind, object directory) of every input of `i`.
    pub fn inputs(&self, i: usize) -> Vec<(StageKind, PathBuf)> {
        input_paths(self.store, &self.p.instances, i, &self.content)
    }

    /// Records a finished instance (`wall` None: found cached, keeping the wall time the lock recorded for the
    /// same key) and writes the lock.
    pub fn finish(
        &mut self,
        i: usize,
        key: &str,
        c: String,
        wall: Option<f64>,
        job: Option<&str>,
    ) -> Result<()> {
        let inst = &self.p.instances[i];
        self.finished += 1;
        let ev = if wall.is_some() {
            Event::Done
        } else {
            Event::Cached
        };
        let d = Detail {
            wall_s: wall,
            job,
            ..Default::default()
        };
        self.progress.event(self.finished, ev, &inst.id, &d);
        let wall = wall.unwrap_or_else(|| {
            self.lock
                .instances
                .get(&inst.id)
                .filter(|e| e.key == key)
                .map_or(0.0, |e| e.wall_s)
        });
        if inst.kind.reads_run_summary() {
            self.report = Some(c.clone());
        }
        self.lock.instances.insert(
            inst.id.clone(),
            LockEntry {
                key: key.into(),
                content: c.clone(),
                stage: inst.stage.clone(),
                kind: inst.kind,
                identity: self.bins.identity[&inst.kind].clone(),
                params: serde_json::to_value(&inst.params).expect("json"),
                inputs: inst
                    .inputs
                    .iter()
                    .map(|&u| {
                        (
                            self.p.instances[u].id.clone(),
                            self.content[u].clone().unwrap_or_default(),
                        )
                    })
                    .collect(),
                wall_s: wall,
            },
        );
        self.content[i] = Some(c);
        self.store.write_lock(&self.lock)
    }

    /// Reports an instance that failed, was skipped or cancelled.
    pub fn lost(&mut self, i: usize, ev: Event, d: &Detail) {
        self.finished += 1;
        self.progress.event(self.finished, ev, &self.p.instances[i].id, d);
    }
}

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub jobs: usize,
    pub force: Vec<String>,
    pub progress: ProgressFormat,
}

/// The local executor: runs every instance that is not cached, `opts.jobs` at a time, in dependency order;
/// returns the content hash of the last report instance, if any.
pub fn run(p: &Pipeline, store: &Store, bins: &Binaries, opts: &RunOpts) -> Result<Option<String>> {
    let forced = plan::forced_mask(p, &opts.force)?;
    let n = p.instances.len();
    let mut st = RunState::new(p, store, bins, opts.progress)?;
    // Keys being computed now: an identical instance (same key) waits for the first and is then cached.
    let mut running_keys: std::collections::BTreeSet<String> = Default::default();
    let mut failed = vec![false; n];
    let mut started = vec![false; n];
    let jobs = opts.jobs.max(1);
    let (tx, rx) = mpsc::channel::<(usize, String, Outcome)>();
    loop {
        // Start every ready instance, up to the job limit (cached ones finish at once).
        let mut progressed = true;
        while progressed {
            progressed = false;
            for i in 0..n {
                if started[i] || running_keys.len() >= jobs {
                    continue;
                }
                let inst = &p.instances[i];
                if let Some(&bad) = inst.inputs.iter().find(|&&u| failed[u]) {
                    started[i] = true;
                    failed[i] = true;
                    progressed = true;
                    let msg = format!("input {} failed", p.instances[bad].id);
                    st.lost(
                        i,
                        Event::Skipped,
                        &Detail {
                            message: Some(&msg),
                            ..Default::default()
                        },
                    );
                    continue;
                }
                if !st.ready(i) {
                    continue;
                }
                let (key, info) = st.key(i);
                if running_keys.contains(&key) {
                    continue;
                }
                started[i] = true;
                progressed = true;
                if !forced[i]
                    && let Some(c) = st.store.cached(&key)
                {
                    st.finish(i, &key, c, None, None)?;
                    continue;
                }
                let work = store.tmp().join(format!("{i}-{}", &key[..16]));
                std::fs::create_dir_all(&work)?;
                let inputs = st.inputs(i);
                st.progress.event(
                    st.finished + running_keys.len() + 1,
                    Event::Running,
                    &inst.id,
                    &Detail::default(),
                );
                running_keys.insert(key.clone());
                let tx = tx.clone();
                let (store, bins, name, inst) =
                    (store.clone(), bins.clone(), p.lock_name.clone(), inst.clone());
                std::thread::spawn(move || {
                    let o = execute(&store, &bins, &name, &inst, &inputs, &work, info.as_deref());
                    let _ = tx.send((i, key, o));
                });
            }
        }
        if running_keys.is_empty() {
            break;
        }
        let (i, key, outcome) = rx.recv().context("worker channel")?;
        running_keys.remove(&key);
        match outcome {
            Outcome::Done { content: c, wall } => {
                store.set_key(&key, &c)?;
                st.finish(i, &key, c, Some(wall), None)?;
            }
            Outcome::Failed(msg) => {
                failed[i] = true;
                st.lost(
                    i,
                    Event::Failed,
                    &Detail {
                        message: Some(&msg),
                        ..Default::default()
                    },
                );
            }
        }
    }
    let n_failed = failed.iter().filter(|&&f| f).count();
    if n_failed > 0 {
        bail!(
            "{n_failed} stage instance(s) failed or were skipped; finished work is cached (re-run to resume)"
        );
    }
    Ok(st.report)
}

/// Prints the plan of `--dry-run`: every instance cached or to run (and why) and, for those that run, the
/// command line (inputs not computed yet appear as `<ID>`; a sample stage's parameter file is shown inline).
pub fn print_plan(p: &Pipeline, store: &Store, bins: &Binaries, forced: &[bool]) -> Result<()> {
    let states = plan::assess(p, store, bins, forced)?;
    crate::outln!("plan for {} ({} stage instances):", p.name, p.instances.len());
    for (inst, st) in p.instances.iter().zip(&states) {
        match st {
            plan::State::Cached(c) => crate::outln!("  cached  {}  ({})", inst.id, crate::names::short(c)),
            plan::State::Run(r) => {
                crate::outln!("  run     {}  ({})", inst.id, r.join("; "));
                let inputs: Vec<(StageKind, PathBuf)> = inst
                    .inputs
                    .iter()
                    .map(|&u| {
                        let path = match states[u].content() {
                            Some(c) => store.object(c),
                            None => PathBuf::from(format!("<{}>", p.instances[u].id)),
                        };
                        (p.instances[u].kind, path)
                    })
                    .collect();
                let pf = PathBuf::from("params.json");
                let info = inst
                    .kind
                    .reads_run_summary()
                    .then(|| PathBuf::from("run-info.json"));
                let args = stage_args(inst, &inputs, Path::new("<out>"), &pf, info.as_deref());
                let line: Vec<String> = std::iter::once(bins.path(inst.kind).display().to_string())
                    .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
                    .collect();
                crate::outln!("          $ {}", line.join(" "));
                if inst.kind.params_in_file() {
                    crate::outln!("          params.json = {}", serde_json::to_string(&inst.params)?);
                }
            }
        }
    }
    Ok(())
}
