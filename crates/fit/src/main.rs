use clap::Parser;
use nnqft_store::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = cli::check_batch("nnqft-fit", nnqft_fit::Args::validate) {
        return code;
    }
    cli::exit_with_parent();
    let args = nnqft_fit::Args::parse();
    match nnqft_fit::run(&args) {
        Ok(hash) => {
            cli::say(&format!("fit: wrote {} (content {hash})", args.out.display()));
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail("nnqft-fit", Some(&args.out), &e),
    }
}
