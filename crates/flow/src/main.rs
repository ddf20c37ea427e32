use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = nnqft_flow::Args::parse();
    match nnqft_flow::run(&args) {
        Ok(hash) => {
            eprintln!("flow: wrote {} (content {hash})", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nnqft-flow: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
