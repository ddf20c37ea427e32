//! The Slurm executor: every stage instance that must run becomes a batch job (`sbatch --parsable`) with
//! `--dependency=afterok:...` on the jobs of its inputs; the bag shards of one sample configuration go in one
//! array job. Each job runs `xtask job`, which does exactly what the local executor does for one instance
//! (compute the key from the inputs' content hashes, reuse a cached result, else run the stage's command line
//! and publish into the store), so a pipeline run under Slurm yields the same keys and the same bytes.
//!
//! The store (and the binaries) must be on a filesystem that every node sees. The submitting xtask holds the
//! store lock for the whole run, polls `squeue` and the jobs' result files, records results in the pipeline
//! lock as they arrive, and on a failure cancels the failed job's dependants (`scancel`; jobs are also
//! submitted with `--kill-on-invalid-dep=yes`). Finished work stays cached, so a re-run submits only what is
//! missing. The submitted job ids are kept in `slurm-jobs.json` until the run ends; if xtask dies, the next run
//! cancels them before it starts (their run directory under tmp/ is gone by then).

use crate::exec::{self, Detail, Event, Outcome, ProgressFormat, RunState};
use crate::pipeline::{Instance, Pipeline, Resources};
use crate::plan::{self, Binaries};
use crate::store::{Store, write_atomic};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What every job of one run reads: the instances, the binaries, what was already known.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    pipeline: String,
    /// Names the log directory (`Pipeline::lock_name`).
    lock_name: String,
    bins: Binaries,
    instances: Vec<Instance>,
    /// Content hashes known when the plan was made (cached instances).
    known: Vec<Option<String>>,
    forced: Vec<bool>,
}

/// What a finished job leaves in `RUNDIR/results/<index>.json`.
#[derive(Debug, Serialize, Deserialize)]
struct JobResult {
    key: String,
    content: String,
    wall_s: f64,
    /// The key was already in the store (the inputs came out as before): nothing ran.
    cached: bool,
}

/// Resources used where neither flags nor the pipeline file say.
pub fn builtin_resources() -> Resources {
    Resources {
        partition: None,
        time: Some("01:00:00".into()),
        cpus: Some(2),
        mem: None,
    }
}

fn leftovers_file(store: &Store) -> PathBuf {
    store.root.join("slurm-jobs.json")
}

/// Cancels the jobs of an earlier Slurm run whose xtask died (their run directory is about to be removed).
pub fn cancel_leftovers(store: &Store) {
    let f = leftovers_file(store);
    if let Ok(b) = std::fs::read(&f) {
        let ids: Vec<String> = serde_json::from_slice(&b).unwrap_or_default();
        if !ids.is_empty() {
            eprintln!(
                "cancelling {} job(s) left by an interrupted Slurm run: {}",
                ids.len(),
                ids.join(" ")
            );
            let _ = Command::new("scancel").args(&ids).status();
        }
        let _ = std::fs::remove_file(f);
    }
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// `s` with every control character (a newline above all) replaced by `?`: the pipeline's name (its file's
/// stem, any bytes) and instance ids go into the job script's comment line and the job name, where a newline
/// would start a shell command of the file name's choosing.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// One `sbatch` submission: one instance, or the bag shards of one configuration as an array.
struct Job {
    instances: Vec<usize>,
    /// Slurm job id (of the array, for an array job).
    id: String,
}

impl Job {
    /// The job reference of the `k`-th instance of this job (`123` or `123_4`).
    fn task(&self, k: usize) -> String {
        if self.instances.len() > 1 {
            format!("{}_{k}", self.id)
        } else {
            self.id.clone()
        }
    }
}

fn sbatch(args: &[String], script: &str) -> Result<String> {
    let mut child = Command::new("sbatch")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running sbatch (is Slurm's client installed and SLURM_CONF set?)")?;
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(script.as_bytes())?;
    }
    let o = child.wait_with_output()?;
    if !o.status.success() {
        bail!(
            "sbatch {} failed ({}): {}",
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id (stdout: {:?})", out.trim());
    }
    Ok(id)
}

/// [`alive_once`], retried: a busy slurmctld may time out now and then.
fn alive() -> Result<BTreeMap<String, String>> {
    let mut last = None;
    for attempt in 0..5 {
        match alive_once() {
            Ok(m) => return Ok(m),
            Err(e) => {
                eprintln!("warning: {e:#} (attempt {} of 5)", attempt + 1);
                last = Some(e);
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
    Err(last.expect("five attempts").context(
        "squeue keeps failing; the submitted jobs go on (the next run cancels those left in slurm-jobs.json)",
    ))
}

/// Job references (`123`, `123_4`) of this user's jobs that Slurm still lists, with their state.
fn alive_once() -> Result<BTreeMap<String, String>> {
    let o = Command::new("squeue")
        .args(["-h", "-r", "--me", "-o", "%i|%T"])
        .output()
        .context("running squeue")?;
    if !o.status.success() {
        bail!(
            "squeue failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect())
}

/// `JobState`, `Reason` and `ExitCode` of a finished job, as far as slurmctld still remembers it.
fn final_state(job: &str) -> String {
    let o = Command::new("scontrol").args(["show", "job", "-o", job]).output();
    let text = match o {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => return "state unknown (slurmctld no longer lists the job)".into(),
    };
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "state {}, reason {}, exit code {}",
        field("JobState"),
        field("Reason"),
        field("ExitCode")
    )
}

/// Seconds a job may be missing from `squeue` without a result before it counts as failed (the shared
/// filesystem may show its result file late).
const VANISH_GRACE: Duration = Duration::from_secs(10);
/// How long to wait, after the last result, for Slurm to stop listing this run's jobs.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Lines of a failed job's stderr quoted in the message.
const STDERR_TAIL_LINES: usize = 20;

/// The poll interval: `NNQFT_SLURM_POLL_MS` (tests), else one second.
fn poll_interval() -> Duration {
    Duration::from_millis(
        std::env::var("NNQFT_SLURM_POLL_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    )
}

/// Runs the pipeline on Slurm; returns the content hash of the last report instance, if any. What is cached
/// is recorded at once; the rest is grouped into jobs ([`Submission::group`]), submitted in dependency order
/// ([`Submission::submit`]) and waited for ([`Submission::wait`]).
pub fn run(
    p: &Pipeline,
    store: &Store,
    bins: &Binaries,
    force: &[String],
    // Resources from the command line: they override the pipeline file.
    flags: &Resources,
    progress: ProgressFormat,
) -> Result<Option<String>> {
    let forced = plan::forced_mask(p, force)?;
    let n = p.instances.len();
    let mut st = RunState::new(p, store, bins, progress)?;
    // What is cached now; everything else runs.
    let mut to_run = vec![false; n];
    for i in 0..n {
        if st.ready(i) && !forced[i] {
            let (key, _) = st.key(i);
            if let Some(c) = st.store.cached(&key) {
                st.finish(i, &key, c, None, None)?;
                continue;
            }
        }
        to_run[i] = true;
    }
    if !to_run.contains(&true) {
        return Ok(st.report);
    }

    // The run directory, the plan, the job logs.
    let store_root = std::fs::canonicalize(&store.root)?;
    let rundir = store_root
        .join("tmp")
        .join(format!("slurm-{}", std::process::id()));
    for d in ["results", "failed", "work"] {
        std::fs::create_dir_all(rundir.join(d))?;
    }
    let logs = Store {
        root: store_root.clone(),
    }
    .real_dir(Path::new("logs").join(&p.lock_name).join("slurm"))?;
    let mut plan_bins = bins.clone();
    plan_bins.dir =
        std::fs::canonicalize(&bins.dir).with_context(|| format!("stage binaries {}", bins.dir.display()))?;
    let plan = Plan {
        pipeline: p.name.clone(),
        lock_name: p.lock_name.clone(),
        bins: plan_bins,
        instances: p.instances.clone(),
        known: st.content.clone(),
        forced: forced.clone(),
    };
    let plan_bytes = serde_json::to_vec(&plan)?;
    write_atomic(&rundir.join("plan.json"), &plan_bytes)?;
    // Each job checks the plan against this hash: a plan rewritten in the store (which anyone who can write to a
    // shared store could do) would otherwise name the binaries the user's jobs run.
    let plan_hash = blake3::hash(&plan_bytes).to_hex().to_string();

    let mut sub = Submission::group(p, &to_run, logs);
    sub.submit(&mut st, flags, &store_root, &rundir, &plan_hash)?;
    let n_failed = sub.wait(&mut st, &to_run, &rundir)?;
    sub.drain()?;
    let _ = std::fs::remove_file(leftovers_file(store));
    if n_failed > 0 {
        bail!(
            "{n_failed} stage instance(s) failed or were cancelled; finished work is cached (fix the cause and re-run: only the missing work is submitted); job logs: {}",
            sub.logs.display()
        );
    }
    Ok(st.report)
}

/// The jobs of one Slurm run: which instances each holds, and where their logs go.
struct Submission {
    jobs: Vec<Job>,
    /// The job of each instance that runs.
    job_of: Vec<Option<usize>>,
    logs: PathBuf,
}

impl Submission {
    /// One job per instance to run, except that the to-run shards of one configuration form one array job.
    fn group(p: &Pipeline, to_run: &[bool], logs: PathBuf) -> Self {
        let mut jobs: Vec<Job> = Vec::new();
        let mut job_of: Vec<Option<usize>> = vec![None; p.instances.len()];
        for (i, inst) in p.instances.iter().enumerate() {
            if !to_run[i] {
                continue;
            }
            if let Some(j) = jobs.last_mut() {
                let prev = &p.instances[*j.instances.last().expect("non-empty")];
                if inst.shard.is_some()
                    && prev.shard.is_some()
                    && prev.stage == inst.stage
                    && prev.label == inst.label
                {
                    j.instances.push(i);
                    job_of[i] = Some(jobs.len() - 1);
                    continue;
                }
            }
            jobs.push(Job {
                instances: vec![i],
                id: String::new(),
            });
            job_of[i] = Some(jobs.len() - 1);
        }
        Submission { jobs, job_of, logs }
    }

    /// The job reference (`123` or `123_4`) of a submitted instance.
    fn job_ref(&self, i: usize) -> String {
        let j = &self.jobs[self.job_of[i].expect("submitted")];
        j.task(j.instances.iter().position(|&x| x == i).expect("member"))
    }

    /// Where Slurm writes a submitted instance's stderr.
    fn err_file(&self, i: usize) -> PathBuf {
        self.logs.join(format!("{}.err", self.job_ref(i)))
    }

    /// `sbatch` arguments of job `jn` (its inputs' jobs must have ids).
    fn sbatch_args(&self, p: &Pipeline, jn: usize, flags: &Resources) -> Vec<String> {
        let job = &self.jobs[jn];
        let first = &p.instances[job.instances[0]];
        let res = flags.or(&first.slurm).or(&builtin_resources());
        let deps: BTreeSet<String> = job
            .instances
            .iter()
            .flat_map(|&i| p.instances[i].inputs.iter().filter_map(|&u| self.job_of[u]))
            .map(|j| self.jobs[j].id.clone())
            .collect();
        let array = job.instances.len() > 1;
        let pattern = if array { "%A_%a" } else { "%j" };
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name=nnqft-{}-{}", one_line(&p.name), first.stage),
            format!("--output={}/{pattern}.out", self.logs.display()),
            format!("--error={}/{pattern}.err", self.logs.display()),
            format!("--cpus-per-task={}", res.cpus.unwrap_or(1)),
        ];
        args.extend(res.time.as_ref().map(|t| format!("--time={t}")));
        args.extend(res.partition.as_ref().map(|part| format!("--partition={part}")));
        args.extend(res.mem.as_ref().map(|m| format!("--mem={m}")));
        if !deps.is_empty() {
            args.push(format!(
                "--dependency=afterok:{}",
                deps.into_iter().collect::<Vec<_>>().join(":")
            ));
            args.push("--kill-on-invalid-dep=yes".into());
        }
        if array {
            args.push(format!("--array=0-{}", job.instances.len() - 1));
        }
        args
    }

    /// Submits every job in topological order, each after the jobs of its inputs; on a refused submission
    /// cancels what was submitted. The ids go to `slurm-jobs.json` as they come (for an interrupted run).
    fn submit(
        &mut self,
        st: &mut RunState,
        flags: &Resources,
        store_root: &Path,
        rundir: &Path,
        plan_hash: &str,
    ) -> Result<()> {
        let p = st.p;
        let xtask = std::env::current_exe().context("locating the xtask executable")?;
        let mut submitted: Vec<String> = Vec::new();
        for jn in 0..self.jobs.len() {
            let args = self.sbatch_args(p, jn, flags);
            let job = &self.jobs[jn];
            let first = &p.instances[job.instances[0]];
            let indices: Vec<String> = job.instances.iter().map(|i| i.to_string()).collect();
            let script = format!(
                "#!/bin/sh\n# nnqft: {} ({})\nexport RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\nexec {} --store {} job {} --plan-hash {} --indices {}{}\n",
                one_line(&first.id),
                one_line(&p.name),
                sh_quote(&xtask),
                sh_quote(store_root),
                sh_quote(rundir),
                plan_hash,
                indices.join(","),
                if job.instances.len() > 1 { " --array" } else { "" }
            );
            let id = match sbatch(&args, &script) {
                Ok(id) => id,
                Err(e) => {
                    if !submitted.is_empty() {
                        eprintln!("cancelling the {} job(s) already submitted", submitted.len());
                        let _ = Command::new("scancel").args(&submitted).status();
                    }
                    let _ = std::fs::remove_file(leftovers_file(st.store));
                    return Err(e.context(format!("submitting {}", first.id)));
                }
            };
            self.jobs[jn].id = id.clone();
            submitted.push(id);
            write_atomic(&leftovers_file(st.store), &serde_json::to_vec(&submitted)?)?;
            for (k, &i) in self.jobs[jn].instances.iter().enumerate() {
                let job = self.jobs[jn].task(k);
                let d = Detail {
                    job: Some(&job),
                    ..Default::default()
                };
                st.progress
                    .event(st.finished, Event::Submitted, &p.instances[i].id, &d);
            }
        }
        Ok(())
    }

    /// Waits for every submitted instance: results and failures arrive as files in `rundir`, `squeue` says
    /// which jobs are still alive; a failure cancels its pending dependants. Returns how many failed or were
    /// cancelled.
    fn wait(&self, st: &mut RunState, to_run: &[bool], rundir: &Path) -> Result<usize> {
        let p = st.p;
        let poll = poll_interval();
        let mut pending: BTreeSet<usize> = (0..to_run.len()).filter(|&i| to_run[i]).collect();
        let mut vanished: BTreeMap<usize, Instant> = BTreeMap::new();
        let mut n_failed = 0usize;
        let mut last_states = String::new();
        while !pending.is_empty() {
            std::thread::sleep(poll);
            let live = alive()?;
            let mut failures: Vec<(usize, String)> = Vec::new();
            for &i in pending.clone().iter() {
                let rfile = rundir.join("results").join(format!("{i}.json"));
                if let Ok(b) = std::fs::read(&rfile) {
                    let r: JobResult = serde_json::from_slice(&b)
                        .with_context(|| format!("{}: malformed job result", rfile.display()))?;
                    crate::names::check_hash(&format!("{}: key", rfile.display()), &r.key)?;
                    crate::names::check_hash(&format!("{}: content", rfile.display()), &r.content)?;
                    pending.remove(&i);
                    let wall = (!r.cached).then_some(r.wall_s);
                    st.finish(i, &r.key, r.content, wall, Some(&self.job_ref(i)))?;
                    continue;
                }
                let ffile = rundir.join("failed").join(format!("{i}.txt"));
                if let Ok(msg) = std::fs::read_to_string(&ffile) {
                    failures.push((i, msg));
                    continue;
                }
                if live.contains_key(&self.job_ref(i)) {
                    vanished.remove(&i);
                    continue;
                }
                // Not listed and no result yet: allow the shared filesystem a moment, then call it failed.
                let since = *vanished.entry(i).or_insert_with(Instant::now);
                if since.elapsed() >= VANISH_GRACE {
                    let err = std::fs::read_to_string(self.err_file(i)).unwrap_or_default();
                    let t = exec::last_lines(&err, STDERR_TAIL_LINES);
                    let state = final_state(&self.job_ref(i));
                    failures.push((i, format!("the job ended without a result ({state})\n{t}")));
                }
            }
            for (i, msg) in failures {
                if pending.remove(&i) {
                    n_failed += 1 + self.fail(st, i, &msg, &mut pending);
                }
            }
            // A line when the queue changes, so a long wait shows what Slurm is doing.
            let mut states: BTreeMap<&str, usize> = BTreeMap::new();
            for s in pending.iter().filter_map(|&i| live.get(&self.job_ref(i))) {
                *states.entry(s.as_str()).or_insert(0) += 1;
            }
            let line = states
                .iter()
                .map(|(s, c)| format!("{c} {}", s.to_lowercase()))
                .collect::<Vec<_>>()
                .join(", ");
            if !line.is_empty() && line != last_states {
                let n = p.instances.len();
                let width = n.to_string().len();
                st.progress
                    .note(&format!("[{:>width$}/{n}] slurm: {line}", st.finished));
                last_states = line;
            }
        }
        Ok(n_failed)
    }

    /// Reports instance `i` failed and cancels its pending dependants; returns how many were cancelled.
    fn fail(&self, st: &mut RunState, i: usize, msg: &str, pending: &mut BTreeSet<usize>) -> usize {
        let p = st.p;
        let inst = &p.instances[i];
        let (job, err) = (self.job_ref(i), self.err_file(i));
        let d = Detail {
            job: Some(&job),
            stage: Some(&inst.stage),
            stderr: Some(&err),
            message: Some(msg),
            ..Default::default()
        };
        st.lost(i, Event::Failed, &d);
        let down = p.downstream(&[i]);
        let victims: Vec<usize> = pending.iter().copied().filter(|&d| down[d]).collect();
        if victims.is_empty() {
            return 0;
        }
        let refs: Vec<String> = victims.iter().map(|&d| self.job_ref(d)).collect();
        let _ = Command::new("scancel").args(&refs).status();
        for &d in &victims {
            pending.remove(&d);
            let (job, why) = (self.job_ref(d), format!("input {} failed", inst.id));
            let det = Detail {
                job: Some(&job),
                message: Some(&why),
                ..Default::default()
            };
            st.lost(d, Event::Cancelled, &det);
        }
        victims.len()
    }

    /// Results arrive before Slurm has finished with a job (it may still be completing): waits until none of
    /// this run's jobs is listed, so that the queue is clean when xtask returns.
    fn drain(&self) -> Result<()> {
        let t0 = Instant::now();
        loop {
            let live = alive()?;
            let ours = |r: &String| {
                self.jobs
                    .iter()
                    .any(|j| r == &j.id || r.starts_with(&format!("{}_", j.id)))
            };
            if !live.keys().any(ours) {
                return Ok(());
            }
            if t0.elapsed() > DRAIN_TIMEOUT {
                eprintln!(
                    "warning: Slurm still lists jobs of this run after {} s; not waiting any longer",
                    DRAIN_TIMEOUT.as_secs()
                );
                return Ok(());
            }
            std::thread::sleep(poll_interval());
        }
    }
}

/// `xtask job`: the body of one Slurm job (one stage instance; `--array` picks it by SLURM_ARRAY_TASK_ID).
pub fn job(store: &Store, rundir: &Path, plan_hash: &str, indices: &[usize], array: bool) -> Result<()> {
    let k = if array {
        std::env::var("SLURM_ARRAY_TASK_ID")
            .context("--array: SLURM_ARRAY_TASK_ID is not set")?
            .parse::<usize>()
            .context("SLURM_ARRAY_TASK_ID is not a number")?
    } else {
        0
    };
    let &i = indices
        .get(k)
        .with_context(|| format!("task {k} out of range of --indices ({} given)", indices.len()))?;
    let plan_path = rundir.join("plan.json");
    let plan_bytes = std::fs::read(&plan_path).with_context(|| format!("reading {}", plan_path.display()))?;
    let found = blake3::hash(&plan_bytes).to_hex().to_string();
    if found != plan_hash {
        bail!(
            "{}: the plan was changed after submission (blake3 {found}, submitted {plan_hash}); refusing to run it",
            plan_path.display()
        );
    }
    let plan: Plan = serde_json::from_slice(&plan_bytes)
        .with_context(|| format!("{}: malformed plan", plan_path.display()))?;
    let inst = plan
        .instances
        .get(i)
        .with_context(|| format!("instance {i} is not in {}", plan_path.display()))?;
    let failed_file = rundir.join("failed").join(format!("{i}.txt"));
    let res = (|| -> Result<JobResult> {
        // Contents of what this instance reads (a report reads its whole upstream's run summary).
        let mut content = plan.known.clone();
        let up = plan::upstream(&plan.instances, i);
        for (j, c) in content.iter_mut().enumerate() {
            if up[j]
                && c.is_none()
                && let Ok(b) = std::fs::read(rundir.join("results").join(format!("{j}.json")))
            {
                let r: JobResult = serde_json::from_slice(&b)?;
                *c = Some(r.content);
            }
        }
        if let Some(&u) = inst.inputs.iter().find(|&&u| content[u].is_none()) {
            bail!(
                "input {} has no result in {} (its job did not finish)",
                plan.instances[u].id,
                rundir.display()
            );
        }
        let (key, info) = plan::key_of(&plan.pipeline, &plan.instances, i, &content, &plan.bins);
        if !plan.forced[i]
            && let Some(c) = store.cached(&key)
        {
            return Ok(JobResult {
                key,
                content: c,
                wall_s: 0.0,
                cached: true,
            });
        }
        let work = rundir.join("work").join(i.to_string());
        if work.exists() {
            std::fs::remove_dir_all(&work)?; // a requeued job starts over
        }
        std::fs::create_dir_all(&work)?;
        let inputs = exec::input_paths(store, &plan.instances, i, &content);
        match exec::execute(
            store,
            &plan.bins,
            &plan.lock_name,
            inst,
            &inputs,
            &work,
            info.as_deref(),
        ) {
            Outcome::Done { content: c, wall } => {
                store.set_key(&key, &c)?;
                Ok(JobResult {
                    key,
                    content: c,
                    wall_s: wall,
                    cached: false,
                })
            }
            Outcome::Failed(msg) => bail!("{msg}"),
        }
    })();
    match res {
        Ok(r) => {
            write_atomic(
                &rundir.join("results").join(format!("{i}.json")),
                &serde_json::to_vec(&r)?,
            )?;
            eprintln!(
                "{}: {} ({})",
                inst.id,
                if r.cached { "cached" } else { "done" },
                r.content
            );
            Ok(())
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let _ = write_atomic(&failed_file, msg.as_bytes());
            bail!("{}: {msg}", inst.id)
        }
    }
}
