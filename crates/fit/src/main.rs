use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = nnqft_fit::Args::parse();
    match nnqft_fit::run(&args) {
        Ok(hash) => {
            eprintln!("fit: wrote {} (content {hash})", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nnqft-fit: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
