//! Pipeline files (`pipelines/NAME.toml`): named stages, their parameters, sweeps, and dependencies.
//!
//! ```toml
//! [stages.sample_width]
//! stage = "sample"                       # which stage binary
//! sweep = { width = [2, 5, 20] }         # one instance per value (several keys: cartesian product)
//! params = { arch = "gaussnet", ... }    # fixed parameters
//!
//! [stages.moments_width]
//! stage = "moments"
//! each = "sample_width"                  # one instance per instance of sample_width
//!
//! [stages.fit_width]
//! stage = "fit"
//! inputs = ["moments_width"]             # one instance reading every instance of the listed stages
//! params = { sweep = "width" }
//!
//! [slurm]                                # defaults for `--executor slurm` (flags override them)
//! partition = "short"; time = "02:00:00"; cpus = 2; mem = "4G"
//!
//! [stages.sample_big]
//! stage = "sample"
//! shards = 3                             # split each instance's bags into 3 shard instances
//! slurm = { time = "08:00:00" }          # this stage's resources (override [slurm])
//! ```
//!
//! A sample stage with `shards = K` becomes K instances per sweep point, each drawing a contiguous range of
//! the bags (`bags = "a..b"`); a stage with `each = ` it reads all K shards as one input group, and the
//! moments stage merges them exactly (per-bag sums). The split is part of the pipeline, not of the executor,
//! so local and Slurm runs produce the same objects.

use crate::kind::StageKind;
use crate::names;
use anyhow::{Result, anyhow, bail};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Slurm resources of a job (unset: the cluster's or xtask's default).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
}

impl Resources {
    /// `self` where set, else `base`.
    pub fn or(&self, base: &Resources) -> Resources {
        Resources {
            partition: self.partition.clone().or_else(|| base.partition.clone()),
            time: self.time.clone().or_else(|| base.time.clone()),
            cpus: self.cpus.or(base.cpus),
            mem: self.mem.clone().or_else(|| base.mem.clone()),
        }
    }
}

/// One stage block of the file.
#[derive(Debug, Clone)]
pub struct StageDef {
    pub name: String,
    pub kind: StageKind,
    pub params: BTreeMap<String, Value>,
    pub sweep: Vec<(String, Vec<Value>)>,
    pub each: Option<String>,
    pub inputs: Vec<String>,
    /// Bag shards per sample instance (1: no split).
    pub shards: u32,
    pub slurm: Resources,
    /// Line of the block's `[stages.NAME]` header.
    pub line: usize,
    /// Line of each parameter, sweep key and `shards` in the file.
    pub lines: BTreeMap<String, usize>,
    /// Line of each input named by `each` or `inputs`.
    pub input_lines: BTreeMap<String, usize>,
}

/// Most bag shards of one sample configuration.
const MAX_SHARDS: i64 = 1_000_000;

/// The file as written: its shape is checked by deserialisation (unknown keys refused), every value with its
/// span for messages.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    pipeline: Option<RawMeta>,
    slurm: Option<RawSlurm>,
    #[serde(default)]
    stages: BTreeMap<Spanned<String>, Spanned<RawStage>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    description: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlurm {
    partition: Option<Spanned<String>>,
    time: Option<Spanned<String>>,
    cpus: Option<Spanned<i64>>,
    mem: Option<Spanned<String>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    stage: Spanned<String>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    sweep: BTreeMap<Spanned<String>, Spanned<Vec<toml::Value>>>,
    each: Option<Spanned<String>>,
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
    shards: Option<Spanned<i64>>,
    slurm: Option<RawSlurm>,
}

/// A concrete stage instance of the plan.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    /// e.g. `sample_width[width=2]`.
    pub id: String,
    pub stage: String,
    pub kind: StageKind,
    pub params: BTreeMap<String, Value>,
    /// Indices of the instances whose outputs this one reads, in order.
    pub inputs: Vec<usize>,
    /// The sweep part of the id (`[width=2]`), shared by the shards of one configuration.
    pub label: String,
    /// (shard index, shard count) of a sharded sample instance.
    pub shard: Option<(u32, u32)>,
    /// Slurm resources: the stage's, else the file's `[slurm]` defaults.
    pub slurm: Resources,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The file's stem: what the report and the messages call it.
    pub name: String,
    /// Names the pipeline's lock and log directory in the store: the stem for a shipped pipeline
    /// (`pipelines/NAME.toml`), else the stem (made safe) and a hash of the file's absolute path, so that a
    /// user's `other/smoke.toml` never shares a lock with the shipped `smoke`.
    pub lock_name: String,
    /// Where the lock says it came from: `pipelines/NAME.toml` for a shipped one, else the absolute path.
    pub source: String,
    pub path: PathBuf,
    pub text: String,
    /// `[pipeline] description = "..."`, if given.
    pub description: Option<String>,
    pub stages: Vec<StageDef>,
    /// Instances in a topological order.
    pub instances: Vec<Instance>,
}

/// Line (1-based) of byte offset `pos` in `text`.
fn line_at(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].matches('\n').count() + 1
}

fn to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Pipeline {
    /// Reads and parses a pipeline file; `shipped` is the directory of the shipped pipelines; `sets` are
    /// `--set STAGE.PARAM=VALUE` overrides (see [`Set`]), which give the run a lock of its own.
    pub fn load(path: &Path, shipped: &Path, sets: &[Set]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("{}: cannot read pipeline file: {e}", path.display()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let is_shipped = abs
            .parent()
            .is_some_and(|d| std::fs::canonicalize(shipped).is_ok_and(|s| s == d));
        let mut p = Self::parse_with(&name, path, &text, sets)?;
        if is_shipped && names::check_pipeline_name("pipeline", &name).is_ok() {
            p.lock_name = name.clone();
            p.source = format!("pipelines/{name}.toml");
        } else {
            let h = blake3::hash(abs.to_string_lossy().as_bytes()).to_hex();
            p.lock_name = format!("{}-{}", names::sanitize_name(&name), &h[..names::SHORT_HASH_LEN]);
            p.source = abs.display().to_string();
        }
        if !sets.is_empty() {
            // An experiment: its own lock, so the plain pipeline's lock (and gc's view of it) stays as it was.
            let desc: Vec<String> = sets.iter().map(Set::to_string).collect();
            let h = blake3::hash(desc.join("\0").as_bytes()).to_hex();
            p.lock_name = format!("{}.set-{}", p.lock_name, &h[..names::SHORT_HASH_LEN]);
            p.source = format!("{} with --set {}", p.source, desc.join(" --set "));
        }
        Ok(p)
    }

    /// Parses a pipeline's text; `name` names it, and its lock until [`Pipeline::load`] says otherwise.
    pub fn parse(name: &str, path: &Path, text: &str) -> Result<Self> {
        Self::parse_with(name, path, text, &[])
    }

    /// [`Pipeline::parse`] with `--set` overrides applied to the stage blocks before anything is expanded.
    pub fn parse_with(name: &str, path: &Path, text: &str, sets: &[Set]) -> Result<Self> {
        let file = path.display();
        let at = |span: &std::ops::Range<usize>| line_at(text, span.start);
        // The file's shape (tables, keys, types) is checked by deserialising into the raw types below, which
        // refuse unknown keys; every value keeps its span, so each error names its line.
        let err = |what: &str, e: toml::de::Error| {
            let line = e.span().map_or(0, |s| at(&s));
            anyhow!("{file}:{line}: {what}{}", e.message().trim_end())
        };
        text.parse::<toml::Table>()
            .map_err(|e| err("syntax error: ", e))?;
        let mut raw: RawFile = toml::from_str(text).map_err(|e| err("", e))?;
        let description = raw.pipeline.as_ref().and_then(|m| m.description.clone());
        for set in sets {
            set.apply(&mut raw)?;
        }
        let slurm_defaults = match &raw.slurm {
            None => Resources::default(),
            Some(v) => resources(v, &at).map_err(|e| anyhow!("{file}:{e}"))?,
        };
        if raw.stages.is_empty() {
            bail!("{file}: no [stages.NAME] tables");
        }
        let mut stages = Vec::new();
        for (sname, block) in &raw.stages {
            let (sname, head) = (sname.get_ref(), at(&sname.span()));
            names::check_stage_name(&format!("{file}:{head}: stage name"), sname)?;
            let t = block.get_ref();
            let Some(kind) = StageKind::parse(t.stage.get_ref()) else {
                bail!(
                    "{file}:{}: stage {sname}: unknown stage '{}' (expected one of {})",
                    at(&t.stage.span()),
                    t.stage.get_ref(),
                    StageKind::ALL.map(StageKind::name).join(", ")
                );
            };
            let allowed = kind.params();
            let accepted = || {
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            };
            let mut lines = BTreeMap::new();
            let mut params = BTreeMap::new();
            for (k, v) in &t.params {
                let line = at(&k.span());
                if !allowed.contains(&k.get_ref().as_str()) {
                    bail!(
                        "{file}:{line}: stage {sname}: unknown parameter '{}' for a {kind} stage (accepted: {})",
                        k.get_ref(),
                        accepted()
                    );
                }
                lines.insert(k.get_ref().clone(), line);
                params.insert(k.get_ref().clone(), to_json(v.get_ref()));
            }
            let mut sweep = Vec::new();
            for (k, list) in &t.sweep {
                let (key, line) = (k.get_ref(), at(&k.span()));
                if !allowed.contains(&key.as_str()) {
                    bail!("{file}:{line}: stage {sname}: unknown sweep parameter '{key}' for a {kind} stage");
                }
                let values = list.get_ref();
                if values.is_empty() {
                    bail!("{file}:{line}: stage {sname}: sweep {key} is empty; give at least one value");
                }
                for (a, x) in values.iter().enumerate() {
                    if values[..a].contains(x) {
                        bail!(
                            "{file}:{line}: stage {sname}: sweep {key} lists the value {x} twice; give each value once"
                        );
                    }
                }
                lines.insert(key.clone(), line);
                sweep.push((key.clone(), values.iter().map(to_json).collect()));
            }
            let each = t.each.as_ref().map(|e| e.get_ref().clone());
            let inputs: Vec<String> = t.inputs.iter().map(|i| i.get_ref().clone()).collect();
            if !kind.takes_inputs() && (each.is_some() || !inputs.is_empty()) {
                bail!("{file}:{head}: stage {sname}: a {kind} stage takes no inputs");
            }
            if kind.takes_inputs() && each.is_none() && inputs.is_empty() {
                bail!(
                    "{file}:{head}: stage {sname}: a {kind} stage needs `each = \"STAGE\"` or `inputs = [...]`"
                );
            }
            let shards = match &t.shards {
                None => 1,
                Some(v) => {
                    let line = at(&v.span());
                    let k = *v.get_ref();
                    if !(1..=MAX_SHARDS).contains(&k) {
                        bail!(
                            "{file}:{line}: stage {sname}: shards = {k} is invalid: give a whole number >= 1"
                        );
                    }
                    if !kind.shardable() {
                        bail!(
                            "{file}:{line}: stage {sname}: shards applies to sample stages only (this is a {kind} stage)"
                        );
                    }
                    lines.insert("shards".into(), line);
                    k as u32
                }
            };
            let slurm = match &t.slurm {
                None => Resources::default(),
                Some(v) => resources(v, &at).map_err(|e| anyhow!("{file}:{e}: stage {sname}"))?,
            };
            let mut input_lines = BTreeMap::new();
            for i in t.each.iter().chain(&t.inputs) {
                input_lines.insert(i.get_ref().clone(), at(&i.span()));
            }
            stages.push(StageDef {
                name: sname.clone(),
                kind,
                params,
                sweep,
                each,
                inputs,
                shards,
                slurm,
                line: head,
                lines,
                input_lines,
            });
        }
        // References and cycles.
        let names: HashMap<&str, usize> = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        for s in &stages {
            for dep in s.each.iter().chain(&s.inputs) {
                if !names.contains_key(dep.as_str()) {
                    bail!(
                        "{file}:{}: stage {}: unknown input stage '{dep}'",
                        s.input_lines.get(dep).copied().unwrap_or(s.line),
                        s.name
                    );
                }
            }
        }
        let order = topo(&stages, &names).map_err(|cycle| {
            let first = &stages[names[cycle[0].as_str()]];
            let line = first.input_lines.values().next().copied().unwrap_or(first.line);
            anyhow!("{file}:{line}: dependency cycle: {}", cycle.join(" -> "))
        })?;
        // Expand instances. `groups[stage]` lists, per configuration, the instances holding it (its shards).
        let mut instances: Vec<Instance> = Vec::new();
        let mut groups: HashMap<String, Vec<Vec<usize>>> = HashMap::new();
        for &si in &order {
            let s = &stages[si];
            let res = s.slurm.or(&slurm_defaults);
            let combos = cartesian(&s.sweep);
            let extra: Vec<usize> = s
                .inputs
                .iter()
                .flat_map(|i| groups[i.as_str()].iter().flatten().copied().collect::<Vec<_>>())
                .collect();
            // (label prefix, inputs) of each instance before sweeping.
            let bases: Vec<(String, Vec<usize>)> = match &s.each {
                Some(up) => groups[up.as_str()]
                    .iter()
                    .map(|g| {
                        let mut inputs = g.clone();
                        inputs.extend(&extra);
                        (instances[g[0]].label.clone(), inputs)
                    })
                    .collect(),
                None => vec![(String::new(), extra.clone())],
            };
            let mut out_groups = Vec::new();
            for (prefix, inputs) in &bases {
                for c in &combos {
                    let mut params = s.params.clone();
                    params.extend(c.iter().cloned());
                    let label = format!("{prefix}{}", sweep_label(c));
                    let mut group = Vec::new();
                    let ranges = if s.shards > 1 {
                        let n_bags = params.get("n_bags").and_then(|v| v.as_u64()).unwrap_or(0);
                        if n_bags < s.shards as u64 {
                            bail!(
                                "{file}:{}: stage {}: shards = {} needs n_bags >= {} (n_bags = {n_bags})",
                                s.lines.get("shards").copied().unwrap_or(s.line),
                                s.name,
                                s.shards,
                                s.shards
                            );
                        }
                        (0..s.shards as u64)
                            .map(|k| (k * n_bags / s.shards as u64, (k + 1) * n_bags / s.shards as u64))
                            .map(Some)
                            .collect()
                    } else {
                        vec![None]
                    };
                    for (k, r) in ranges.into_iter().enumerate() {
                        let mut params = params.clone();
                        let mut id = format!("{}{label}", s.name);
                        let shard = r.map(|(a, b)| {
                            params.insert("bags".into(), Value::String(format!("{a}..{b}")));
                            id += &format!("[bags={a}..{b}]");
                            (k as u32, s.shards)
                        });
                        group.push(instances.len());
                        instances.push(Instance {
                            id,
                            stage: s.name.clone(),
                            kind: s.kind,
                            params,
                            inputs: inputs.clone(),
                            label: label.clone(),
                            shard,
                            slurm: res.clone(),
                        });
                    }
                    out_groups.push(group);
                }
            }
            groups.insert(s.name.clone(), out_groups);
        }
        Ok(Pipeline {
            name: name.into(),
            lock_name: names::sanitize_name(name),
            description,
            source: path.display().to_string(),
            path: path.into(),
            text: text.into(),
            stages,
            instances,
        })
    }

    /// Instances that (transitively) read the outputs of `roots`, roots included.
    pub fn downstream(&self, roots: &[usize]) -> Vec<bool> {
        let mut mark = vec![false; self.instances.len()];
        for &r in roots {
            mark[r] = true;
        }
        for i in 0..self.instances.len() {
            if self.instances[i].inputs.iter().any(|&u| mark[u]) {
                mark[i] = true;
            }
        }
        mark
    }
}

/// A `--set STAGE.PARAM=VALUE` override of a pipeline parameter. VALUE is read as a TOML value (`5`, `1.5`,
/// `[0.1, 0.2]`, `"erf"`, `true`); a bare word that is not one is taken as a string (`arch=erf`). A parameter
/// the stage sweeps over is replaced by the single value.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub stage: String,
    pub param: String,
    pub value: toml::Value,
}

impl std::str::FromStr for Set {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--set {s:?}: expected STAGE.PARAM=VALUE, e.g. sample_width.n_nets=5000");
        let (lhs, rhs) = s.split_once('=').ok_or_else(bad)?;
        let (stage, param) = lhs.trim().split_once('.').ok_or_else(bad)?;
        if stage.is_empty() || param.is_empty() || rhs.trim().is_empty() {
            return Err(bad());
        }
        let rhs = rhs.trim();
        let value = format!("v = {rhs}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(rhs.to_string()));
        Ok(Set {
            stage: stage.to_string(),
            param: param.to_string(),
            value,
        })
    }
}

impl std::fmt::Display for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}={}", self.stage, self.param, self.value)
    }
}

impl Set {
    fn apply(&self, raw: &mut RawFile) -> Result<()> {
        let Some(block) = raw.stages.get_mut(self.stage.as_str()) else {
            bail!("--set {self}: the pipeline has no stage {:?}", self.stage);
        };
        let span = block.span();
        let stage = block.get_mut();
        stage.sweep.remove(self.param.as_str());
        stage.params.remove(self.param.as_str());
        stage.params.insert(
            Spanned::new(span.clone(), self.param.clone()),
            Spanned::new(span, self.value.clone()),
        );
        Ok(())
    }
}

/// Checks a `[slurm]` or `slurm = { ... }` table; errors are "LINE: problem".
fn resources(r: &RawSlurm, at: &dyn Fn(&std::ops::Range<usize>) -> usize) -> Result<Resources, String> {
    let bad = |k: &str, span: &std::ops::Range<usize>, v: &dyn std::fmt::Display, what: &str| {
        format!("{}: slurm {k} = {v} is invalid: {what}", at(span))
    };
    if let Some(t) = &r.time {
        let s = t.get_ref();
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '-') {
            return Err(bad(
                "time",
                &t.span(),
                &format!("{s:?}"),
                "give a Slurm time limit such as \"02:00:00\" or \"1-00:00:00\"",
            ));
        }
    }
    if let Some(c) = &r.cpus
        && !(1..=4096).contains(c.get_ref())
    {
        return Err(bad(
            "cpus",
            &c.span(),
            c.get_ref(),
            "give a whole number of CPUs >= 1",
        ));
    }
    if let Some(m) = &r.mem {
        let digits = m.get_ref().trim_end_matches(['K', 'M', 'G', 'T']);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(
                "mem",
                &m.span(),
                &format!("{:?}", m.get_ref()),
                "give a memory size such as \"4G\" or \"500M\"",
            ));
        }
    }
    Ok(Resources {
        partition: r.partition.as_ref().map(|p| p.get_ref().clone()),
        time: r.time.as_ref().map(|t| t.get_ref().clone()),
        cpus: r.cpus.as_ref().map(|c| *c.get_ref() as u32),
        mem: r.mem.as_ref().map(|m| m.get_ref().clone()),
    })
}

fn sweep_label(c: &[(String, Value)]) -> String {
    if c.is_empty() {
        return String::new();
    }
    format!(
        "[{}]",
        c.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn cartesian(sweep: &[(String, Vec<Value>)]) -> Vec<Vec<(String, Value)>> {
    let mut out: Vec<Vec<(String, Value)>> = vec![vec![]];
    for (k, vals) in sweep {
        out = out
            .into_iter()
            .flat_map(|c| {
                vals.iter().map(move |v| {
                    let mut c2 = c.clone();
                    c2.push((k.clone(), v.clone()));
                    c2
                })
            })
            .collect();
    }
    out
}

/// Topological order of the stage graph, or the stages of one cycle.
fn topo(stages: &[StageDef], names: &HashMap<&str, usize>) -> Result<Vec<usize>, Vec<String>> {
    let n = stages.len();
    let deps: Vec<Vec<usize>> = stages
        .iter()
        .map(|s| {
            s.each
                .iter()
                .chain(&s.inputs)
                .map(|d| names[d.as_str()])
                .collect()
        })
        .collect();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut order = Vec::new();
    fn visit(
        i: usize,
        deps: &[Vec<usize>],
        state: &mut [u8],
        order: &mut Vec<usize>,
        stack: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        if state[i] == 2 {
            return Ok(());
        }
        if state[i] == 1 {
            let pos = stack.iter().position(|&s| s == i).unwrap_or(0);
            let mut cyc = stack[pos..].to_vec();
            cyc.push(i);
            return Err(cyc);
        }
        state[i] = 1;
        stack.push(i);
        for &d in &deps[i] {
            visit(d, deps, state, order, stack)?;
        }
        stack.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..n {
        visit(i, &deps, &mut state, &mut order, &mut Vec::new())
            .map_err(|c| c.iter().map(|&i| stages[i].name.clone()).collect::<Vec<_>>())?;
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "params = { arch = \"erf\", sigma_w = 1.0, sigma_b = 0.5, points = [0.1], n_bags = 4, n_nets = 10 }\n";

    fn parse(text: &str) -> Result<Pipeline> {
        Pipeline::parse("t", Path::new("t.toml"), text)
    }

    fn ids(p: &Pipeline) -> Vec<&str> {
        p.instances.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn sweeps_expand_as_a_cartesian_product_in_dependency_order() {
        let p = parse(&format!(
            "[stages.z_fit]\nstage = \"fit\"\ninputs = [\"m\"]\nparams = {{ sweep = \"width\" }}\n\n\
             [stages.m]\nstage = \"moments\"\neach = \"a\"\n\n\
             [stages.a]\nstage = \"sample\"\nsweep = {{ width = [2, 5], seed = [1, 2] }}\n{SAMPLE}"
        ))
        .unwrap();
        assert_eq!(
            ids(&p),
            vec![
                "a[seed=1,width=2]",
                "a[seed=1,width=5]",
                "a[seed=2,width=2]",
                "a[seed=2,width=5]",
                "m[seed=1,width=2]",
                "m[seed=1,width=5]",
                "m[seed=2,width=2]",
                "m[seed=2,width=5]",
                "z_fit"
            ]
        );
        // Every instance comes after its inputs.
        for (i, inst) in p.instances.iter().enumerate() {
            assert!(inst.inputs.iter().all(|&u| u < i), "{}", inst.id);
        }
        assert_eq!(p.instances[8].inputs, vec![4, 5, 6, 7]);
        assert_eq!(p.instances[5].inputs, vec![1]);
        assert_eq!(p.instances[1].params["width"], 5);
        assert!(
            p.instances[5].params.is_empty(),
            "moments has no parameters of its own"
        );
    }

    #[test]
    fn shards_split_the_bags_contiguously() {
        let p = parse(&format!("[stages.a]\nstage = \"sample\"\nshards = 3\n{SAMPLE}")).unwrap();
        let bags: Vec<&str> = p
            .instances
            .iter()
            .map(|i| i.params["bags"].as_str().unwrap())
            .collect();
        assert_eq!(bags, vec!["0..1", "1..2", "2..4"]);
        assert_eq!(p.instances[2].shard, Some((2, 3)));
    }

    #[test]
    fn cycles_and_duplicates_are_named_with_their_lines() {
        let e = parse("[stages.a]\nstage = \"moments\"\ninputs = [\"b\"]\n\n[stages.b]\nstage = \"fit\"\ninputs = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dependency cycle: a -> b -> a"), "{e}");
        let e = parse(&format!(
            "[stages.a]\nstage = \"sample\"\nsweep = {{ width = [2, 3, 2] }}\n{SAMPLE}"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "t.toml:3: stage a: sweep width lists the value 2 twice; give each value once"
        );
        let e = parse(&format!("[stages.\"a/b\"]\nstage = \"sample\"\n{SAMPLE}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("stage name = \"a/b\" is not a valid name"), "{e}");
    }

    #[test]
    fn set_overrides_parameters_and_replaces_a_sweep() {
        let text = format!("[stages.a]\nstage = \"sample\"\nsweep = {{ width = [2, 5] }}\n{SAMPLE}");
        let sets: Vec<Set> = ["a.width=7", "a.arch=relu", "a.points=[0.2, 0.4]"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let p = Pipeline::parse_with("t", Path::new("t.toml"), &text, &sets).unwrap();
        assert_eq!(ids(&p), vec!["a"]);
        assert_eq!(p.instances[0].params["width"], 7);
        assert_eq!(p.instances[0].params["arch"], "relu");
        assert_eq!(p.instances[0].params["points"], serde_json::json!([0.2, 0.4]));
        let e = Pipeline::parse_with("t", Path::new("t.toml"), &text, &["b.width=1".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no stage \"b\""), "{e}");
        for bad in ["a.width", "width=3", "a.=3", ".w=3", "a.w="] {
            assert!(bad.parse::<Set>().is_err(), "{bad}");
        }
    }
}
