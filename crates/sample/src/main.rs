use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = nnqft_sample::Args::parse();
    match nnqft_sample::run(&args) {
        Ok(hash) => {
            if !args.quiet {
                eprintln!(
                    "sample: wrote {} (content {hash})",
                    args.out.as_deref().unwrap_or(".".as_ref()).display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nnqft-sample: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
