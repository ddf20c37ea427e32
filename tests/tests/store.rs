//! End-to-end tests of the store's defences (issue 13): values from archives and pipeline files never become
//! paths outside the store, damaged objects are quarantined and recomputed, identical instances run once,
//! locks of different pipeline files never collide, and the lesser cases (temporary names, killed runs,
//! interrupted gc, mistyped stores, stray files).

use nnqft_e2e::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A one-stage pipeline (a small sample) with its parameters' tail given.
fn tiny(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "[stages.s]\nstage = \"sample\"\nparams = {{ arch = \"erf\", width = 3, sigma_w = 1.0, sigma_b = 0.5, points = [0.1, 0.2], n_bags = 2, n_nets = 200{extra} }}\n"
        ),
    )
    .unwrap();
    p
}

/// A store under `dir` holding one run of a [`tiny`] pipeline `t.toml`, and its archive `good.tar`:
/// (store, pipeline file, archive).
fn archived_tiny(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let store = dir.join("store");
    let p = tiny(dir, "t.toml", "");
    let ps = p.to_str().unwrap();
    ok(run(&store, &["run", ps]));
    let good = dir.join("good.tar");
    ok(run(&store, &["archive", ps, "--out", good.to_str().unwrap()]));
    (store, p, good)
}

/// Every file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(files_under(&p));
            } else {
                v.push(p);
            }
        }
    }
    v
}

/// The single lock file of a store.
fn the_lock(store: &Path) -> (PathBuf, serde_json::Value) {
    let locks: Vec<PathBuf> = std::fs::read_dir(store.join("locks"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    let v = serde_json::from_slice(&std::fs::read(&locks[0]).unwrap()).unwrap();
    (locks[0].clone(), v)
}

/// Copies an archive with `edit` applied to its lock.json, and CHECKSUMS.b3 recomputed to match (as an
/// attacker would).
fn tamper_lock(good: &Path, bad: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let mut lock_bytes = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(good).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().ends_with("lock.json") {
            std::io::Read::read_to_end(&mut e, &mut lock_bytes).unwrap();
        }
    }
    let mut lock: serde_json::Value = serde_json::from_slice(&lock_bytes).unwrap();
    edit(&mut lock);
    let new_lock = serde_json::to_vec_pretty(&lock).unwrap();
    let (old_h, new_h) = (blake3_hex(&lock_bytes), blake3_hex(&new_lock));
    rewrite(good, bad, move |p, b| {
        if p.ends_with("lock.json") {
            Some((p.into(), tar::EntryType::Regular, new_lock.clone()))
        } else if p.ends_with("CHECKSUMS.b3") {
            let s = String::from_utf8(b).unwrap().replace(&old_h, &new_h);
            Some((p.into(), tar::EntryType::Regular, s.into_bytes()))
        } else {
            Some((p.into(), tar::EntryType::Regular, b))
        }
    });
}

fn blake3_hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

#[test]
fn import_refuses_lock_values_that_would_become_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = archived_tiny(dir.path());
    let evil = dir.path().join("evil");
    let evil_s = evil.to_str().unwrap().to_string();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let first = |l: &mut serde_json::Value| -> String {
        l["instances"].as_object().unwrap().keys().next().unwrap().clone()
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "key",
            Box::new(move |l| {
                let id = first(l);
                l["instances"][&id]["key"] = "../../../evil".into();
            }),
            ".key = \"../../../evil\" is not a content hash",
        ),
        (
            "absolute key",
            Box::new({
                let e = evil_s.clone();
                move |l| {
                    let id = first(l);
                    l["instances"][&id]["key"] = e.clone().into();
                }
            }),
            "is not a content hash",
        ),
        (
            "content",
            Box::new(move |l| {
                let id = first(l);
                l["instances"][&id]["content"] = "../keys".into();
            }),
            ".content = \"../keys\" is not a content hash",
        ),
        (
            "pipeline",
            Box::new({
                let e = evil_s.clone();
                move |l| l["pipeline"] = e.clone().into()
            }),
            "pipeline = ",
        ),
        (
            "pipeline dotdot",
            Box::new(|l| l["pipeline"] = "../../evil".into()),
            "is not a valid pipeline name",
        ),
    ];
    for (name, edit, expect) in cases {
        let bad = dir.path().join(format!("{}.tar", name.replace(' ', "_")));
        tamper_lock(&good, &bad, edit);
        let fresh = dir.path().join(format!("fresh-{}", name.replace(' ', "_")));
        assert_import_refused(&fresh, &bad, expect, name);
        assert!(
            std::fs::read_dir(fresh.join("locks")).unwrap().next().is_none(),
            "{name}: lock written"
        );
        assert!(
            !evil.exists() && !evil.with_extension("json").exists() && !dir.path().join("evil.json").exists(),
            "{name}: wrote outside the store"
        );
    }
    // The untampered archive still imports.
    ok(run(
        &dir.path().join("fresh-good"),
        &["import", good.to_str().unwrap()],
    ));
}

#[test]
fn hostile_stage_names_and_duplicate_sweep_values_are_refused_at_parse_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let body = "params = { arch = \"erf\", width = 3, sigma_w = 1.0, sigma_b = 0.5, points = [0.1], n_bags = 2, n_nets = 10 }\n";
    let cases = [
        (
            "dotdot.toml",
            format!("[stages.\"../../x\"]\nstage = \"sample\"\n{body}"),
            "dotdot.toml:1: stage name = \"../../x\" is not a valid name",
        ),
        (
            "newline.toml",
            format!("[stages.\"a\\nb\"]\nstage = \"sample\"\n{body}"),
            "is not a valid name",
        ),
        (
            "dup.toml",
            format!("[stages.s]\nstage = \"sample\"\nsweep = {{ seed = [1, 2, 1] }}\n{body}"),
            "dup.toml:3: stage s: sweep seed lists the value 1 twice",
        ),
    ];
    for (name, text_, expect) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, text_).unwrap();
        let o = run(&store, &["run", f.to_str().unwrap()]);
        let t = text(&o);
        assert!(
            !o.status.success() && t.contains(expect),
            "{name}: '{t}' lacks '{expect}'"
        );
        assert!(objects(&store).is_empty(), "{name}: something ran");
    }
}

/// A stage directory whose `nnqft-sample` always fails (after saying so on stderr; its parameter check
/// passes); the other stages are the real ones.
fn failing_sample_bins(dir: &Path) -> PathBuf {
    fake_bins(
        dir,
        "sample",
        "if [ \"$1\" = --check-batch ]; then echo '[null]'; exit 0; fi\necho 'injected failure' >&2\nexit 1\n",
    )
}

#[test]
fn a_sweep_value_cannot_place_a_log_outside_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("a").join("b").join("store");
    let pipe = dir.path().join("escape.toml");
    std::fs::write(
        &pipe,
        "[stages.s]\nstage = \"sample\"\nsweep = { seed = [\"../../../../../../../../escaped\"] }\nparams = { arch = \"erf\", width = 3, sigma_w = 1.0, sigma_b = 0.5, points = [0.1], n_bags = 2, n_nets = 10 }\n",
    )
    .unwrap();
    let o = xtask(&store)
        .env("NNQFT_BIN_DIR", failing_sample_bins(dir.path()))
        .args(["run", pipe.to_str().unwrap()])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(!o.status.success() && t.contains("injected failure"), "{t}");
    let logs: Vec<PathBuf> = files_under(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".stderr"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with(store.join("logs")),
        "log outside the store: {}",
        logs[0].display()
    );
    assert!(
        std::fs::read_to_string(&logs[0])
            .unwrap()
            .contains("injected failure"),
        "{}",
        logs[0].display()
    );
    assert!(
        t.contains(&logs[0].display().to_string()),
        "the message names the log: {t}"
    );
}

#[test]
fn an_empty_key_file_is_not_the_objects_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    ok(run(&store, &["run", p.to_str().unwrap()]));
    let before = objects(&store);
    assert_eq!(before.len(), 1);
    let key = std::fs::read_dir(store.join("keys"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&key, "").unwrap();
    let again = ok(run(&store, &["run", p.to_str().unwrap()]));
    assert!(again.contains("does not hold a content hash"), "{again}");
    assert_eq!(executed(&again), vec!["s"], "{again}");
    assert_eq!(objects(&store), before, "the object must survive, unmoved");
    assert!(!store.join("corrupt").exists(), "nothing was corrupt");
    assert!(ok(run(&store, &["verify"])).contains("0 corrupt"));
}

/// Flips a byte in the middle of `f`, keeping its size and modification time.
fn rot(f: &Path) {
    let mtime = std::fs::metadata(f).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(f).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(f, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn bit_rot_with_size_and_mtime_kept_is_quarantined_by_verify_and_replaced_on_publish() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    let p = p.to_str().unwrap();
    ok(run(&store, &["run", p]));
    let obj = store.join("objects").join(&objects(&store)[0]);
    rot(&obj.join("samples.parquet"));
    // The stat cache cannot see it: status trusts the object ...
    assert!(ok(run(&store, &["status", p])).contains("cached  s"));
    // ... until verify, which quarantines it.
    let v = run(&store, &["verify"]);
    let vt = text(&v);
    assert!(
        !v.status.success() && vt.contains("CORRUPT") && vt.contains("quarantined"),
        "{vt}"
    );
    assert!(!obj.exists(), "verify must move the damaged object away");
    assert_eq!(std::fs::read_dir(store.join("corrupt")).unwrap().count(), 1);
    let st = stale(run(&store, &["status", p]));
    assert!(st.contains("stale   s"), "{st}");
    let again = ok(run(&store, &["run", p]));
    assert_eq!(executed(&again), vec!["s"], "{again}");
    assert!(ok(run(&store, &["verify"])).contains("0 corrupt"));

    // Rot again, and publish over it without verify: --force recomputes and replaces the damaged copy.
    rot(&obj.join("samples.parquet"));
    let forced = ok(run(&store, &["run", p, "--force", "s"]));
    assert!(
        forced.contains("was damaged") || executed(&forced) == vec!["s"],
        "{forced}"
    );
    assert!(ok(run(&store, &["verify"])).contains("0 corrupt"));
    assert_eq!(
        std::fs::read_dir(store.join("corrupt")).unwrap().count(),
        2,
        "both copies kept aside"
    );
}

#[test]
fn identical_instances_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let params = "params = { arch = \"erf\", width = 3, sigma_w = 1.0, sigma_b = 0.5, points = [0.1, 0.2], n_bags = 2, n_nets = 2000, seed = 7 }\n";
    let pipe = dir.path().join("twins.toml");
    std::fs::write(
        &pipe,
        format!("[stages.a]\nstage = \"sample\"\n{params}\n[stages.b]\nstage = \"sample\"\n{params}\n[stages.c]\nstage = \"sample\"\n{params}"),
    )
    .unwrap();
    for _ in 0..3 {
        let store = tempfile::tempdir_in(dir.path()).unwrap();
        let out = ok(run(store.path(), &["run", pipe.to_str().unwrap(), "-j", "3"]));
        assert_eq!(executed(&out).len(), 1, "{out}");
        assert_eq!(cached(&out), 2, "{out}");
    }
}

#[test]
fn locks_of_different_pipeline_files_never_collide_and_drop_removed_instances() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let pa = tiny(&a, "study.toml", ", seed = 1");
    let pb = tiny(&b, "study.toml", ", seed = 2");
    ok(run(&store, &["run", pa.to_str().unwrap()]));
    ok(run(&store, &["run", pb.to_str().unwrap()]));
    assert_eq!(std::fs::read_dir(store.join("locks")).unwrap().count(), 2);
    assert!(ok(run(&store, &["gc"])).contains("gc removed 0 unreachable"));
    for p in [&pa, &pb] {
        let r = ok(run(&store, &["run", p.to_str().unwrap()]));
        assert!(executed(&r).is_empty(), "{r}");
    }

    // An archive of a's lock, imported into a store that has another lock of the same name: refused, unless
    // under another name (--as) or with --force.
    let ar = dir.path().join("a.tar");
    ok(run(
        &store,
        &["archive", pa.to_str().unwrap(), "--out", ar.to_str().unwrap()],
    ));
    let other = dir.path().join("other");
    ok(run(&other, &["run", pb.to_str().unwrap()]));
    let (lock_b, _) = the_lock(&other);
    let b_name = lock_b.file_stem().unwrap().to_str().unwrap().to_string();
    // Rename a's lock inside the archive to b's name, as an archive from another machine might be named.
    let renamed = dir.path().join("renamed.tar");
    tamper_lock(&ar, &renamed, |l| l["pipeline"] = b_name.clone().into());
    let o = run(&other, &["import", renamed.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("already has a different lock") && t.contains("--as"),
        "{t}"
    );
    ok(run(
        &other,
        &["import", renamed.to_str().unwrap(), "--as", "from-a"],
    ));
    assert_eq!(std::fs::read_dir(other.join("locks")).unwrap().count(), 2);
    assert!(ok(run(&other, &["gc"])).contains("gc removed 0 unreachable"));

    // Instances removed from a pipeline leave its lock; gc then removes their objects.
    let sweep = dir.path().join("sweep.toml");
    let base = "[stages.s]\nstage = \"sample\"\nparams = { arch = \"erf\", width = 3, sigma_w = 1.0, sigma_b = 0.5, points = [0.1], n_bags = 2, n_nets = 100 }\n";
    std::fs::write(&sweep, format!("{base}sweep = {{ seed = [1, 2] }}\n")).unwrap();
    let s3 = dir.path().join("store3");
    ok(run(&s3, &["run", sweep.to_str().unwrap()]));
    std::fs::write(&sweep, format!("{base}sweep = {{ seed = [1] }}\n")).unwrap();
    ok(run(&s3, &["run", sweep.to_str().unwrap()]));
    let (_, lock) = the_lock(&s3);
    let ids: Vec<&String> = lock["instances"].as_object().unwrap().keys().collect();
    assert_eq!(ids, vec!["s[seed=1]"], "{lock}");
    assert!(ok(run(&s3, &["gc"])).contains("gc removed 1 unreachable"));
}

#[test]
fn archive_keeps_a_users_tmp_file_and_verify_refuses_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    ok(run(&store, &["run", p.to_str().unwrap()]));
    let mine = dir.path().join("X.tmp");
    std::fs::write(&mine, "my notes").unwrap();
    ok(run(
        &store,
        &[
            "archive",
            p.to_str().unwrap(),
            "--out",
            dir.path().join("X.tar").to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes");
    assert!(dir.path().join("X.tar").exists());

    let typo = dir.path().join("stroe");
    for cmd in [&["verify"][..], &["gc"], &["status", p.to_str().unwrap()]] {
        let o = run(&typo, cmd);
        let t = text(&o);
        assert!(
            !o.status.success() && t.contains("is not an nnqft store"),
            "{cmd:?}: {t}"
        );
        assert!(!typo.exists(), "{cmd:?} created the mistyped store");
    }
}

#[test]
fn verify_names_stray_files_and_lock_entries_without_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    let p2 = tiny(dir.path(), "u.toml", ", seed = 5");
    ok(run(&store, &["run", p.to_str().unwrap()]));
    ok(run(&store, &["run", p2.to_str().unwrap()]));
    let objs = objects(&store);
    assert_eq!(objs.len(), 2);
    std::fs::write(store.join("objects").join(&objs[0]).join("extra.txt"), "stray").unwrap();
    std::fs::remove_dir_all(store.join("objects").join(&objs[1])).unwrap();
    std::fs::write(store.join("objects").join("notes.txt"), "stray").unwrap();
    let v = run(&store, &["verify"]);
    let t = text(&v);
    assert!(!v.status.success(), "{t}");
    assert!(
        t.contains(&format!("CORRUPT {}", objs[0])) && t.contains("extra.txt"),
        "{t}"
    );
    assert!(t.contains(&format!("MISSING {}", objs[1])), "{t}");
    assert!(t.contains("STRAY") && t.contains("notes.txt"), "{t}");
}

#[test]
fn an_interrupted_gc_leaves_whole_objects_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    ok(run(&store, &["run", p.to_str().unwrap()]));
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("n_nets = 200", "n_nets = 300"),
    )
    .unwrap();
    ok(run(&store, &["run", p.to_str().unwrap()]));
    // Start gc many times and kill it at once: every object left must verify (none half deleted).
    for k in 0..10 {
        let mut c = xtask(&store)
            .args(["gc"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2 * k));
        let _ = c.kill();
        let _ = c.wait();
        let v = run(&store, &["verify"]);
        assert!(
            v.status.success(),
            "after a gc killed at {} ms: {}",
            2 * k,
            text(&v)
        );
    }
}

/// Processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd).contains(needle).then_some(pid)
        })
        .collect()
}

#[test]
fn stage_processes_die_with_a_killed_xtask() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store-killed");
    let pipe = dir.path().join("slow.toml");
    std::fs::write(
        &pipe,
        "[stages.s]\nstage = \"sample\"\nparams = { arch = \"gaussnet\", width = 500, sigma_w = 1.0, sigma_b = 0.5, points = [0.1, 0.2, 0.3], n_bags = 8, n_nets = 200000, seed = 1 }\n",
    )
    .unwrap();
    let mut child = xtask(&store)
        .args(["run", pipe.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .expect("xtask ended early")
        .unwrap()
        .contains("running s")
    {}
    let needle = store.join("tmp").to_string_lossy().into_owned();
    let t0 = std::time::Instant::now();
    while processes_with(&needle).is_empty() {
        assert!(t0.elapsed().as_secs() < 10, "the stage never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SIGKILL to xtask alone (not its process group): it cannot clean up, its children must notice.
    child.kill().unwrap();
    child.wait().unwrap();
    let t0 = std::time::Instant::now();
    while !processes_with(&needle).is_empty() {
        assert!(
            t0.elapsed().as_secs() < 5,
            "stage processes outlived their xtask: {:?}",
            processes_with(&needle)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A copy of `good` with a file added inside object `content` and listed in CHECKSUMS.b3 (as an attacker would).
fn add_to_object(good: &Path, bad: &Path, content: &str, rel: &str) {
    add_entry(good, bad, &format!("objects/{content}/{rel}"), b"stray");
}

/// A copy of `good` with the entry `nnqft-archive/REL` appended and listed in CHECKSUMS.b3.
fn add_entry(good: &Path, bad: &Path, rel: &str, data: &[u8]) {
    let line = format!("{}  {rel}\n", blake3_hex(data));
    rewrite(good, bad, |p, b| {
        if p.ends_with("CHECKSUMS.b3") {
            let s = String::from_utf8(b).unwrap() + &line;
            Some((p.into(), tar::EntryType::Regular, s.into_bytes()))
        } else {
            Some((p.into(), tar::EntryType::Regular, b))
        }
    });
    let mut bytes = std::fs::read(bad).unwrap();
    let mut ar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    ar.append_data(&mut h, format!("nnqft-archive/{rel}"), data)
        .unwrap();
    let tail = ar.into_inner().unwrap();
    // Drop the end-of-archive blocks of the first, keep those of the second.
    let end = bytes.len()
        - bytes
            .rchunks(512)
            .take_while(|c| c.iter().all(|&x| x == 0))
            .count()
            * 512;
    bytes.truncate(end);
    bytes.extend(tail);
    std::fs::write(bad, bytes).unwrap();
}

#[test]
fn import_refuses_what_verify_would_quarantine_and_strings_that_would_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (store, p, good) = archived_tiny(dir.path());
    let ps = p.to_str().unwrap();
    let content = objects(&store)[0].clone();

    // A file or a directory inside an object that its manifest does not list: verify calls that damage (and
    // quarantines it), so import must not bring it in.
    for (name, rel) in [("file", "evil.txt"), ("dir", "sub/evil.txt")] {
        let bad = dir.path().join(format!("stray-{name}.tar"));
        add_to_object(&good, &bad, &content, rel);
        let fresh = dir.path().join(format!("fresh-{name}"));
        let o = run(&fresh, &["import", bad.to_str().unwrap()]);
        let t = text(&o);
        assert!(
            !o.status.success() && t.contains("refused") && t.contains("stray file"),
            "{name}: {t}"
        );
        assert!(objects(&fresh).is_empty(), "{name}: objects imported");
    }

    // An escape sequence or a newline in an instance id, which verify and status print.
    let bad = dir.path().join("escape.tar");
    tamper_lock(&good, &bad, |l| {
        let m = l["instances"].as_object_mut().unwrap();
        let (id, e) = m.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
        m.remove(&id);
        m.insert("\u{1b}[2J\u{1b}[31mok\nverified 0 object(s)".into(), e);
    });
    let fresh = dir.path().join("fresh-escape");
    let o = run(&fresh, &["import", bad.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("instance id") && t.contains("control characters"),
        "{t}"
    );
    assert!(objects(&fresh).is_empty());

    // A lock whose identity is not a 64-digit hash is not a path, but must not crash status or --dry-run.
    let bad = dir.path().join("short-identity.tar");
    tamper_lock(&good, &bad, |l| {
        for e in l["instances"].as_object_mut().unwrap().values_mut() {
            e["identity"] = "é".into();
        }
    });
    let fresh = dir.path().join("fresh-identity");
    ok(run(&fresh, &["import", bad.to_str().unwrap()]));
    let plan = ok(run(&fresh, &["run", ps, "--dry-run", "--force", "s"]));
    assert!(plan.contains("binary changed: identity é ->"), "{plan}");
}

#[test]
fn a_healthy_object_whose_stat_record_cannot_be_written_is_not_quarantined() {
    // On a full disk writing objects/<hash>.stat fails; that is not damage. A directory in its place makes the
    // write fail the same way without filling a disk.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    let ps = p.to_str().unwrap();
    ok(run(&store, &["run", ps]));
    let h = objects(&store)[0].clone();
    let stat = store.join("objects").join(format!("{h}.stat"));
    std::fs::remove_file(&stat).unwrap();
    std::fs::create_dir(&stat).unwrap();
    let st = ok(run(&store, &["status", ps]));
    assert!(st.contains("cached  s"), "{st}");
    let v = text(&run(&store, &["verify"]));
    assert!(!v.contains("CORRUPT") && v.contains("0 corrupt"), "{v}");
    assert!(v.contains("could not be written"), "{v}");
    assert!(
        store.join("objects").join(&h).is_dir(),
        "the healthy object stays"
    );
    assert!(!store.join("corrupt").exists());
    let again = ok(run(&store, &["run", ps]));
    assert_eq!(cached(&again), 1, "{again}");
}

#[test]
fn validation_files_never_go_to_a_directory_another_user_could_plant() {
    // Another user of a shared /tmp creates the directory the validation would use (its name was the pid) with
    // a link to one of our files in it: the run must not write through that link.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let shared_tmp = dir.path().join("shared-tmp");
    std::fs::create_dir(&shared_tmp).unwrap();
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "mine").unwrap();
    let p = tiny(dir.path(), "t.toml", "");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            r#"for k in 0 1 2 3; do d="$TMPDIR/nnqft-check-$$-$k"; mkdir -p "$d"; chmod 777 "$d"
               ln -s "$PRECIOUS" "$d/batch-sample.json"; ln -s "$PRECIOUS" "$d/params-0.json"; done
               exec "$XTASK" --store "$STORE" run "$PIPELINE" --dry-run"#,
        )
        .env("TMPDIR", &shared_tmp)
        .env("PRECIOUS", &precious)
        .env("XTASK", bin_dir().join("xtask"))
        .env("NNQFT_BIN_DIR", bin_dir())
        .env("STORE", &store)
        .env("PIPELINE", &p)
        .output()
        .unwrap();
    ok(o);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "mine");
}

#[test]
fn a_pipeline_file_name_cannot_inject_commands_into_a_slurm_job_script() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // A stand-in for sbatch that keeps the job script it is given and refuses the submission.
    let fake = dir.path().join("bin");
    std::fs::create_dir(&fake).unwrap();
    let script = dir.path().join("script.sh");
    let sbatch = fake.join("sbatch");
    std::fs::write(
        &sbatch,
        format!("#!/bin/sh\ncat > '{}'\nexit 1\n", script.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = tiny(dir.path(), "x\ntouch PWNED\n.toml", "");
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap_or_default());
    let o = xtask(&store)
        .env("PATH", path)
        .args(["run", p.to_str().unwrap(), "--executor", "slurm"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the fake sbatch refuses: {}", text(&o));
    let s = std::fs::read_to_string(&script).expect("sbatch was given a script");
    assert!(
        !s.lines().any(|l| l.trim() == "touch PWNED"),
        "the file name became a command:\n{s}"
    );
    assert!(s.contains("x?touch PWNED?"), "{s}");
}

#[test]
fn temporaries_left_by_a_killed_writer_do_not_fail_verify_forever() {
    // kill -9 inside write_atomic (a stat record, a key, a lock) leaves `.NAME.tmp-PID-N` beside the target.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    ok(run(&store, &["run", p.to_str().unwrap()]));
    let h = objects(&store)[0].clone();
    let left = [
        store.join("objects").join(format!(".{h}.stat.tmp-4194304-7")),
        store.join("keys").join(format!(".{h}.tmp-4194304-8")),
        store.join("locks").join(".t.json.tmp-4194304-9"),
    ];
    for f in &left {
        std::fs::write(f, "half").unwrap();
    }
    // The stat record of an object that is gone (an unlocked status racing gc, an object removed by hand).
    let gone = "0".repeat(64);
    let orphan = store.join("objects").join(format!("{gone}.stat"));
    std::fs::write(&orphan, "{}").unwrap();
    // A temporary of a process that is alive (an unlocked status writing a stat record) is left alone.
    let live = store
        .join("objects")
        .join(format!(".{h}.stat.tmp-{}-0", std::process::id()));
    std::fs::write(&live, "{}").unwrap();
    let mine = store.join("objects").join("notes.tmp-1-2");
    std::fs::write(&mine, "not a temporary of xtask's").unwrap();
    let v = run(&store, &["verify"]);
    let t = text(&v);
    assert!(!t.contains(".tmp-4194304"), "{t}");
    for f in &left {
        assert!(!f.exists(), "{} left", f.display());
    }
    assert!(!orphan.exists(), "{t}");
    assert!(live.exists(), "{t}");
    assert!(
        mine.exists() && t.contains("STRAY") && t.contains("notes.tmp-1-2"),
        "{t}"
    );
    std::fs::remove_file(&mine).unwrap();
    std::fs::remove_file(&live).unwrap();
    ok(run(&store, &["verify"]));
}

#[test]
fn a_link_planted_in_keys_is_not_followed_and_its_target_never_printed() {
    // In a store shared by a team, a link keys/<key> -> a file of the user's must not leak that file into the
    // run's output (or a Slurm job's log in the store).
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    let ps = p.to_str().unwrap();
    ok(run(&store, &["run", ps]));
    let secret = dir.path().join("id_secret");
    std::fs::write(&secret, "SECRET-KEY-MATERIAL\n").unwrap();
    let (_, lock) = the_lock(&store);
    let key = lock["instances"]["s"]["key"].as_str().unwrap().to_string();
    let kf = store.join("keys").join(&key);
    std::fs::remove_file(&kf).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, &kf).unwrap();
    let st = text(&run(&store, &["status", ps]));
    assert!(!st.contains("SECRET"), "{st}");
    assert!(st.contains("stale   s") && st.contains("a link"), "{st}");
    let again = ok(run(&store, &["run", ps]));
    assert!(!again.contains("SECRET"), "{again}");
    assert_eq!(
        executed(&again),
        vec!["s"],
        "a key that is a link counts as absent: {again}"
    );
    assert!(
        !std::fs::symlink_metadata(&kf).unwrap().is_symlink(),
        "the link is replaced"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "SECRET-KEY-MATERIAL\n");
}

/// A 1 MiB tmpfs at `dir`, unmounted on drop; None (the caller skips loudly) where mounting is not allowed.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M", "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn import_and_archive_on_a_full_disk_say_so_and_leave_the_store_clean() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("n_nets = 200", "n_nets = 60000"),
    )
    .unwrap();
    let ps = p.to_str().unwrap();
    ok(run(&store, &["run", ps]));
    let good = dir.path().join("good.tar");
    ok(run(&store, &["archive", ps, "--out", good.to_str().unwrap()]));
    assert!(
        std::fs::metadata(&good).unwrap().len() > 1 << 20,
        "the archive must not fit in 1 MiB"
    );
    let Some(_disk) = SmallDisk::mount(&dir.path().join("full")) else {
        eprintln!("SKIPPED import_and_archive_on_a_full_disk: mounting a tmpfs needs root");
        return;
    };
    let full = dir.path().join("full");
    let small = full.join("store");
    let o = run(&small, &["import", good.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("disk full while writing"),
        "{t}"
    );
    assert!(t.contains("free space and re-run"), "{t}");
    assert!(objects(&small).is_empty());
    assert!(
        std::fs::read_dir(small.join("tmp")).unwrap().next().is_none(),
        "staging left behind"
    );
    ok(run(&small, &["verify"]));
    let out = full.join("a.tar");
    let o = run(&store, &["archive", ps, "--out", out.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("disk full while writing"),
        "{t}"
    );
    assert!(t.contains(&out.display().to_string()), "{t}");
    let left: Vec<_> = std::fs::read_dir(&full)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "store")
        .collect();
    assert!(left.is_empty(), "archive left {left:?}");
}

#[test]
fn archive_never_packs_a_file_planted_in_an_object() {
    // Someone with write access to a shared store plants a link to one of the user's files (or a stray copy)
    // in an object; the user's next archive must not carry it out.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    let ps = p.to_str().unwrap();
    ok(run(&store, &["run", ps]));
    let secret = dir.path().join("id_secret");
    std::fs::write(&secret, "SECRET-KEY-MATERIAL\n").unwrap();
    let obj = store.join("objects").join(&objects(&store)[0]);
    let out = dir.path().join("a.tar");
    for planted in ["link", "copy"] {
        let f = obj.join("notes.txt");
        if planted == "link" {
            #[cfg(unix)]
            std::os::unix::fs::symlink(&secret, &f).unwrap();
        } else {
            std::fs::copy(&secret, &f).unwrap();
        }
        let o = run(&store, &["archive", ps, "--out", out.to_str().unwrap()]);
        let t = text(&o);
        assert!(!o.status.success() && t.contains("notes.txt"), "{planted}: {t}");
        assert!(!out.exists(), "{planted}: an archive was written");
        std::fs::remove_file(&f).unwrap();
    }
    ok(run(&store, &["archive", ps, "--out", out.to_str().unwrap()]));
    let bytes = std::fs::read(&out).unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"SECRET"));
}

#[test]
fn an_unreadable_lock_does_not_hide_what_verify_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    ok(run(&store, &["run", p.to_str().unwrap()]));
    let h = objects(&store)[0].clone();
    let obj = store.join("objects").join(&h);
    std::fs::write(obj.join("extra.txt"), "stray").unwrap();
    // A lock cut short (edited by hand, or written by another version).
    std::fs::write(store.join("locks").join("other.json"), "{\"pipeline\":").unwrap();
    let v = run(&store, &["verify"]);
    let t = text(&v);
    assert!(!v.status.success(), "{t}");
    assert!(
        t.contains(&format!("CORRUPT {h}")) && t.contains("extra.txt"),
        "{t}"
    );
    assert!(t.contains("BAD LOCK") && t.contains("other.json"), "{t}");
    assert!(t.contains("1 corrupt") && t.contains("1 unreadable lock"), "{t}");
}

#[test]
fn import_streams_entries_so_memory_does_not_grow_with_their_size() {
    // A result table of a paper run is gigabytes; import held each entry in memory (528 MB resident for a
    // 400 MB entry). Under a 64 MiB address-space limit, a 96 MiB entry must still import.
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = archived_tiny(dir.path());
    let big = dir.path().join("big.tar");
    add_entry(&good, &big, "extra/blob", &vec![7u8; 96 << 20]);
    let fresh = dir.path().join("fresh");
    if let Some(o) = run_limited(
        &fresh,
        64,
        &["import", big.to_str().unwrap()],
        "import_streams_entries",
    ) {
        ok(o);
    }
}

#[test]
fn archive_streams_objects_so_memory_does_not_grow_with_their_size() {
    // archive held every file of every object in memory at once. An object with a 96 MiB table is archived
    // under a 64 MiB address-space limit.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let p = tiny(dir.path(), "t.toml", "");
    let ps = p.to_str().unwrap();
    ok(run(&store, &["run", ps]));
    // Swap the instance's object for a big one (a valid object: manifest and hash), as a long run would make.
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    std::fs::write(big.join("blob"), vec![7u8; 96 << 20]).unwrap();
    let m = nnqft_store::Manifest::build(&big).unwrap();
    std::fs::write(big.join(nnqft_store::MANIFEST), m.to_bytes()).unwrap();
    let h = nnqft_store::content_hash(&big).unwrap();
    std::fs::rename(&big, store.join("objects").join(&h)).unwrap();
    let (lock_path, mut lock) = the_lock(&store);
    lock["instances"]["s"]["content"] = h.clone().into();
    std::fs::write(&lock_path, serde_json::to_vec_pretty(&lock).unwrap()).unwrap();
    let out = dir.path().join("a.tar");
    let args = ["archive", ps, "--out", out.to_str().unwrap()];
    let Some(o) = run_limited(&store, 64, &args, "archive_streams_objects") else {
        return;
    };
    ok(o);
    // And it imports into a fresh store whole.
    let fresh = dir.path().join("fresh");
    ok(run(&fresh, &["import", out.to_str().unwrap()]));
    assert_eq!(objects(&fresh), vec![h]);
    ok(run(&fresh, &["verify"]));
}

#[test]
fn links_planted_in_a_shared_store_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let p = tiny(dir.path(), "t.toml", "");
    let p = p.to_str().unwrap();
    ok(run(&store, &["run", p]));
    let obj = objects(&store)[0].clone();
    // objects/<h> replaced by a link to a copy elsewhere: not trusted, moved aside, recomputed.
    let copy = outside.join("copy");
    std::fs::rename(store.join("objects").join(&obj), &copy).unwrap();
    std::os::unix::fs::symlink(&copy, store.join("objects").join(&obj)).unwrap();
    let again = ok(run(&store, &["run", p]));
    assert!(again.contains("is not a directory of this store"), "{again}");
    assert_eq!(executed(&again), vec!["s"], "{again}");
    assert!(
        std::fs::symlink_metadata(store.join("objects").join(&obj))
            .unwrap()
            .is_dir(),
        "a real object again"
    );
    assert!(
        copy.join("manifest.json").exists(),
        "the link's target is left alone"
    );
    // corrupt/ as a link: quarantine refuses to move anything through it.
    std::fs::remove_dir_all(store.join("corrupt")).unwrap();
    std::os::unix::fs::symlink(&outside, store.join("corrupt")).unwrap();
    let f = store.join("objects").join(&obj).join("samples.parquet");
    let mut bytes = std::fs::read(&f).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&f, &bytes).unwrap();
    let v = run(&store, &["verify"]);
    let t = text(&v);
    assert!(
        !v.status.success() && t.contains("is not a directory of this store"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "nothing moved outside: {t}"
    );
    // tmp/ as a dangling link: removed, not an error.
    std::fs::remove_file(store.join("corrupt")).unwrap();
    let _ = std::fs::remove_dir_all(store.join("tmp"));
    std::os::unix::fs::symlink(dir.path().join("nowhere"), store.join("tmp")).unwrap();
    ok(run(&store, &["gc", "--dry-run"]));
    assert!(std::fs::symlink_metadata(store.join("tmp")).unwrap().is_dir());
    // With corrupt/ a real directory again, the damaged object is quarantined there, and recomputed.
    let v = run(&store, &["verify"]);
    assert!(
        !v.status.success() && text(&v).contains("CORRUPT"),
        "{}",
        text(&v)
    );
    assert!(std::fs::symlink_metadata(store.join("corrupt")).unwrap().is_dir());
    assert_eq!(executed(&ok(run(&store, &["run", p]))), vec!["s"]);
    ok(run(&store, &["verify"]));
}

#[test]
fn an_archive_cannot_take_a_shipped_pipelines_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, good) = archived_tiny(dir.path());
    let bad = dir.path().join("paper.tar");
    tamper_lock(&good, &bad, |l| l["pipeline"] = "paper".into());
    let fresh = dir.path().join("fresh");
    let o = run(&fresh, &["import", bad.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("like the shipped pipeline") && t.contains("--as"),
        "{t}"
    );
    assert!(!fresh.join("locks/paper.json").exists());
    ok(run(
        &fresh,
        &["import", bad.to_str().unwrap(), "--as", "their-paper"],
    ));
}

#[test]
fn a_slurm_job_refuses_a_plan_changed_after_submission() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let rundir = dir.path().join("run");
    std::fs::create_dir_all(rundir.join("failed")).unwrap();
    let plan = b"{\"pipeline\":\"x\"}";
    std::fs::write(rundir.join("plan.json"), plan).unwrap();
    let submitted = blake3_hex(b"the plan as it was submitted");
    let job = |hash: &str| {
        run(
            &store,
            &[
                "job",
                rundir.to_str().unwrap(),
                "--plan-hash",
                hash,
                "--indices",
                "0",
            ],
        )
    };
    let o = job(&submitted);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("the plan was changed after submission"),
        "{t}"
    );
    // With the hash of what is there, the check passes (and this toy plan is then refused as malformed).
    let o = job(&blake3_hex(plan));
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("malformed plan") && !t.contains("changed after"),
        "{t}"
    );
}
