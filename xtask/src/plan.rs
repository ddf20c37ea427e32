//! Planning a pipeline against the store: stage keys, what is cached and why the rest must run, the lock a
//! run updates, `status` and `--dry-run`.

use crate::kind::StageKind;
use crate::names::short;
use crate::pipeline::{Instance, Pipeline};
use crate::store::{LockEntry, PipelineLock, Store};
use anyhow::{Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Version of the key scheme; bump to invalidate every cached result.
pub const SCHEME: &str = "nnqft-key-v1";

/// Where the stage binaries are and what they are.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Binaries {
    pub dir: PathBuf,
    pub identity: BTreeMap<StageKind, String>,
}

impl Binaries {
    pub fn path(&self, kind: StageKind) -> PathBuf {
        self.dir.join(kind.package())
    }
}

/// The stage key: scheme, stage kind, binary identity, canonical parameters, input content hashes, extras.
pub fn stage_key(inst: &Instance, identity: &str, inputs: &[String], extra: &[String]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(SCHEME.as_bytes());
    h.update(b"\0");
    h.update(inst.kind.name().as_bytes());
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

impl State {
    /// The content hash of a cached instance.
    pub fn content(&self) -> Option<&str> {
        match self {
            State::Cached(c) => Some(c),
            State::Run(_) => None,
        }
    }
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
            short(&old.identity),
            short(identity)
        ));
    }
    for (i, (id, content)) in inputs.iter().enumerate() {
        match (old.inputs.get(i), content) {
            (Some((oid, oc)), Some(c)) if oid == id && oc != c => {
                r.push(format!("input {id} changed: {} -> {}", short(oc), short(c)))
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
            match store.cached(&key) {
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
        .filter(|&(j, s)| up[j] && !s.kind.reads_run_summary())
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
    let info = inst
        .kind
        .reads_run_summary()
        .then(|| run_info(name, instances, i, content));
    let extra: Vec<String> = info
        .iter()
        .map(|s| blake3::hash(s.as_bytes()).to_hex().to_string())
        .collect();
    (stage_key(inst, &bins.identity[&inst.kind], &hashes, &extra), info)
}

/// The pipeline's lock, ready to be updated by a run: it must belong to this pipeline file (else the run is
/// refused, naming both files), and entries of instances the pipeline no longer has are dropped.
pub fn lock_for_run(p: &Pipeline, store: &Store) -> Result<PipelineLock> {
    let mut lock = store.read_lock(&p.lock_name)?;
    if let Some(src) = &lock.source
        && src != &p.source
        && !lock.instances.is_empty()
    {
        bail!(
            "{} belongs to the pipeline file {src}, not to {}: rename this pipeline file, or remove that lock \
             (its objects then become garbage for gc)",
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

pub fn forced_mask(p: &Pipeline, force: &[String]) -> Result<Vec<bool>> {
    let mut roots = Vec::new();
    for f in force {
        let hits: Vec<usize> = (0..p.instances.len())
            .filter(|&i| {
                &p.instances[i].stage == f || p.instances[i].kind.name() == f || &p.instances[i].id == f
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const TEXT: &str = r#"
[stages.s]
stage = "sample"
sweep = { width = [2, 5] }
params = { arch = "erf", sigma_w = 1.0, sigma_b = 0.5, points = [0.1], n_bags = 2, n_nets = 10 }

[stages.m]
stage = "moments"
each = "s"

[stages.f]
stage = "fit"
inputs = ["m"]
params = { sweep = "width" }
"#;

    fn pipeline() -> Pipeline {
        Pipeline::parse("t", Path::new("t.toml"), TEXT).unwrap()
    }

    fn h(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn keys_are_stable_and_change_with_each_ingredient() {
        let p = pipeline();
        let s = &p.instances[0];
        let k = stage_key(s, "id", &[], &[]);
        // The scheme must not move silently: every cached result of every user hangs on it.
        assert_eq!(k, stage_key(s, "id", &[], &[]));
        assert_eq!(k.len(), 64);
        assert_ne!(k, stage_key(s, "id2", &[], &[]), "identity");
        assert_ne!(k, stage_key(&p.instances[1], "id", &[], &[]), "parameters");
        assert_ne!(k, stage_key(s, "id", &[h('a')], &[]), "inputs");
        assert_ne!(
            stage_key(s, "id", &[h('a')], &[]),
            stage_key(s, "id", &[h('b')], &[])
        );
        assert_ne!(k, stage_key(s, "id", &[], &[h('c')]), "run summary");
        // Parameters are canonical: insertion order does not matter.
        let mut swapped = s.clone();
        swapped.params = s
            .params
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(k, stage_key(&swapped, "id", &[], &[]));
    }

    #[test]
    fn staleness_reasons_name_what_changed() {
        let p = pipeline();
        let s = &p.instances[0];
        assert_eq!(reasons(s, "id", &[], None, false), vec!["never run"]);
        let mut old = LockEntry {
            key: h('0'),
            content: h('1'),
            stage: "s".into(),
            kind: StageKind::Sample,
            identity: h('2'),
            params: serde_json::to_value(&s.params).unwrap(),
            inputs: vec![],
            wall_s: 0.0,
        };
        let same = h('2');
        assert_eq!(
            reasons(s, &same, &[], Some(&old), false),
            vec!["result missing from the store (removed by gc or found corrupted)"]
        );
        assert_eq!(reasons(s, &same, &[], Some(&old), true)[0], "forced by --force");
        old.params["n_nets"] = 20.into();
        assert_eq!(
            reasons(s, &same, &[], Some(&old), false),
            vec!["parameter n_nets changed: 20 -> 10"]
        );
        old.params = serde_json::to_value(&s.params).unwrap();
        let r = reasons(s, &h('3'), &[], Some(&old), false);
        assert_eq!(
            r,
            vec!["sample binary changed: identity 222222222222 -> 333333333333"]
        );
        let m = &p.instances[2];
        old.params = serde_json::to_value(&m.params).unwrap();
        old.inputs = vec![("s[width=2]".into(), h('4'))];
        let r = reasons(
            m,
            &same,
            &[("s[width=2]".into(), Some(h('5')))],
            Some(&old),
            false,
        );
        assert_eq!(r, vec!["input s[width=2] changed: 444444444444 -> 555555555555"]);
        let r = reasons(m, &same, &[("s[width=2]".into(), None)], Some(&old), false);
        assert_eq!(r, vec!["input s[width=2] will be recomputed"]);
    }

    #[test]
    fn forcing_a_stage_forces_its_dependants_only() {
        let p = pipeline();
        let ids: Vec<&str> = p.instances.iter().map(|i| i.id.as_str()).collect();
        let forced = forced_mask(&p, &["m".into()]).unwrap();
        let hit: Vec<&str> = ids
            .iter()
            .zip(&forced)
            .filter(|(_, f)| **f)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(hit, vec!["m[width=2]", "m[width=5]", "f"]);
        let one = forced_mask(&p, &["s[width=5]".into()]).unwrap();
        let hit: Vec<&str> = ids
            .iter()
            .zip(&one)
            .filter(|(_, f)| **f)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(hit, vec!["s[width=5]", "m[width=5]", "f"]);
        let e = forced_mask(&p, &["nope".into()]).unwrap_err().to_string();
        assert!(
            e.contains("--force nope: no stage of that name") && e.contains("(stages: f, m, s)"),
            "{e}"
        );
    }

    #[test]
    fn run_summary_lists_only_upstream_instances() {
        let p = pipeline();
        let content: Vec<Option<String>> = (0..p.instances.len()).map(|_| Some(h('a'))).collect();
        let info: serde_json::Value =
            serde_json::from_str(&run_info("t", &p.instances, 4, &content)).unwrap();
        let names: Vec<&str> = info["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["s[width=2]", "s[width=5]", "m[width=2]", "m[width=5]"]
        );
        let info: serde_json::Value =
            serde_json::from_str(&run_info("t", &p.instances, 2, &content)).unwrap();
        assert_eq!(info["stages"][0]["name"], "s[width=2]");
        assert_eq!(
            info["stages"].as_array().unwrap().len(),
            1,
            "m[width=2] reads s[width=2] only"
        );
    }
}
