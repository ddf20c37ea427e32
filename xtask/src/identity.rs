//! Stage binary identity: a hash of everything that determines the stage binary's behaviour: the sources of
//! its crate and of every workspace crate it depends on, Cargo.lock, the root Cargo.toml (profiles), the
//! compiler version and the build profile. Unlike the hash of the executable, it is the same on every machine
//! that builds the same commit with the same toolchain, so an imported archive is found cached there.
//!
//! `NNQFT_IDENTITY_SALT_<STAGE>` (e.g. `NNQFT_IDENTITY_SALT_REPORT=x`) is mixed into that stage's identity: a
//! test hook that stands in for a changed binary.

use crate::kind::StageKind;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Workspace crates a crate depends on (by path), itself included.
fn closure(root: &Path, krate: &str, seen: &mut BTreeSet<String>) -> Result<()> {
    if !seen.insert(krate.to_string()) {
        return Ok(());
    }
    let manifest = root.join("crates").join(krate).join("Cargo.toml");
    let text =
        std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {}", manifest.display()))?;
    let ws: toml::Table = std::fs::read_to_string(root.join("Cargo.toml"))?.parse()?;
    let ws_deps = ws
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    let deps = doc
        .get("dependencies")
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    for (name, spec) in deps {
        let path = spec
            .get("path")
            .and_then(|p| p.as_str())
            .map(String::from)
            .or_else(|| {
                spec.get("workspace")
                    .and_then(|w| w.as_bool())
                    .filter(|w| *w)
                    .and_then(|_| ws_deps.get(&name)?.get("path")?.as_str().map(String::from))
            });
        if let Some(p) = path {
            let dir = PathBuf::from(p);
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            closure(root, &name, seen)?;
        }
    }
    Ok(())
}

fn hash_tree(h: &mut blake3::Hasher, base: &Path, dir: &Path) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            if name == "tests" || name == "benches" {
                continue; // tests do not change the binary
            }
            hash_tree(h, base, &p)?;
        } else {
            h.update(p.strip_prefix(base).unwrap_or(&p).to_string_lossy().as_bytes());
            h.update(&std::fs::read(&p)?);
        }
    }
    Ok(())
}

/// Identities of the five stage binaries.
pub fn identities(root: &Path, profile: &str) -> Result<BTreeMap<StageKind, String>> {
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for kind in StageKind::ALL {
        let mut crates = BTreeSet::new();
        closure(root, kind.name(), &mut crates)?;
        let mut h = blake3::Hasher::new();
        h.update(b"nnqft-identity-v1\0");
        h.update(rustc.as_bytes());
        h.update(profile.as_bytes());
        h.update(&std::fs::read(root.join("Cargo.lock")).unwrap_or_default());
        h.update(&std::fs::read(root.join("Cargo.toml"))?);
        for c in &crates {
            hash_tree(&mut h, root, &root.join("crates").join(c))?;
        }
        if let Ok(salt) = std::env::var(format!("NNQFT_IDENTITY_SALT_{}", kind.name().to_uppercase())) {
            h.update(b"salt\0");
            h.update(salt.as_bytes());
        }
        out.insert(kind, h.finalize().to_hex().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let (p, q) = (e.path(), to.join(e.file_name()));
            if e.file_name() == "target" {
                continue;
            }
            if p.is_dir() {
                copy_tree(&p, &q);
            } else {
                std::fs::copy(&p, &q).unwrap();
            }
        }
    }

    /// Cache boundaries follow physics boundaries: in a copy of this workspace, an edit to the RG integrator
    /// (`crates/rg`) changes the identity of `flow` only, and an edit to the sampler's physics changes every stage
    /// that depends on it. Each stage re-runs exactly when a crate it is built from changes.
    #[test]
    fn an_rg_edit_changes_only_the_flow_identity() {
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let root = std::env::temp_dir().join(format!("nnqft-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        copy_tree(&real.join("crates"), &root.join("crates"));
        for f in ["Cargo.toml", "Cargo.lock"] {
            std::fs::copy(real.join(f), root.join(f)).unwrap();
        }
        let before = identities(&root, "release").unwrap();
        let append = |file: &str| {
            let p = root.join(file);
            let mut text = std::fs::read_to_string(&p).unwrap();
            text += "\n// an edit\n";
            std::fs::write(&p, text).unwrap();
        };
        append("crates/rg/src/ode.rs");
        let after_rg = identities(&root, "release").unwrap();
        append("crates/physics/src/kernel.rs");
        let after_physics = identities(&root, "release").unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        let changed = |a: &BTreeMap<StageKind, String>, b: &BTreeMap<StageKind, String>| {
            StageKind::ALL
                .into_iter()
                .filter(|k| a[k] != b[k])
                .collect::<Vec<_>>()
        };
        assert_eq!(changed(&before, &after_rg), vec![StageKind::Flow]);
        assert_eq!(
            changed(&after_rg, &after_physics),
            vec![
                StageKind::Sample,
                StageKind::Moments,
                StageKind::Fit,
                StageKind::Flow,
                // The report's deep-network claims read moments tables and the physics' vertex.
                StageKind::Report
            ]
        );
    }
}
