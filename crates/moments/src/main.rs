use clap::Parser;
use nnqft_store::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = cli::check_batch("nnqft-moments", nnqft_moments::Args::validate) {
        return code;
    }
    cli::exit_with_parent();
    let args = nnqft_moments::Args::parse();
    match nnqft_moments::run(&args) {
        Ok(hash) => {
            cli::say(&format!("moments: wrote {} (content {hash})", args.out.display()));
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail("nnqft-moments", Some(&args.out), &e),
    }
}
