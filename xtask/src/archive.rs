//! `archive`: a deterministic tarball of a pipeline's lock, artifacts, checksums and provenance; `import`:
//! the verified way back into a store.
//!
//! Layout inside the tarball (entries sorted, mtime 0, uid/gid 0, mode 0644, regular files only):
//! `nnqft-archive/{pipeline.toml, lock.json, provenance.json, CHECKSUMS.b3, keys/<key>, objects/<hash>/<file>}`.
//! Import refuses absolute paths, `..`, links and any other entry type, files missing from or not matching
//! CHECKSUMS.b3 and objects whose manifests do not verify; nothing is moved into the store before all of
//! that has been checked.

use crate::store::{PipelineLock, Store};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

const TOP: &str = "nnqft-archive";

/// What an archive entry holds: bytes made here, or a file of the store streamed into the tarball.
enum Src {
    Bytes(Vec<u8>),
    File(PathBuf),
}

fn git_rev(root: &Path) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn archive(
    store: &Store,
    pipeline: &crate::pipeline::Pipeline,
    identity: &BTreeMap<crate::kind::StageKind, String>,
    root: &Path,
    out: &Path,
) -> Result<usize> {
    let lock = store.read_lock(&pipeline.lock_name)?;
    if lock.instances.is_empty() {
        bail!(
            "pipeline {} has no lock in {}: run it first",
            pipeline.name,
            store.root.display()
        );
    }
    // Object files are streamed from the store (hashed, then copied), never held in memory: a paper run's
    // tables are gigabytes.
    let mut files: BTreeMap<String, Src> = BTreeMap::new();
    files.insert(
        "pipeline.toml".into(),
        Src::Bytes(pipeline.text.clone().into_bytes()),
    );
    files.insert(
        "lock.json".into(),
        Src::Bytes(std::fs::read(store.lock_path(&pipeline.lock_name))?),
    );
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let prov = serde_json::json!({
        "tool_version": nnqft_store::TOOL_VERSION,
        "git_revision": git_rev(root),
        "rustc": rustc,
        "stage_identities": identity,
        "pipeline": pipeline.name,
    });
    files.insert(
        "provenance.json".into(),
        Src::Bytes((serde_json::to_string_pretty(&prov)? + "\n").into_bytes()),
    );
    for e in lock.instances.values() {
        if !store.intact(&e.content) {
            bail!(
                "object {} of {} is missing or corrupted: run the pipeline again before archiving",
                e.content,
                pipeline.name
            );
        }
        files.insert(
            format!("keys/{}", e.key),
            Src::Bytes(format!("{}\n", e.content).into_bytes()),
        );
        let dir = store.object(&e.content);
        // Only what the manifest lists, as regular files: a stray file, or a link someone planted in the object
        // (to a file of the user's), never goes into a tarball the user will hand out.
        crate::store::check_no_strays(&dir).with_context(|| {
            format!("object {} of {}: run verify (it quarantines the object), then the pipeline, before archiving", e.content, pipeline.name)
        })?;
        let mut names: Vec<_> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|x| x.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            if !std::fs::symlink_metadata(&path)?.is_file() {
                bail!(
                    "{} is not a regular file (a link?): run verify, then the pipeline, before archiving",
                    path.display()
                );
            }
            files.insert(format!("objects/{}/{name}", e.content), Src::File(path));
        }
    }
    let mut sums = String::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for (n, src) in &files {
        let (h, size) = match src {
            Src::Bytes(b) => (blake3::hash(b).to_hex().to_string(), b.len() as u64),
            Src::File(p) => nnqft_store::hash_file(p)?,
        };
        sums.push_str(&format!("{h}  {n}\n"));
        sizes.insert(n.clone(), size);
    }
    sizes.insert("CHECKSUMS.b3".into(), sums.len() as u64);
    files.insert("CHECKSUMS.b3".into(), Src::Bytes(sums.into_bytes()));
    // A temporary name of our own beside the target (never a file of the user's), renamed when complete.
    let tmp = crate::store::tmp_beside(out);
    let written = (|| -> Result<()> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        let mut b = tar::Builder::new(f);
        for (name, src) in &files {
            let size = sizes[name];
            let data: Box<dyn Read> = match src {
                Src::Bytes(b) => Box::new(b.as_slice()),
                Src::File(p) => {
                    let f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
                    if f.metadata()?.len() != size {
                        bail!("{} changed while it was archived", p.display());
                    }
                    Box::new(f.take(size))
                }
            };
            let mut h = tar::Header::new_gnu();
            h.set_size(size);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, format!("{TOP}/{name}"), data)
                .with_context(|| format!("writing {}", tmp.display()))?;
        }
        b.into_inner()
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, out).with_context(|| format!("renaming into {}", out.display()))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    Ok(files.len())
}

fn safe_rel(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            _ => bail!("refused: entry {} is absolute or contains '..'", path.display()),
        }
    }
    let rel = out
        .strip_prefix(TOP)
        .with_context(|| format!("refused: entry {} lies outside {TOP}/", path.display()))?
        .to_path_buf();
    Ok(rel)
}

/// Refuses control characters (an escape sequence, a newline) in the strings of an imported lock that xtask
/// prints (`status`, `verify`, error messages): instance and input ids, stage names, the source and identities.
fn check_printable(lock: &PipelineLock) -> Result<()> {
    let mut fields: Vec<(String, &str)> = Vec::new();
    if let Some(s) = &lock.source {
        fields.push(("source".into(), s));
    }
    for (id, e) in &lock.instances {
        fields.push(("instance id".into(), id));
        fields.push((format!("instances.{id:?}.stage"), &e.stage));
        fields.push((format!("instances.{id:?}.identity"), &e.identity));
        for (k, (input, _)) in e.inputs.iter().enumerate() {
            fields.push((format!("instances.{id:?}.inputs[{k}]"), input));
        }
    }
    for (field, s) in fields {
        if s.chars().any(char::is_control) {
            bail!("refused: lock.json: {field} = {s:?} contains control characters");
        }
    }
    Ok(())
}

/// Imports an archive into the store; returns the pipeline (lock) name. Every value of `lock.json` that
/// becomes a path is checked first (`PipelineLock::check`); `as_name` records the lock under another name;
/// a different lock of the same name is replaced only with `force`.
pub fn import(
    store: &Store,
    file: &Path,
    as_name: Option<&str>,
    force: bool,
    shipped: &[String],
) -> Result<String> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let staging = store.tmp().join(format!("import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let result = (|| -> Result<String> {
        let mut ar = tar::Archive::new(f);
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for entry in ar.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                safe_rel(&path)?;
                continue;
            }
            if !kind.is_file() {
                bail!(
                    "refused: entry {} is a {:?}, not a regular file (links are not accepted)",
                    path.display(),
                    kind
                );
            }
            let rel = safe_rel(&path)?;
            let name = rel.to_string_lossy().into_owned();
            if seen.contains_key(&name) {
                bail!("refused: entry {name} appears twice");
            }
            // Streamed to its staging file while hashed: memory stays bounded whatever the entry's size.
            let dest = staging.join(&rel);
            std::fs::create_dir_all(dest.parent().expect("has parent"))?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dest)
                .with_context(|| format!("writing {}", dest.display()))?;
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = entry
                    .read(&mut buf)
                    .with_context(|| format!("reading entry {name} of {}", file.display()))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .with_context(|| format!("writing {}", dest.display()))?;
            }
            seen.insert(name, hasher.finalize().to_hex().to_string());
        }
        let sums = std::fs::read_to_string(staging.join("CHECKSUMS.b3"))
            .context("refused: the archive has no CHECKSUMS.b3")?;
        let mut listed: BTreeMap<String, String> = BTreeMap::new();
        for line in sums.lines() {
            let (h, n) = line
                .split_once("  ")
                .with_context(|| format!("refused: malformed CHECKSUMS.b3 line '{line}'"))?;
            listed.insert(n.to_string(), h.to_string());
        }
        for (n, h) in &listed {
            match seen.get(n) {
                None => bail!("refused: {n} is listed in CHECKSUMS.b3 but missing from the archive"),
                Some(found) if found != h => {
                    bail!("refused: {n} does not match CHECKSUMS.b3 (blake3 {found}, listed {h})")
                }
                _ => {}
            }
        }
        if let Some(extra) = seen
            .keys()
            .find(|n| *n != "CHECKSUMS.b3" && !listed.contains_key(*n))
        {
            bail!("refused: {extra} is not listed in CHECKSUMS.b3");
        }
        let mut lock: PipelineLock = serde_json::from_slice(
            &std::fs::read(staging.join("lock.json")).context("refused: no lock.json")?,
        )
        .context("refused: malformed lock.json")?;
        lock.check("refused: lock.json")
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        check_printable(&lock)?;
        if let Some(n) = as_name {
            crate::names::check_pipeline_name("--as", n)?;
            lock.pipeline = n.to_string();
        }
        // A lock under a shipped pipeline's name must come from that shipped file, or `run NAME` would then be
        // refused (its lock belonging to another file) until the user removed it.
        if as_name.is_none()
            && shipped.iter().any(|n| n == &lock.pipeline)
            && lock.source.as_deref() != Some(&format!("pipelines/{}.toml", lock.pipeline))
        {
            bail!(
                "refused: the archive's lock is named {} like the shipped pipeline, but comes from {}; import it \
                 under another name with --as NAME",
                lock.pipeline,
                lock.source.as_deref().unwrap_or("an unrecorded file")
            );
        }
        let existing = store.read_lock(&lock.pipeline)?;
        if !existing.instances.is_empty()
            && (existing.instances != lock.instances || existing.source != lock.source)
            && !force
        {
            bail!(
                "refused: the store already has a different lock for pipeline {} ({}); import it under another \
                 name with --as NAME, or replace that lock with --force (the objects only it reaches then \
                 become garbage for gc)",
                lock.pipeline,
                store.lock_path(&lock.pipeline).display()
            );
        }
        for e in lock.instances.values() {
            let dir = staging.join("objects").join(&e.content);
            nnqft_store::verify(&dir).with_context(|| format!("refused: object {}", e.content))?;
            // What verify would call damage (a file or directory its manifest does not list) is refused too.
            crate::store::check_no_strays(&dir).with_context(|| format!("refused: object {}", e.content))?;
            if nnqft_store::content_hash(&dir)? != e.content {
                bail!("refused: object {} does not hash to its name", e.content);
            }
        }
        // Everything checked: move into place.
        for e in lock.instances.values() {
            let dest = store.object(&e.content);
            if dest.exists() && store.verify_strict(&e.content).is_err() {
                store.quarantine(&e.content)?;
            }
            if !dest.exists() {
                std::fs::rename(staging.join("objects").join(&e.content), &dest)?;
            }
            store.verify_object(&e.content)?;
            store.set_key(&e.key, &e.content)?;
        }
        store.write_lock(&lock)?;
        Ok(lock.pipeline)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}
