use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = nnqft_moments::Args::parse();
    match nnqft_moments::run(&args) {
        Ok(hash) => {
            eprintln!("moments: wrote {} (content {hash})", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nnqft-moments: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
