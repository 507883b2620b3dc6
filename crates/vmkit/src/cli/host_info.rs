use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use conversion_host::facts::{FactsRequest, gather};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory whose free space to report (the migration data directory).
    #[arg(long, default_value = "/opt/os-migrate")]
    data_dir: PathBuf,
    /// VDDK directory.
    #[arg(long, default_value = "/usr/lib/vmware-vix-disklib")]
    libdir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let facts = gather(&FactsRequest {
        data_dir: args.data_dir,
        vddk_libdir: args.libdir,
    })
    .context("cannot gather the conversion host's facts")?;
    println!("{}", serde_json::to_string_pretty(&facts)?);
    Ok(ExitCode::SUCCESS)
}
