//! Planning and running a pipeline against the store (local executor).

use crate::pipeline::{Instance, Pipeline};
use crate::store::{LockEntry, Store};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

/// Version of the key scheme; bump to invalidate every cached result.
pub const SCHEME: &str = "nnqft-key-v1";

/// Where the stage binaries are and what they are.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Binaries {
    pub dir: PathBuf,
    pub identity: BTreeMap<String, String>,
}

impl Binaries {
    pub fn path(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("nnqft-{kind}"))
    }
}

/// The stage key: scheme, stage kind, binary identity, canonical parameters, input content hashes, extras.
pub fn stage_key(inst: &Instance, identity: &str, inputs: &[String], extra: &[String]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(SCHEME.as_bytes());
    h.update(b"\0");
    h.update(inst.kind.as_bytes());
    h.update(b"\0");
    h.update(identity.as_bytes());
    h.update(b"\0");
    h.update(serde_json::to_string(&inst.params).expect("json").as_bytes());
    for i in inputs.iter().chain(extra) {
        h.update(b"\0");
        h.update(i.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// How an instance stands before running.
#[derive(Debug, Clone)]
pub enum State {
    /// Key known and its object present: the content hash.
    Cached(String),
    /// Will run, with the reasons.
    Run(Vec<String>),
}

/// Why an instance's key differs from what the lock recorded.
fn reasons(
    inst: &Instance,
    identity: &str,
    inputs: &[(String, Option<String>)],
    old: Option<&LockEntry>,
    forced: bool,
) -> Vec<String> {
    let mut r = Vec::new();
    if forced {
        r.push("forced by --force".into());
    }
    let Some(old) = old else {
        r.push("never run".into());
        return r;
    };
    let new_params = serde_json::to_value(&inst.params).expect("json");
    if let (Some(a), Some(b)) = (old.params.as_object(), new_params.as_object()) {
        for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
            let (x, y) = (a.get(k), b.get(k));
            if x != y {
                let show = |v: Option<&Value>| v.map_or("(unset)".to_string(), |v| v.to_string());
                r.push(format!("parameter {k} changed: {} -> {}", show(x), show(y)));
            }
        }
    }
    if old.identity != identity {
        r.push(format!(
            "{} binary changed: identity {} -> {}",
            inst.kind,
            &old.identity[..12],
            &identity[..12]
        ));
    }
    for (i, (id, content)) in inputs.iter().enumerate() {
        match (old.inputs.get(i), content) {
            (Some((oid, oc)), Some(c)) if oid == id && oc != c => {
                r.push(format!("input {id} changed: {} -> {}", &oc[..12], &c[..12]))
            }
            (Some((oid, _)), _) if oid != id => r.push(format!("inputs changed: {oid} -> {id}")),
            (_, None) => r.push(format!("input {id} will be recomputed")),
            _ => {}
        }
    }
    if old.inputs.len() != inputs.len() {
        r.push(format!(
            "number of inputs changed: {} -> {}",
            old.inputs.len(),
            inputs.len()
        ));
    }
    if r.is_empty() {
        r.push("result missing from the store (removed by gc or found corrupted)".into());
    }
    r
}

/// Assesses every instance: cached or will run (and why), walking in topological order.
pub fn assess(p: &Pipeline, store: &Store, bins: &Binaries, forced: &[bool]) -> Result<Vec<State>> {
    let lock = store.read_lock(&p.lock_name)?;
    let mut content: Vec<Option<String>> = vec![None; p.instances.len()];
    let mut out = Vec::new();
    for (i, inst) in p.instances.iter().enumerate() {
        let identity = &bins.identity[&inst.kind];
        let ins: Vec<(String, Option<String>)> = inst
            .inputs
            .iter()
            .map(|&u| (p.instances[u].id.clone(), content[u].clone()))
            .collect();
        let state = if ins.iter().all(|(_, c)| c.is_some()) && !forced[i] {
            let (key, _) = key_of(&p.name, &p.instances, i, &content, bins);
            match store.key_content(&key).filter(|c| store.intact(c)) {
                Some(c) => {
                    content[i] = Some(c.clone());
                    State::Cached(c)
                }
                None => State::Run(reasons(inst, identity, &ins, lock.instances.get(&inst.id), false)),
            }
        } else {
            State::Run(reasons(
                inst,
                identity,
                &ins,
                lock.instances.get(&inst.id),
                forced[i],
            ))
        };
        out.push(state);
    }
    Ok(out)
}

/// Arguments of one stage instance after the program name: its inputs, its parameters as flags (a sample
/// stage reads them from `params_file`), the run summary of a report, and `--out`.
fn stage_args(
    inst: &Instance,
    inputs: &[(String, PathBuf)],
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
    match inst.kind.as_str() {
        "sample" => {
            c.extend(["--params".into(), params_file.into(), "--quiet".into()]);
        }
        "report" => {
            for (kind, path) in inputs {
                c.push(if kind == "flow" { "--flow" } else { "--fit" }.into());
                c.push(path.into());
            }
            if let Some(r) = run_info {
                c.extend(["--run-info".into(), r.into()]);
            }
            flags(&mut c);
        }
        _ => {
            c.extend(inputs.iter().map(|(_, path)| path.into()));
            flags(&mut c);
        }
    }
    c.extend(["--out".into(), out.into()]);
    c
}

/// Command line of one stage instance (its parameter file, if any, written into `work`).
fn command(
    inst: &Instance,
    bins: &Binaries,
    inputs: &[(String, PathBuf)],
    out: &Path,
    work: &Path,
    run_info: Option<&Path>,
) -> Result<Command> {
    let pf = work.join("params.json");
    if inst.kind == "sample" {
        std::fs::write(&pf, serde_json::to_vec(&inst.params)?)?;
    }
    let mut c = Command::new(bins.path(&inst.kind));
    c.args(stage_args(inst, inputs, out, &pf, run_info));
    Ok(c)
}

/// Most invalid instances listed in one error.
const MAX_LISTED_ERRORS: usize = 20;

/// Validates every instance's parameters with its stage binary (`nnqft-KIND --check-batch FILE`: the same
/// argument parsing and checks as a real run, with placeholder inputs, nothing read or written), one call per
/// stage kind, before anything runs. Errors cite the pipeline file and the line of the offending parameter.
pub fn validate(p: &Pipeline, bins: &Binaries) -> Result<()> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nnqft-check-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let res = validate_in(p, bins, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    res
}

fn validate_in(p: &Pipeline, bins: &Binaries, dir: &Path) -> Result<()> {
    let mut by_kind: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, inst) in p.instances.iter().enumerate() {
        by_kind.entry(inst.kind.as_str()).or_default().push(i);
    }
    let mut errors = Vec::new();
    for (kind, members) in by_kind {
        let mut batch = Vec::new();
        for &i in &members {
            let inst = &p.instances[i];
            let pf = dir.join(format!("params-{i}.json"));
            if inst.kind == "sample" {
                std::fs::write(&pf, serde_json::to_vec(&inst.params)?)?;
            }
            let inputs: Vec<(String, PathBuf)> = inst
                .inputs
                .iter()
                .enumerate()
                .map(|(k, &u)| (p.instances[u].kind.clone(), dir.join(format!("input-{i}-{k}"))))
                .collect();
            let info = (inst.kind == "report").then(|| dir.join("run-info.json"));
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
                        !k.is_empty() && (msg.contains(k.as_str()) || msg.contains(&k.replace('_', "-")))
                    })
                    .cloned()
                    .unwrap_or_else(|| inst.stage.clone());
                let line = crate::pipeline::line_of(&p.text, &inst.stage, &key);
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

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOpts {
    pub jobs: usize,
    pub force: Vec<String>,
    pub dry_run: bool,
}

pub enum Outcome {
    Done { content: String, wall: f64 },
    Failed(String),
}

/// Instances that `i` reads, directly or transitively (`i` excluded).
pub fn upstream(instances: &[Instance], i: usize) -> Vec<bool> {
    let mut mark = vec![false; instances.len()];
    let mut todo = instances[i].inputs.clone();
    while let Some(u) = todo.pop() {
        if !mark[u] {
            mark[u] = true;
            todo.extend(&instances[u].inputs);
        }
    }
    mark
}

/// The run summary handed to a report: every instance upstream of it, with parameters and content hash. A
/// function of the pipeline and the contents only (no wall times, no paths), so the report's bytes do not
/// depend on how or where the stages ran.
pub fn run_info(name: &str, instances: &[Instance], i: usize, content: &[Option<String>]) -> String {
    let up = upstream(instances, i);
    let stages: Vec<Value> = instances
        .iter()
        .enumerate()
        .filter(|&(j, s)| up[j] && s.kind != "report")
        .map(|(j, s)| serde_json::json!({"name": s.id, "params": s.params, "content": content[j]}))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({"pipeline": name, "stages": stages})).expect("json")
}

/// Stage key of instance `i` (its inputs' contents must be known) and, for a report, its run summary.
pub fn key_of(
    name: &str,
    instances: &[Instance],
    i: usize,
    content: &[Option<String>],
    bins: &Binaries,
) -> (String, Option<String>) {
    let inst = &instances[i];
    let hashes: Vec<String> = inst
        .inputs
        .iter()
        .map(|&u| content[u].clone().expect("inputs known"))
        .collect();
    let info = (inst.kind == "report").then(|| run_info(name, instances, i, content));
    let extra: Vec<String> = info
        .iter()
        .map(|s| blake3::hash(s.as_bytes()).to_hex().to_string())
        .collect();
    (stage_key(inst, &bins.identity[&inst.kind], &hashes, &extra), info)
}

/// The pipeline's lock, ready to be updated by a run: it must belong to this pipeline file (else the run is
/// refused, naming both files), and entries of instances the pipeline no longer has are dropped.
pub fn lock_for_run(p: &Pipeline, store: &Store) -> Result<crate::store::PipelineLock> {
    let mut lock = store.read_lock(&p.lock_name)?;
    if let Some(src) = &lock.source
        && src != &p.source
        && !lock.instances.is_empty()
    {
        bail!(
            "{} belongs to the pipeline file {src}, not to {}: rename this pipeline file, or remove that lock              (its objects then become garbage for gc)",
            store.lock_path(&p.lock_name).display(),
            p.source
        );
    }
    lock.pipeline = p.lock_name.clone();
    lock.source = Some(p.source.clone());
    let ids: std::collections::BTreeSet<&str> = p.instances.iter().map(|i| i.id.as_str()).collect();
    lock.instances.retain(|id, _| ids.contains(id.as_str()));
    Ok(lock)
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
    inputs: &[(String, PathBuf)],
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
            let stderr_path = if std::fs::create_dir_all(log.parent().expect("parent"))
                .and_then(|_| std::fs::copy(&stderr_path, &log))
                .is_ok()
            {
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

pub fn forced_mask(p: &Pipeline, force: &[String]) -> Result<Vec<bool>> {
    let mut roots = Vec::new();
    for f in force {
        let hits: Vec<usize> = (0..p.instances.len())
            .filter(|&i| &p.instances[i].stage == f || &p.instances[i].kind == f || &p.instances[i].id == f)
            .collect();
        if hits.is_empty() {
            bail!(
                "--force {f}: no stage of that name in {} (stages: {})",
                p.path.display(),
                p.stages
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        roots.extend(hits);
    }
    Ok(if roots.is_empty() {
        vec![false; p.instances.len()]
    } else {
        p.downstream(&roots)
    })
}

/// Prints the plan of `--dry-run`.
pub fn print_plan(p: &Pipeline, store: &Store, bins: &Binaries, forced: &[bool]) -> Result<()> {
    let states = assess(p, store, bins, forced)?;
    println!("plan for {} ({} stage instances):", p.name, p.instances.len());
    for (inst, st) in p.instances.iter().zip(&states) {
        match st {
            State::Cached(c) => println!("  cached  {}  ({})", inst.id, &c[..12]),
            State::Run(r) => println!("  run     {}  ({})", inst.id, r.join("; ")),
        }
    }
    Ok(())
}

/// Runs the pipeline; returns the content hash of the last report instance, if any.
pub fn run(p: &Pipeline, store: &Store, bins: &Binaries, opts: &RunOpts) -> Result<Option<String>> {
    let forced = forced_mask(p, &opts.force)?;
    let n = p.instances.len();
    if opts.dry_run {
        print_plan(p, store, bins, &forced)?;
        return Ok(None);
    }
    let mut lock = lock_for_run(p, store)?;
    store.write_lock(&lock)?;
    let mut content: Vec<Option<String>> = vec![None; n];
    // Keys being computed now: an identical instance (same key) waits for the first and is then cached.
    let mut running_keys: std::collections::BTreeSet<String> = Default::default();
    let mut failed: Vec<Option<String>> = vec![None; n];
    let mut started = vec![false; n];
    let jobs = opts.jobs.max(1);
    let (tx, rx) = mpsc::channel::<(usize, String, Outcome)>();
    let mut running = 0usize;
    let mut finished = 0usize;
    let width = n.to_string().len();
    let mut report_content = None;
    loop {
        // Start every ready instance, up to the job limit (cached ones finish at once).
        let mut progressed = true;
        while progressed {
            progressed = false;
            for i in 0..n {
                if started[i] || running >= jobs {
                    continue;
                }
                let inst = &p.instances[i];
                if let Some(bad) = inst.inputs.iter().find(|&&u| failed[u].is_some()) {
                    started[i] = true;
                    finished += 1;
                    failed[i] = Some(format!("skipped: input {} failed", p.instances[*bad].id));
                    println!(
                        "[{:>width$}/{n}] skipped {} (input {} failed)",
                        finished, inst.id, p.instances[*bad].id
                    );
                    progressed = true;
                    continue;
                }
                if !inst.inputs.iter().all(|&u| content[u].is_some()) {
                    continue;
                }
                let (key, info) = key_of(&p.name, &p.instances, i, &content, bins);
                if running_keys.contains(&key) {
                    continue;
                }
                started[i] = true;
                progressed = true;
                if !forced[i]
                    && let Some(c) = store.key_content(&key).filter(|c| store.intact(c))
                {
                    finished += 1;
                    println!("[{:>width$}/{n}] cached  {}", finished, inst.id);
                    if inst.kind == "report" {
                        report_content = Some(c.clone());
                    }
                    record_cached(&mut lock, p, i, &key, c, bins, &mut content);
                    store.write_lock(&lock)?;
                    continue;
                }
                let work = store.tmp().join(format!("{i}-{}", &key[..16]));
                std::fs::create_dir_all(&work)?;
                let inputs = input_paths(store, &p.instances, i, &content);
                println!("[{:>width$}/{n}] running {}", finished + running + 1, inst.id);
                running += 1;
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
        if running == 0 {
            break;
        }
        let (i, key, outcome) = rx.recv().context("worker channel")?;
        running -= 1;
        running_keys.remove(&key);
        finished += 1;
        let inst = &p.instances[i];
        match outcome {
            Outcome::Done { content: c, wall } => {
                store.set_key(&key, &c)?;
                println!("[{:>width$}/{n}] done    {} ({wall:.2} s)", finished, inst.id);
                if inst.kind == "report" {
                    report_content = Some(c.clone());
                }
                record(&mut lock, p, i, &key, &c, bins, &content, wall);
                content[i] = Some(c);
                store.write_lock(&lock)?;
            }
            Outcome::Failed(msg) => {
                eprintln!("[{:>width$}/{n}] FAILED  {}: {msg}", finished, inst.id);
                failed[i] = Some(msg);
            }
        }
    }
    let n_failed = failed.iter().filter(|f| f.is_some()).count();
    if n_failed > 0 {
        bail!(
            "{n_failed} stage instance(s) failed or were skipped; finished work is cached (re-run to resume)"
        );
    }
    Ok(report_content)
}

/// (input kind, object directory) of every input of `i`, whose contents must be known.
pub fn input_paths(
    store: &Store,
    instances: &[Instance],
    i: usize,
    content: &[Option<String>],
) -> Vec<(String, PathBuf)> {
    instances[i]
        .inputs
        .iter()
        .map(|&u| {
            (
                instances[u].kind.clone(),
                store.object(content[u].as_ref().expect("ready")),
            )
        })
        .collect()
}

/// Records an instance found cached (keeping the wall time of the run that made it) and its content.
pub fn record_cached(
    lock: &mut crate::store::PipelineLock,
    p: &Pipeline,
    i: usize,
    key: &str,
    c: String,
    bins: &Binaries,
    content: &mut [Option<String>],
) {
    let wall = lock
        .instances
        .get(&p.instances[i].id)
        .filter(|e| e.key == key)
        .map_or(0.0, |e| e.wall_s);
    record(lock, p, i, key, &c, bins, content, wall);
    content[i] = Some(c);
}

#[allow(clippy::too_many_arguments)]
pub fn record(
    lock: &mut crate::store::PipelineLock,
    p: &Pipeline,
    i: usize,
    key: &str,
    c: &str,
    bins: &Binaries,
    content: &[Option<String>],
    wall: f64,
) {
    let inst = &p.instances[i];
    let identity = &bins.identity[&inst.kind];
    lock.instances.insert(
        inst.id.clone(),
        LockEntry {
            key: key.into(),
            content: c.into(),
            stage: inst.stage.clone(),
            kind: inst.kind.clone(),
            identity: identity.into(),
            params: serde_json::to_value(&inst.params).expect("json"),
            inputs: inst
                .inputs
                .iter()
                .map(|&u| (p.instances[u].id.clone(), content[u].clone().unwrap_or_default()))
                .collect(),
            wall_s: wall,
        },
    );
}

/// `status`: every instance cached or stale, and why.
pub fn status(p: &Pipeline, store: &Store, bins: &Binaries) -> Result<bool> {
    let forced = vec![false; p.instances.len()];
    let states = assess(p, store, bins, &forced)?;
    let mut all = true;
    println!("status of {} ({} stage instances):", p.name, p.instances.len());
    for (inst, st) in p.instances.iter().zip(&states) {
        match st {
            State::Cached(c) => println!("  cached  {}  ({})", inst.id, &c[..12]),
            State::Run(r) => {
                all = false;
                println!("  stale   {}: {}", inst.id, r.join("; "));
            }
        }
    }
    Ok(all)
}
