use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = nnqft_report::Args::parse();
    match nnqft_report::run(&args) {
        Ok(o) => {
            eprintln!(
                "report: wrote {}/index.html (content {})",
                args.out.display(),
                o.hash
            );
            if args.strict && o.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("nnqft-report: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
