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
