//! The store (DESIGN.md "Identity and caching"). Only xtask knows this layout:
//!
//! ```text
//! artifacts/
//!   objects/<content-hash>/      immutable artifact directories (manifest.json + tables)
//!   objects/<content-hash>.stat  sizes and mtimes seen at the last full verification (stat cache)
//!   keys/<stage-key>             content hash produced by that stage key (the action cache)
//!   locks/<pipeline>.json        per pipeline: every instance's key, content, parameters, identity, timing
//!   tmp/                         stage outputs being written (removed at the start of every run)
//!   store.lock                   advisory lock: one writer at a time; released when the process dies
//! ```

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
    pub kind: String,
    pub identity: String,
    pub params: serde_json::Value,
    /// (instance id, content hash) of every input.
    pub inputs: Vec<(String, String)>,
    pub wall_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineLock {
    pub pipeline: String,
    pub instances: BTreeMap<String, LockEntry>,
}

/// The held advisory lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

impl Store {
    pub fn open(root: &Path) -> Result<Self> {
        for d in ["objects", "keys", "locks", "tmp"] {
            std::fs::create_dir_all(root.join(d))
                .with_context(|| format!("creating {}", root.join(d).display()))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
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
        // A crashed run leaves tmp/ behind; holding the lock, nothing else can be writing there.
        let tmp = self.root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).with_context(|| format!("cleaning {}", tmp.display()))?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(StoreLock { _file: f })
    }

    pub fn object(&self, content: &str) -> PathBuf {
        self.root.join("objects").join(content)
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn key_content(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join("keys").join(key))
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn set_key(&self, key: &str, content: &str) -> Result<()> {
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

    /// Fully re-hashes an object and records its stat cache.
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
        let stat = serde_json::to_vec(&Self::stat_of(&dir)?)?;
        write_atomic(&self.root.join("objects").join(format!("{content}.stat")), &stat)
    }

    /// Whether an object is present and intact: unchanged sizes and mtimes since the last verification, or a
    /// fresh full verification. A corrupted object is moved aside (objects/corrupt/) and reported missing.
    pub fn intact(&self, content: &str) -> bool {
        let dir = self.object(content);
        if !dir.is_dir() {
            return false;
        }
        let cached: Option<BTreeMap<String, (u64, u128)>> =
            std::fs::read(self.root.join("objects").join(format!("{content}.stat")))
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
                let bad = self.root.join("corrupt");
                let _ = std::fs::create_dir_all(&bad);
                let _ = std::fs::rename(&dir, bad.join(content));
                let _ = std::fs::remove_file(self.root.join("objects").join(format!("{content}.stat")));
                false
            }
        }
    }

    /// Moves a finished artifact directory into the store under its content hash; returns the hash.
    pub fn publish(&self, out: &Path) -> Result<String> {
        let content = nnqft_store::content_hash(out)?;
        let dest = self.object(&content);
        if dest.exists() {
            std::fs::remove_dir_all(out)?;
        } else {
            match std::fs::rename(out, &dest) {
                Ok(()) => File::open(self.root.join("objects"))?.sync_all()?,
                // Another process (a concurrent Slurm job) published the same content first.
                Err(_) if dest.is_dir() => std::fs::remove_dir_all(out)?,
                Err(e) => return Err(e).with_context(|| format!("publishing {}", dest.display())),
            }
        }
        self.verify_object(&content)?;
        Ok(content)
    }

    pub fn lock_path(&self, pipeline: &str) -> PathBuf {
        self.root.join("locks").join(format!("{pipeline}.json"))
    }

    pub fn read_lock(&self, pipeline: &str) -> Result<PipelineLock> {
        let p = self.lock_path(pipeline);
        match std::fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).with_context(|| format!("{}: malformed lock file", p.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PipelineLock {
                pipeline: pipeline.into(),
                ..Default::default()
            }),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    pub fn write_lock(&self, lock: &PipelineLock) -> Result<()> {
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
                v.push(
                    serde_json::from_slice(&std::fs::read(&p)?)
                        .with_context(|| format!("{}: malformed lock file", p.display()))?,
                );
            }
        }
        Ok(v)
    }

    /// Content hashes of every object directory.
    pub fn objects(&self) -> Result<Vec<String>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(self.root.join("objects"))? {
            let e = e?;
            if e.file_type()?.is_dir() {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        v.sort();
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
