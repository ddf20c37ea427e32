//! nnqft's orchestrator: `cargo xtask run NAME` and friends (see `cargo xtask --help`). The work is done by
//! the `xtask` library (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    xtask::cli::main()
}
