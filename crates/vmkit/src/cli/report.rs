use std::path::PathBuf;
use std::process::ExitCode;

/// Writes migration-report.md and migration-report.html from a migration-summary.json.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The per-VM results the migration playbook wrote (migration-summary.json).
    summary: PathBuf,
    /// Directory for the reports (default: the summary's directory).
    #[arg(long)]
    dest: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dest = args.dest.clone().unwrap_or_else(|| {
        args.summary
            .parent()
            .map(PathBuf::from)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let (wave, md, page) = wave_report::write(&args.summary, &dest)?;
    for vm in &wave.vms {
        println!("{}", vm.line());
    }
    println!("{}\n{}", md.display(), page.display());
    Ok(if wave.failed() > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
