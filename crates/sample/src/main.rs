use clap::Parser;
use nnqft_store::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = cli::check_batch("nnqft-sample", nnqft_sample::Args::validate) {
        return code;
    }
    cli::exit_with_parent();
    let args = nnqft_sample::Args::parse();
    match nnqft_sample::run(&args) {
        Ok(hash) => {
            if !args.quiet {
                cli::say(&format!(
                    "sample: wrote {} (content {hash})",
                    args.out.as_deref().unwrap_or(".".as_ref()).display()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => cli::fail("nnqft-sample", args.out.as_deref(), &e),
    }
}
