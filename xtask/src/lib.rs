//! nnqft's orchestrator as a library: the `cargo xtask` binary is a thin `main` over [`cli`].
//!
//! - [`pipeline`]: pipeline files (parsing with file:line errors, sweeps, shards, topological order);
//! - [`kind`]: the stage kinds and what the orchestrator knows of each;
//! - [`names`]: checks and encodings of every value that becomes a path in the store;
//! - [`identity`]: stage identities (hashes of sources, lock file, compiler, profile);
//! - [`plan`]: stage keys, what is cached and why the rest must run, the lock a run updates, `status`;
//! - [`exec`]: stage command lines, parameter validation, the execution of one instance, progress events, the
//!   state of a run, the local executor;
//! - [`slurm`]: the Slurm executor and the body of one job;
//! - [`store`]: the store's layout, lock, stat cache, quarantine, verify, gc;
//! - [`archive`]: deterministic archives and their verified import;
//! - [`cli`]: the command line.

/// `println!` for the orchestrator's output: a closed stdout (`cargo xtask status | head`) ends the process
/// quietly with the status a default SIGPIPE gives (141) instead of panicking; other write errors still panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout(::std::format_args!($($arg)*))
    };
}

#[doc(hidden)]
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        panic!("writing to stdout: {e}");
    }
}

pub mod archive;
pub mod cli;
pub mod exec;
pub mod identity;
pub mod kind;
pub mod names;
pub mod pipeline;
pub mod plan;
pub mod slurm;
pub mod store;
