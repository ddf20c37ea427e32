//! Atomic publication of an artifact directory: write into a temporary sibling, fsync, rename.

use crate::{MANIFEST, Manifest, StoreError};
use std::path::{Path, PathBuf};

/// A directory being written; [`Staging::publish`] makes it appear at its final path in one rename.
/// Dropping a `Staging` without publishing removes the temporary directory.
#[derive(Debug)]
pub struct Staging {
    tmp: PathBuf,
    dest: PathBuf,
    published: bool,
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io(path, e))
}

impl Staging {
    /// Starts writing the artifact that will live at `dest` (which must not exist yet).
    pub fn new(dest: &Path) -> Result<Self, StoreError> {
        if dest.exists() {
            return Err(StoreError::Exists {
                path: dest.to_path_buf(),
            });
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| StoreError::io(&parent, e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        }
        std::fs::create_dir(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        Ok(Staging {
            tmp,
            dest: dest.to_path_buf(),
            published: false,
        })
    }

    /// Where to write the artifact's files now.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Writes the manifest, fsyncs every file and the directory, and renames into place.
    /// Returns the content hash.
    pub fn publish(mut self) -> Result<String, StoreError> {
        let manifest = Manifest::build(&self.tmp)?;
        for e in &manifest.files {
            let p = self.tmp.join(&e.file);
            std::fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(|e| StoreError::io(&p, e))?;
        }
        let mpath = self.tmp.join(MANIFEST);
        std::fs::write(&mpath, manifest.to_bytes()).map_err(|e| StoreError::io(&mpath, e))?;
        std::fs::File::open(&mpath)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::io(&mpath, e))?;
        sync_dir(&self.tmp)?;
        if self.dest.exists() {
            return Err(StoreError::Exists {
                path: self.dest.clone(),
            });
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| StoreError::io(&self.dest, e))?;
        if let Some(parent) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        self.published = true;
        crate::content_hash(&self.dest)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}
