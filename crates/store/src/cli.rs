//! What every stage binary shares besides artifacts: messages that never panic (stderr may sit on a full
//! disk), a plain "disk full" diagnosis, the memory bound checked before large allocations, and the hidden
//! `--check-batch` mode with which the orchestrator validates every instance's parameters before anything runs.
//!
//! `PROG --check-batch FILE`: FILE is a JSON array of argument vectors, each an array of strings exactly as the
//! orchestrator would pass them after the program name (input paths that need not exist yet, `--out PATH`).
//! Each vector is parsed by the stage's clap parser and validated as far as that is possible without reading
//! inputs or writing anything; stdout gets one JSON array of the same length holding `null` for a valid vector
//! and the error message otherwise. Exit status 0 when FILE was readable, 1 (with a message) otherwise.

use crate::StoreError;
use crate::error::is_disk_full;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The first argument that selects the batch-validation mode.
pub const CHECK_BATCH: &str = "--check-batch";

/// Memory assumed to be available where `/proc/meminfo` cannot be read (systems other than Linux).
pub const FALLBACK_AVAILABLE_BYTES: u64 = 8 << 30;

/// Writes one line to stderr. A failed write (stderr on a full disk, a closed pipe) is ignored: `eprintln!`
/// would panic there and turn a clean error exit into a crash.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether a full disk is somewhere in the chain of `err`.
pub fn disk_full_in(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(e.downcast_ref::<StoreError>(), Some(StoreError::DiskFull { .. }))
            || e.downcast_ref::<std::io::Error>().is_some_and(is_disk_full)
    })
}

/// Reports a failed run on stderr (never panicking) and returns the failure exit code; see [`failure_message`].
pub fn fail(prog: &str, out: Option<&Path>, err: &anyhow::Error) -> ExitCode {
    say(&failure_message(prog, out, err));
    ExitCode::FAILURE
}

/// `PROG: error: ` and the chain of `err`. When the cause is a full disk the message says so first, naming the
/// output `out`, however deep the I/O error sits in the chain (a [`StoreError::DiskFull`] already names its file).
pub fn failure_message(prog: &str, out: Option<&Path>, err: &anyhow::Error) -> String {
    let already_plain = err
        .chain()
        .any(|e| matches!(e.downcast_ref::<StoreError>(), Some(StoreError::DiskFull { .. })));
    if disk_full_in(err) && !already_plain {
        let what = out.map_or("the output".to_string(), |p| p.display().to_string());
        format!("{prog}: error: disk full while writing {what}: free space and re-run ({err:#})")
    } else {
        format!("{prog}: error: {err:#}")
    }
}

/// Environment variable in which the orchestrator passes its process id to a stage it starts.
pub const PARENT_ENV: &str = "NNQFT_PARENT_PID";

/// How often a stage checks that its orchestrator is still alive.
const PARENT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Exit status of a stage that stopped because its orchestrator died.
pub const EXIT_ORPHANED: i32 = 3;

/// When started by the orchestrator (`NNQFT_PARENT_PID` set), watches that process on a background thread and
/// exits as soon as it is gone (the stage has then been re-parented), so that a killed `xtask` (even by
/// SIGKILL, which it cannot handle) leaves no stage running. Its output is a temporary directory that the next
/// run removes. Without the variable (a stage run by hand) it does nothing.
pub fn exit_with_parent() {
    let Some(parent) = std::env::var(PARENT_ENV).ok().and_then(|s| s.parse::<u32>().ok()) else {
        return;
    };
    std::thread::spawn(move || {
        loop {
            if std::os::unix::process::parent_id() != parent {
                say(&format!(
                    "stopping: the orchestrator (pid {parent}) that started this stage is gone"
                ));
                std::process::exit(EXIT_ORPHANED);
            }
            std::thread::sleep(PARENT_POLL);
        }
    });
}

/// Runs the `--check-batch FILE` mode when the command line asks for it (see the module documentation), with
/// `validate` doing every check of a parsed command line that needs no input; `None` for a normal command line.
pub fn check_batch<A: clap::Parser>(
    prog: &str,
    validate: impl Fn(&A) -> anyhow::Result<()>,
) -> Option<ExitCode> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_none_or(|a| a != CHECK_BATCH) {
        return None;
    }
    let outcome = match &argv[2..] {
        [file] => read_batch(Path::new(file)).map(|vectors| check_vectors(prog, &vectors, validate)),
        _ => Err(format!(
            "usage: {prog} {CHECK_BATCH} FILE (one file, a JSON array of argument vectors)"
        )),
    };
    Some(match outcome {
        Ok(results) => {
            let json = serde_json::to_string(&results).expect("strings serialise");
            match writeln!(std::io::stdout().lock(), "{json}") {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    say(&format!(
                        "{prog}: error: writing the {CHECK_BATCH} results to stdout: {e}"
                    ));
                    ExitCode::FAILURE
                }
            }
        }
        Err(msg) => {
            say(&format!("{prog}: error: {msg}"));
            ExitCode::FAILURE
        }
    })
}

fn read_batch(file: &Path) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("{CHECK_BATCH} {}: cannot read it: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{CHECK_BATCH} {}: not a JSON array of argument vectors (arrays of strings): {e}",
            file.display()
        )
    })
}

/// Validates each argument vector (without the program name): `None` when valid, else the error message.
pub fn check_vectors<A: clap::Parser>(
    prog: &str,
    vectors: &[Vec<String>],
    validate: impl Fn(&A) -> anyhow::Result<()>,
) -> Vec<Option<String>> {
    vectors
        .iter()
        .map(|v| {
            let argv = std::iter::once(prog).chain(v.iter().map(String::as_str));
            match A::try_parse_from(argv) {
                Err(e) => Some(clap_message(&e)),
                Ok(a) => validate(&a).err().map(|e| format!("{e:#}")),
            }
        })
        .collect()
}

/// A clap error as one line: its message and hints, without the "error:" prefix, usage and help pointer.
fn clap_message(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return "--help and --version print text and run nothing; they are not valid in a stage instance"
            .into();
    }
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Memory available to a new process in bytes, and where the figure comes from: `MemAvailable` of
/// `/proc/meminfo`, or [`FALLBACK_AVAILABLE_BYTES`] where that cannot be read.
pub fn available_memory() -> (u64, &'static str) {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| mem_available(&t))
        .map_or(
            (
                FALLBACK_AVAILABLE_BYTES,
                "assumed: /proc/meminfo is not readable here",
            ),
            |b| (b, "MemAvailable in /proc/meminfo"),
        )
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut it = line["MemAvailable:".len()..].split_whitespace();
    let value: u64 = it.next()?.parse().ok()?;
    match it.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// Bytes for people: `3.4e10 bytes (32.0 GiB)`.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{b:.1e} bytes ({v:.1} {})", UNITS[u])
}

/// Refuses work whose estimated memory, `needed` bytes (`what` says for what), exceeds the memory available.
pub fn check_memory(what: &str, needed: f64, advice: &str) -> anyhow::Result<()> {
    let (avail, source) = available_memory();
    if needed.is_finite() && needed <= avail as f64 {
        return Ok(());
    }
    anyhow::bail!(
        "{what} needs about {} of memory but {} is available ({source}): {advice}",
        bytes(needed),
        bytes(avail as f64)
    )
}

/// Helpers for the stage binaries' own tests of this module's behaviour (they panic on failure, as tests do).
pub mod testing {
    use std::path::Path;
    use std::process::Command;

    /// Runs `exe --check-batch` on `vectors` (written to `dir/batch.json`); the verdicts, one per vector.
    pub fn check_batch(exe: &str, dir: &Path, vectors: &serde_json::Value) -> Vec<Option<String>> {
        let file = dir.join("batch.json");
        std::fs::write(&file, vectors.to_string()).expect("writing the batch");
        let o = Command::new(exe)
            .arg(super::CHECK_BATCH)
            .arg(&file)
            .output()
            .expect("running the stage");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("one JSON array of verdicts")
    }

    /// Asserts that each verdict is `None` where `expect` is, and otherwise a message containing `expect`.
    pub fn assert_verdicts(got: &[Option<String>], expect: &[Option<&str>]) {
        assert_eq!(got.len(), expect.len(), "{got:?}");
        for (i, (g, e)) in got.iter().zip(expect).enumerate() {
            match (g, e) {
                (None, None) => {}
                (Some(g), Some(e)) => assert!(g.contains(e), "vector {i}: '{g}' lacks '{e}'"),
                _ => panic!("vector {i}: got {g:?}, expected {e:?}"),
            }
        }
    }

    /// Asserts that a stage run was refused by [`super::check_memory`] with a message about `what` that gives the
    /// estimate in TiB (the tests ask for terabytes, beyond any machine) and the memory available.
    pub fn assert_memory_refusal(o: &std::process::Output, what: &str) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains(what), "'{err}' lacks '{what}'");
        assert!(
            err.contains("TiB) of memory but") && err.contains("is available"),
            "{err}"
        );
    }

    /// Runs a failing stage command with stderr on `/dev/full` (which answers every write with ENOSPC) and
    /// asserts that it exits with 1, not with a panic about the failed write (101); skipped without /dev/full.
    pub fn assert_clean_failure_with_stderr_full(mut cmd: Command) {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            eprintln!("skipped: no /dev/full on this system");
            return;
        };
        let o = cmd.stderr(full).output().expect("running the stage");
        assert_eq!(
            o.status.code(),
            Some(1),
            "eprintln! panics (exit 101) when stderr cannot be written"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Toy {
        #[arg(long)]
        width: u64,
        #[arg(long)]
        out: String,
    }

    fn positive(t: &Toy) -> anyhow::Result<()> {
        anyhow::ensure!(
            t.width >= 1,
            "width = {} is invalid: give a whole number >= 1",
            t.width
        );
        Ok(())
    }

    #[test]
    fn each_vector_gets_null_or_its_own_message() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = check_vectors::<Toy>(
            "toy",
            &[
                v(&["--width", "3", "--out", "x"]),
                v(&["--width", "0", "--out", "x"]),
                v(&["--width", "many", "--out", "x"]),
                v(&["--width", "3"]),
                v(&["--help"]),
            ],
            positive,
        );
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], None);
        assert_eq!(
            got[1].as_deref(),
            Some("width = 0 is invalid: give a whole number >= 1")
        );
        let m = got[2].as_deref().unwrap();
        assert!(
            m.contains("'many'") && m.contains("--width") && !m.contains('\n'),
            "{m}"
        );
        assert!(!m.starts_with("error:") && !m.contains("--help"), "{m}");
        assert!(got[3].as_deref().unwrap().contains("--out"), "{:?}", got[3]);
        assert!(got[4].is_some());
    }

    #[test]
    fn mem_available_reads_kilobytes() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    8388608 kB\n";
        assert_eq!(mem_available(text), Some(8 << 30));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: x kB\n"), None);
    }

    #[test]
    fn memory_beyond_what_exists_is_refused_with_the_estimate() {
        let e = check_memory("the job", 1e30, "ask for less")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the job needs about 1.0e30 bytes") && e.contains("ask for less"),
            "{e}"
        );
        assert!(check_memory("a small job", 1024.0, "").is_ok());
        assert!(check_memory("a NaN estimate", f64::NAN, "").is_err());
    }

    #[test]
    fn bytes_are_readable() {
        assert_eq!(bytes(34359738368.0), "3.4e10 bytes (32.0 GiB)");
        assert_eq!(bytes(512.0), "5.1e2 bytes (512.0 B)");
    }

    #[test]
    fn disk_full_is_found_deep_in_a_chain() {
        let io = std::io::Error::from_raw_os_error(28);
        let e = anyhow::Error::new(io)
            .context("writing report.md")
            .context("report");
        assert!(disk_full_in(&e));
        let other = anyhow::Error::new(std::io::Error::from_raw_os_error(13)).context("x");
        assert!(!disk_full_in(&other));
        let m = failure_message("nnqft-report", Some(Path::new("out/r")), &e);
        assert!(
            m.starts_with(
                "nnqft-report: error: disk full while writing out/r: free space and re-run (report: "
            ),
            "{m}"
        );
        let m = failure_message("p", None, &other);
        assert!(m.starts_with("p: error: x: ") && !m.contains("disk full"), "{m}");
        // A DiskFull from the store names its own file; the message is not doubled.
        let store = anyhow::Error::new(StoreError::io(
            "a/t.parquet",
            std::io::Error::from_raw_os_error(28),
        ));
        let m = failure_message("p", Some(Path::new("a")), &store);
        assert!(
            m.starts_with("p: error: disk full while writing a/t.parquet: free space and re-run"),
            "{m}"
        );
        assert_eq!(m.matches("disk full").count(), 1, "{m}");
    }
}
