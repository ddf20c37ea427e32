//! The store (DESIGN.md "Identity and caching"). Only xtask knows this layout:
//!
//! ```text
//! artifacts/
//!   objects/<content-hash>/      immutable artifact directories (manifest.json + tables)
//!   objects/<content-hash>.stat  sizes and mtimes seen at the last full verification (stat cache)
//!   keys/<stage-key>             content hash produced by that stage key (the action cache)
//!   locks/<pipeline>.json        per pipeline: every instance's key, content, parameters, identity, timing
//!   logs/<pipeline>/<instance>.stderr   stderr of a failed stage (instance id percent-encoded)
//!   corrupt/<content-hash>[-N]   objects found damaged (quarantined; the next run recomputes them)
//!   tmp/                         stage outputs being written (removed at the start of every run)
//!   store.lock                   advisory lock: one writer at a time; released when the process dies
//! ```
//!
//! Every hash read from disk (keys/, locks/, archives) is checked to be 64 lowercase hex digits before it is
//! used in a path, and every pipeline name to be in the safe alphabet (`crate::names`).

use crate::names::{self, check_hash, check_pipeline_name};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// What a pipeline lock records for one stage instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockEntry {
    pub key: String,
    pub content: String,
    pub stage: String,
    pub kind: crate::kind::StageKind,
    pub identity: String,
    pub params: serde_json::Value,
    /// (instance id, content hash) of every input.
    pub inputs: Vec<(String, String)>,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineLock {
    pub pipeline: String,
    /// The pipeline file this lock belongs to (as the user named it), so that two files never share a lock
    /// silently; absent in locks written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub instances: BTreeMap<String, LockEntry>,
}

impl PipelineLock {
    /// Checks every value that the store will use in a path: the pipeline name, keys, content hashes.
    /// `origin` names the file in the message.
    pub fn check(&self, origin: &str) -> Result<()> {
        check_pipeline_name(&format!("{origin}: pipeline"), &self.pipeline)?;
        for (id, e) in &self.instances {
            check_hash(&format!("{origin}: instances.{id:?}.key"), &e.key)?;
            check_hash(&format!("{origin}: instances.{id:?}.content"), &e.content)?;
            for (k, (input, c)) in e.inputs.iter().enumerate() {
                if !c.is_empty() {
                    check_hash(&format!("{origin}: instances.{id:?}.inputs[{k}] ({input})"), c)?;
                }
            }
        }
        Ok(())
    }
}

/// The held advisory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// A temporary name beside `path` that no other writer (thread or process) uses: `.NAME.tmp-PID-N`.
pub fn tmp_beside(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// A fresh directory under the system's temporary directory (`$TMPDIR`, else /tmp) that only this process uses:
/// `PREFIX-PID-RANDOM`, created with mode 0700 by a `mkdir` that fails if anything (a directory or a link
/// another user planted) is already there, so nobody else can predict it, write into it or redirect what is
/// written there. The caller removes it.
pub fn private_temp_dir(prefix: &str) -> Result<PathBuf> {
    use std::hash::{BuildHasher, Hasher};
    let base = std::env::temp_dir();
    for _ in 0..100 {
        // RandomState is seeded from the OS's random source; the clock and pid only add to it.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let dir = base.join(format!("{prefix}-{}-{:016x}", std::process::id(), h.finish()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!(
        "could not create a private directory under {} (100 names taken)",
        base.display()
    )
}

/// The pid of a temporary of [`tmp_beside`] (`.NAME.tmp-PID-N`); None for any other name.
fn atomic_tmp_pid(name: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (pid, n) = name.strip_prefix('.')?.rsplit_once(".tmp-")?.1.split_once('-')?;
    (digits(pid) && digits(n)).then_some(pid)
}

/// Writes `path` whole or not at all (a temporary file of its own, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_beside(path);
    let res = (|| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

impl Store {
    /// Opens a store, creating it if needed (`run`, `import`).
    pub fn open(root: &Path) -> Result<Self> {
        for d in ["objects", "keys", "locks", "tmp"] {
            // Something already there (even a dangling link at tmp/, which `lock` replaces) is left as it is.
            if std::fs::symlink_metadata(root.join(d)).is_err() {
                std::fs::create_dir_all(root.join(d))
                    .with_context(|| format!("creating {}", root.join(d).display()))?;
            }
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Opens a store that must already exist (`verify`, `gc`, `status`, `archive`, `show`): a mistyped path
    /// is an error, not a new empty store.
    pub fn open_existing(root: &Path) -> Result<Self> {
        if !root.join("objects").is_dir() {
            bail!(
                "{} is not an nnqft store (no objects/ directory): check --store or NNQFT_STORE",
                root.display()
            );
        }
        Self::open(root)
    }

    /// Takes the store's advisory lock, waiting (with a message naming the holder) if another process holds it.
    pub fn lock(&self) -> Result<StoreLock> {
        let path = self.root.join("store.lock");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                eprintln!(
                    "waiting for the store lock {} held by {}",
                    path.display(),
                    holder.trim()
                );
                f.lock().with_context(|| format!("locking {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        f.set_len(0)?;
        let args: Vec<String> = std::env::args().collect();
        writeln!(f, "pid {} ({})", std::process::id(), args.join(" "))?;
        // A crashed run leaves tmp/ behind; holding the lock, nothing else can be writing there. A link planted
        // at tmp/ is removed, not followed.
        let tmp = self.root.join("tmp");
        match std::fs::symlink_metadata(&tmp) {
            Ok(m) if m.is_dir() => {
                std::fs::remove_dir_all(&tmp).with_context(|| format!("cleaning {}", tmp.display()))?
            }
            Ok(_) => std::fs::remove_file(&tmp).with_context(|| format!("removing {}", tmp.display()))?,
            Err(_) => {}
        }
        std::fs::create_dir_all(&tmp)?;
        // A process killed inside `write_atomic` leaves its temporary beside the target (`verify` would call it
        // a stray entry forever), and an unlocked `status` racing a `gc` can record the stat cache of an object
        // that `gc` just removed. Holding the lock, remove both. Temporaries of a process alive on this host are
        // kept (an unlocked `status` writing a stat record); one on another host only loses its stat record.
        let alive = |pid: &str| Path::new("/proc/self").exists() && Path::new("/proc").join(pid).exists();
        for d in ["objects", "keys", "locks"] {
            for e in std::fs::read_dir(self.root.join(d))
                .into_iter()
                .flatten()
                .flatten()
            {
                if !e.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                let orphan_stat = d == "objects"
                    && name
                        .strip_suffix(".stat")
                        .is_some_and(|h| names::is_hash(h) && !self.object(h).is_dir());
                if orphan_stat || atomic_tmp_pid(&name).is_some_and(|pid| !alive(pid)) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(StoreLock { _file: f })
    }

    /// The directory of an object; `content` must be a checked hash.
    pub fn object(&self, content: &str) -> PathBuf {
        debug_assert!(names::is_hash(content), "unchecked content hash {content:?}");
        self.root.join("objects").join(content)
    }

    fn stat_path(&self, content: &str) -> PathBuf {
        self.root.join("objects").join(format!("{content}.stat"))
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The content hash recorded for a stage key; a key file that does not hold a hash (empty, truncated,
    /// tampered) counts as absent, with a warning, so the stage runs again.
    pub fn key_content(&self, key: &str) -> Option<String> {
        if !names::is_hash(key) {
            return None;
        }
        let path = self.root.join("keys").join(key);
        // Only a small regular file is read: a link planted in keys/ (to a secret, to a device) is never
        // followed, and nothing of what the file holds is printed.
        let md = std::fs::symlink_metadata(&path).ok()?;
        let s = if md.is_file() && md.len() <= 4 * names::HASH_HEX_LEN as u64 {
            std::fs::read(&path).ok()?
        } else {
            Vec::new()
        };
        let c = String::from_utf8_lossy(&s);
        let c = c.trim();
        if names::is_hash(c) {
            Some(c.to_string())
        } else {
            eprintln!(
                "warning: {} does not hold a content hash ({}, {} bytes); the stage will run again",
                path.display(),
                if md.is_file() {
                    "a file"
                } else if md.is_symlink() {
                    "a link"
                } else {
                    "not a file"
                },
                md.len()
            );
            None
        }
    }

    /// The intact object a stage key leads to, if any: the action cache's answer to "is this cached?".
    pub fn cached(&self, key: &str) -> Option<String> {
        self.key_content(key).filter(|c| self.intact(c))
    }

    pub fn set_key(&self, key: &str, content: &str) -> Result<()> {
        check_hash("stage key", key)?;
        check_hash("content hash", content)?;
        write_atomic(
            &self.root.join("keys").join(key),
            format!("{content}\n").as_bytes(),
        )
    }

    fn stat_of(dir: &Path) -> Result<BTreeMap<String, (u64, u128)>> {
        let mut m = BTreeMap::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let md = e.metadata()?;
            let mtime = md
                .modified()?
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            m.insert(e.file_name().to_string_lossy().into_owned(), (md.len(), mtime));
        }
        Ok(m)
    }

    /// Fully re-hashes an object and records its stat cache. An error means the object is damaged; failing to
    /// record the stat cache (a full disk) is not damage: it is a warning, and the object is re-hashed next time.
    pub fn verify_object(&self, content: &str) -> Result<()> {
        let dir = self.object(content);
        nnqft_store::verify(&dir)?;
        let found = nnqft_store::content_hash(&dir)?;
        if found != content {
            bail!(
                "{}: manifest hash {found} does not match the object name",
                dir.display()
            );
        }
        let recorded = (|| -> Result<()> {
            let stat = serde_json::to_vec(&Self::stat_of(&dir)?)?;
            write_atomic(&self.stat_path(content), &stat)
        })();
        if let Err(e) = recorded {
            eprintln!(
                "warning: {content} verified, but its stat record could not be written ({e:#}); it will be \
                 re-hashed next time"
            );
        }
        Ok(())
    }

    /// Fully re-hashes an object, and stray files that its manifest does not list count as damage too.
    pub fn verify_strict(&self, content: &str) -> Result<()> {
        self.verify_object(content)?;
        check_no_strays(&self.object(content))
    }

    /// `ROOT/rel` as a real directory of the store, created if needed: every component below the root must be a
    /// directory, not a link (a link planted in a shared store would send quarantined objects or logs
    /// elsewhere), else an error naming it.
    pub fn real_dir(&self, rel: impl AsRef<Path>) -> Result<PathBuf> {
        let mut p = self.root.clone();
        for c in rel.as_ref().components() {
            p.push(c);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => bail!(
                    "{} is not a directory of this store (a link or a file): remove it and re-run",
                    p.display()
                ),
                Err(_) => std::fs::create_dir(&p)
                    .or_else(|e| if p.is_dir() { Ok(()) } else { Err(e) })
                    .with_context(|| format!("creating {}", p.display()))?,
            }
        }
        Ok(p)
    }

    /// Moves a damaged object to `corrupt/` (under a fresh name if that hash was quarantined before) and
    /// drops its stat record, so that it counts as missing and the next run recomputes it. Returns where it went.
    pub fn quarantine(&self, content: &str) -> Result<PathBuf> {
        let dir = self.object(content);
        let bad = self.real_dir("corrupt")?;
        let _ = std::fs::remove_file(self.stat_path(content));
        let mut dest = bad.join(content);
        let mut k = 1;
        while dest.exists() {
            dest = bad.join(format!("{content}-{k}"));
            k += 1;
        }
        std::fs::rename(&dir, &dest)
            .with_context(|| format!("moving {} to {}", dir.display(), dest.display()))?;
        Ok(dest)
    }

    /// Whether an object is present and intact: unchanged sizes and mtimes since the last verification, or a
    /// fresh full verification. A corrupted object is moved aside (objects/corrupt/) and reported missing.
    pub fn intact(&self, content: &str) -> bool {
        let dir = self.object(content);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                // A link (or a file) where an object should be: never trusted, moved aside like damage.
                eprintln!(
                    "warning: {} is not a directory of this store (a link?); it is moved aside and recomputed",
                    dir.display()
                );
                if let Err(q) = self.quarantine(content) {
                    eprintln!("warning: {q:#}");
                }
                return false;
            }
            Err(_) => return false,
        }
        let cached: Option<BTreeMap<String, (u64, u128)>> = std::fs::read(self.stat_path(content))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let (Some(c), Ok(now)) = (cached, Self::stat_of(&dir))
            && c == now
        {
            return true;
        }
        match self.verify_object(content) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("warning: {e:#}; the object will be recomputed");
                if let Err(q) = self.quarantine(content) {
                    eprintln!("warning: {q:#}");
                }
                false
            }
        }
    }

    /// Moves a finished artifact directory into the store under its content hash; returns the hash. A
    /// destination that is already there is kept only if it verifies; a damaged one is quarantined and
    /// replaced by the fresh copy.
    pub fn publish(&self, out: &Path) -> Result<String> {
        let content = nnqft_store::content_hash(out)?;
        let dest = self.object(&content);
        if dest.exists() {
            match self.verify_strict(&content) {
                // Intact (and its stat record written by the verification): the fresh copy is not needed.
                Ok(()) => {
                    std::fs::remove_dir_all(out)?;
                    return Ok(content);
                }
                Err(_) => {
                    let q = self.quarantine(&content)?;
                    eprintln!(
                        "warning: stored object {content} was damaged (moved to {}); replaced by the fresh result",
                        q.display()
                    );
                }
            }
        }
        match std::fs::rename(out, &dest) {
            Ok(()) => File::open(self.root.join("objects"))?.sync_all()?,
            // Another process (a concurrent Slurm job) published the same content first.
            Err(_) if dest.is_dir() => std::fs::remove_dir_all(out)?,
            Err(e) => return Err(e).with_context(|| format!("publishing {}", dest.display())),
        }
        self.verify_object(&content)?;
        Ok(content)
    }

    /// `locks/<pipeline>.json`; `pipeline` must be a checked name.
    pub fn lock_path(&self, pipeline: &str) -> PathBuf {
        debug_assert!(check_pipeline_name("pipeline", pipeline).is_ok(), "{pipeline:?}");
        self.root.join("locks").join(format!("{pipeline}.json"))
    }

    fn parse_lock(p: &Path, b: &[u8]) -> Result<PipelineLock> {
        let lock: PipelineLock =
            serde_json::from_slice(b).with_context(|| format!("{}: malformed lock file", p.display()))?;
        lock.check(&p.display().to_string())?;
        Ok(lock)
    }

    pub fn read_lock(&self, pipeline: &str) -> Result<PipelineLock> {
        check_pipeline_name("pipeline", pipeline)?;
        let p = self.lock_path(pipeline);
        match std::fs::read(&p) {
            Ok(b) => Self::parse_lock(&p, &b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PipelineLock {
                pipeline: pipeline.into(),
                ..Default::default()
            }),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    pub fn write_lock(&self, lock: &PipelineLock) -> Result<()> {
        lock.check("lock")?;
        write_atomic(
            &self.lock_path(&lock.pipeline),
            &(serde_json::to_string_pretty(lock)? + "\n").into_bytes(),
        )
    }

    /// Every lock file of the store.
    pub fn all_locks(&self) -> Result<Vec<PipelineLock>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(self.root.join("locks"))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "json") {
                v.push(Self::parse_lock(&p, &std::fs::read(&p)?)?);
            }
        }
        Ok(v)
    }

    /// Content hashes of every object directory.
    pub fn objects(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(self.root.join("objects"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type()?.is_dir() && names::is_hash(&name) {
                v.push(name);
            }
        }
        v.sort();
        Ok(v)
    }
}

/// Refuses an artifact directory holding anything its manifest does not list (a stray file or directory).
pub fn check_no_strays(dir: &Path) -> Result<()> {
    let listed: std::collections::BTreeSet<String> = nnqft_store::Manifest::read(dir)?
        .files
        .into_iter()
        .map(|e| e.file)
        .collect();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name != nnqft_store::MANIFEST && !listed.contains(&name) {
            bail!("{}: stray file {name} not listed in the manifest", dir.display());
        }
    }
    Ok(())
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verified {
    pub objects: usize,
    pub corrupt: usize,
    pub stray: usize,
    pub missing: usize,
    /// Lock files that cannot be read.
    pub bad_locks: usize,
    /// One line per finding.
    pub findings: Vec<String>,
}

impl Store {
    /// Removes an object so that an interruption never leaves half of it under its name: first renamed into
    /// tmp/ (atomic), then deleted there (tmp/ is emptied at the start of every locked command).
    pub fn remove_object(&self, content: &str) -> Result<()> {
        let _ = std::fs::remove_file(self.stat_path(content));
        let doomed = self.tmp().join(format!("gc-{content}"));
        let _ = std::fs::remove_dir_all(&doomed);
        std::fs::rename(self.object(content), &doomed)
            .with_context(|| format!("moving {} aside", self.object(content).display()))?;
        std::fs::remove_dir_all(&doomed).with_context(|| format!("removing {}", doomed.display()))
    }

    /// `gc`: removes every object that no lock reaches (each by [`Store::remove_object`]) and the key files that
    /// lead to none; `dry_run` removes nothing. `each` hears of every object with its size. Returns (objects,
    /// bytes).
    pub fn gc(&self, dry_run: bool, each: &mut dyn FnMut(&str, u64)) -> Result<(usize, u64)> {
        let reachable: std::collections::BTreeSet<String> = self
            .all_locks()?
            .into_iter()
            .flat_map(|l| l.instances.into_values().map(|e| e.content))
            .collect();
        let (mut count, mut bytes) = (0usize, 0u64);
        for o in self.objects()? {
            if reachable.contains(&o) {
                continue;
            }
            let b = du(&self.object(&o));
            each(&o, b);
            bytes += b;
            count += 1;
            if !dry_run {
                self.remove_object(&o)?;
            }
        }
        if !dry_run {
            for e in std::fs::read_dir(self.root.join("keys"))?.flatten() {
                let key = e.file_name().to_string_lossy().into_owned();
                if self.key_content(&key).is_none_or(|c| !reachable.contains(&c)) {
                    std::fs::remove_file(e.path())?;
                }
            }
        }
        Ok((count, bytes))
    }

    /// `verify`: re-hashes every object (stray files included) and quarantines the damaged ones; names stray
    /// entries of objects/ and lock entries whose object is missing.
    pub fn verify_all(&self) -> Result<Verified> {
        let mut v = Verified::default();
        for o in self.objects()? {
            v.objects += 1;
            if let Err(e) = self.verify_strict(&o) {
                // Every finding is reported, even one that cannot be repaired here.
                let fate = match self.quarantine(&o) {
                    Ok(q) => format!("moved to {}", q.display()),
                    Err(qe) => format!("could not be moved aside: {qe:#}"),
                };
                v.findings.push(format!("CORRUPT {o}: {e:#} ({fate})"));
                v.corrupt += 1;
            }
        }
        for e in std::fs::read_dir(self.root.join("objects"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let ok = match name.strip_suffix(".stat") {
                Some(h) => names::is_hash(h) && self.object(h).is_dir() && e.file_type()?.is_file(),
                None => names::is_hash(&name) && e.file_type()?.is_dir(),
            };
            if !ok {
                v.findings.push(format!(
                    "STRAY {}: not an object of this store (left in place)",
                    e.path().display()
                ));
                v.stray += 1;
            }
        }
        let mut locks = Vec::new();
        for e in std::fs::read_dir(self.root.join("locks"))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "json") {
                match std::fs::read(&p)
                    .map_err(anyhow::Error::from)
                    .and_then(|b| Self::parse_lock(&p, &b))
                {
                    Ok(l) => locks.push(l),
                    // A lock that cannot be read does not hide what else verify found.
                    Err(err) => {
                        v.findings.push(format!(
                            "BAD LOCK {}: {err:#} (gc refuses to run until it is repaired or removed)",
                            p.display()
                        ));
                        v.bad_locks += 1;
                    }
                }
            }
        }
        for lock in locks {
            for (id, e) in &lock.instances {
                if !self.object(&e.content).is_dir() {
                    v.findings.push(format!(
                        "MISSING {}: lock {} records {id} but the object is not in the store (run the \
                         pipeline to recompute it)",
                        e.content, lock.pipeline
                    ));
                    v.missing += 1;
                }
            }
        }
        Ok(v)
    }
}

/// Bytes under a directory.
pub fn du(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.len(),
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
