//! Helpers of the end-to-end tests (tests/tests/*.rs): each test gets a fresh store in a temporary directory
//! and runs the real xtask and stage executables that `cargo test --workspace` built (target/debug), through
//! NNQFT_BIN_DIR.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// target/debug: the test executable lives in target/debug/deps.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf()
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn xtask(store: &Path) -> Command {
    let mut c = Command::new(bin_dir().join("xtask"));
    c.env("NNQFT_BIN_DIR", bin_dir())
        .env_remove("NNQFT_IDENTITY_SALT_REPORT")
        .arg("--store")
        .arg(store);
    c
}

pub fn run(store: &Path, args: &[&str]) -> Output {
    xtask(store).args(args).output().unwrap()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn ok(o: Output) -> String {
    let t = text(&o);
    assert!(o.status.success(), "xtask failed:\n{t}");
    t
}

/// Instance ids that were executed (not cached) in a run's output.
pub fn executed(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.split("] done    ").nth(1))
        .map(|s| s.split(" (").next().unwrap().to_string())
        .collect()
}

pub fn cached(out: &str) -> usize {
    out.lines().filter(|l| l.contains("] cached  ")).count()
}

pub fn smoke_copy(dir: &Path) -> PathBuf {
    let p = dir.join("smoke.toml");
    std::fs::copy(repo().join("pipelines/smoke.toml"), &p).unwrap();
    p
}

pub fn objects(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.join("objects"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Rewrites an archive entry by entry; `f` may change the path/kind/bytes of each or drop it.
pub fn rewrite(
    src: &Path,
    dst: &Path,
    f: impl Fn(&str, Vec<u8>) -> Option<(String, tar::EntryType, Vec<u8>)>,
) {
    let mut ar = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut b = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        if let Some((p, kind, data)) = f(&path, bytes) {
            if p == path && kind == tar::EntryType::Regular {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                b.append_data(&mut h, &p, data.as_slice()).unwrap();
                continue;
            }
            let mut h = tar::Header::new_gnu();
            // Write the name field directly: the builder would refuse hostile paths.
            let name = p.as_bytes();
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_entry_type(kind);
            h.set_size(if kind == tar::EntryType::Regular {
                data.len() as u64
            } else {
                0
            });
            if kind != tar::EntryType::Regular {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_mode(0o644);
            h.set_cksum();
            b.append(
                &h,
                if kind == tar::EntryType::Regular {
                    data.as_slice()
                } else {
                    &[][..]
                },
            )
            .unwrap();
        }
    }
    b.finish().unwrap();
}
