//! Helpers of the end-to-end tests (tests/tests/*.rs): each test gets a fresh store in a temporary directory
//! and runs the real xtask and stage executables that `cargo test --workspace --release` built (target/release), through
//! NNQFT_BIN_DIR.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The profile directory of the build (target/release under the README's test command): the test
/// executable lives in its deps/.
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

/// Runs `xtask --store STORE ARGS`; a `run` that is not a dry run reports its progress as JSON events
/// (`--progress json`), which [`executed`], [`cached`] and [`report_dir`] read.
pub fn run(store: &Path, args: &[&str]) -> Output {
    let mut c = xtask(store);
    c.args(args);
    if args.first() == Some(&"run") && !args.contains(&"--dry-run") {
        c.arg("--progress=json");
    }
    c.output().unwrap()
}

/// The text of a `status` that found something stale (exit code 3).
pub fn stale(o: Output) -> String {
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "status should exit 3 (stale):\n{t}");
    t
}

/// The JSON progress events of a run's output whose `event` is `kind`.
pub fn events(out: &str, kind: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == kind)
        .collect()
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
    events(out, "done")
        .iter()
        .map(|e| e["instance"].as_str().unwrap().to_string())
        .collect()
}

/// How many instances a run found cached.
pub fn cached(out: &str) -> usize {
    events(out, "cached").len()
}

/// The report object's directory named by a run's `report` event.
pub fn report_dir(out: &str) -> Option<PathBuf> {
    events(out, "report").first().map(|e| {
        PathBuf::from(e["path"].as_str().unwrap())
            .parent()
            .unwrap()
            .to_path_buf()
    })
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

/// A stage directory `dir/fake-bin` holding the real stage binaries (as links) except `kind`, whose binary is
/// the shell script `body` (`$REAL` in it is replaced by the real binary's path, quoted): for injecting failures.
pub fn fake_bins(dir: &Path, kind: &str, body: &str) -> PathBuf {
    let fake = dir.join("fake-bin");
    std::fs::create_dir_all(&fake).unwrap();
    for k in ["sample", "moments", "fit", "flow", "report"] {
        if k != kind {
            std::os::unix::fs::symlink(
                bin_dir().join(format!("nnqft-{k}")),
                fake.join(format!("nnqft-{k}")),
            )
            .unwrap();
        }
    }
    let script = fake.join(format!("nnqft-{kind}"));
    let real = format!("'{}'", bin_dir().join(format!("nnqft-{kind}")).display());
    std::fs::write(&script, format!("#!/bin/sh\n{}", body.replace("$REAL", &real))).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake
}

/// `xtask --store STORE ARGS` under an address-space limit of `mib` MiB (prlimit), or None (with a loud message
/// naming `test`) where prlimit is missing.
pub fn run_limited(store: &Path, mib: u64, args: &[&str], test: &str) -> Option<Output> {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("SKIPPED {test}: needs prlimit (util-linux)");
        return None;
    }
    let o = Command::new("prlimit")
        .arg(format!("--as={}", mib << 20))
        .arg(bin_dir().join("xtask"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("NNQFT_BIN_DIR", bin_dir())
        .output()
        .unwrap();
    Some(o)
}

/// Asserts that importing `archive` into the fresh store `fresh` was refused with a message containing
/// `expect`, and that nothing (objects, keys) was written; `name` labels the case.
pub fn assert_import_refused(fresh: &Path, archive: &Path, expect: &str, name: &str) {
    let o = run(fresh, &["import", archive.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("refused") && t.contains(expect),
        "{name}: '{t}' lacks '{expect}'"
    );
    assert!(objects(fresh).is_empty(), "{name}: objects imported");
    assert!(
        std::fs::read_dir(fresh.join("keys")).unwrap().next().is_none(),
        "{name}: keys written"
    );
}
