use clap::Parser;
use nnqft_store::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = cli::check_batch("nnqft-flow", nnqft_flow::Args::validate) {
        return code;
    }
    cli::exit_with_parent();
    let args = nnqft_flow::Args::parse();
    match nnqft_flow::run(&args) {
        Ok(hash) => {
            cli::say(&format!("flow: wrote {} (content {hash})", args.out.display()));
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail("nnqft-flow", Some(&args.out), &e),
    }
}
