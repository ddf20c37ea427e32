use clap::Parser;
use nnqft_report::Args;
use nnqft_store::cli;
use std::process::ExitCode;

/// The checks that need no input (`--check-batch`): something to report.
fn validate(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.fits.is_empty() || !args.flows.is_empty() || !args.moments.is_empty(),
        "nothing to report: give at least one --fit, --flow or --moments artifact"
    );
    Ok(())
}

fn main() -> ExitCode {
    if let Some(code) = cli::check_batch("nnqft-report", validate) {
        return code;
    }
    cli::exit_with_parent();
    let args = Args::parse();
    match nnqft_report::run(&args) {
        Ok(o) => {
            cli::say(&format!(
                "report: wrote {}/index.html (content {})",
                args.out.display(),
                o.hash
            ));
            if args.strict && o.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => cli::fail("nnqft-report", Some(&args.out), &e),
    }
}
