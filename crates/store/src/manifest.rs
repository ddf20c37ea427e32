//! `manifest.json`: every file of an artifact with its size and blake3 hash.

use crate::StoreError;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// File name of the manifest inside an artifact directory.
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub file: String,
    pub size: u64,
    pub blake3: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: Vec<ManifestEntry>,
}

/// blake3 of a file's bytes, hex encoded, with its size.
pub fn hash_file(path: &Path) -> Result<(String, u64), StoreError> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::Missing {
                path: path.to_path_buf(),
                what: "file".into(),
            }
        } else {
            StoreError::io(path, e)
        }
    })?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| StoreError::io(path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((h.finalize().to_hex().to_string(), size))
}

impl Manifest {
    /// Hashes every regular file of `dir` except the manifest, sorted by name.
    pub fn build(dir: &Path) -> Result<Self, StoreError> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != MANIFEST && entry.file_type().map_err(|e| StoreError::io(dir, e))?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        let mut files = Vec::new();
        for file in names {
            let (blake3, size) = hash_file(&dir.join(&file))?;
            files.push(ManifestEntry { file, size, blake3 });
        }
        Ok(Manifest { files })
    }

    /// Canonical bytes: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serialises");
        s.push('\n');
        s.into_bytes()
    }

    pub fn read(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(MANIFEST);
        if !dir.is_dir() {
            return Err(StoreError::Missing {
                path: dir.to_path_buf(),
                what: "artifact directory".into(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StoreError::Missing {
                    path: path.clone(),
                    what: "manifest of an artifact directory".into(),
                }
            } else {
                StoreError::io(&path, e)
            }
        })?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Manifest {
            path,
            detail: e.to_string(),
        })
    }
}

/// Re-hashes every file listed in the manifest of `dir`; the first mismatch is an error.
pub fn verify(dir: &Path) -> Result<Manifest, StoreError> {
    let m = Manifest::read(dir)?;
    for e in &m.files {
        let path = dir.join(&e.file);
        if e.file.contains('/') || e.file.contains("..") {
            return Err(StoreError::Manifest {
                path: dir.join(MANIFEST),
                detail: format!("bad file name {}", e.file),
            });
        }
        let (found, size) = hash_file(&path)?;
        if found != e.blake3 || size != e.size {
            return Err(StoreError::HashMismatch {
                path,
                expected: e.blake3.clone(),
                found,
                size,
            });
        }
    }
    Ok(m)
}

/// Content hash of an artifact directory: blake3 of its manifest file.
pub fn content_hash(dir: &Path) -> Result<String, StoreError> {
    Ok(hash_file(&dir.join(MANIFEST))?.0)
}
