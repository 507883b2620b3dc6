//! `vmkit`: the operator command line. Each subcommand lives in its own file with its clap
//! `Args` and a `run` returning `anyhow::Result<ExitCode>`.

mod copy;
mod host_info;
mod inventory;
mod migrate;
mod modules;
mod report;
mod validate;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "vmkit",
    version,
    about = "Migrate VMware vSphere virtual machines to OpenStack",
    long_about = "Migrate VMware vSphere virtual machines to OpenStack.\n\n\
        The same executable is every module of the Ansible collection \
        os_migrate.vmware_migration_kit; started as `vmkit` it is this command line."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). VMKIT_LOG takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copy a disk from an NBD export to a file, block device or NBD export.
    Copy(copy::Args),
    /// What this conversion host has: nbdkit, VDDK, virt-v2v, CPUs, memory, free space.
    HostInfo(host_info::Args),
    /// Export VMs' data files from vSphere (the export_metadata module).
    Inventory(inventory::Args),
    /// Migrate one VM's disks into Cinder volumes (the migrate module).
    Migrate(migrate::Args),
    /// List the Ansible modules this executable implements.
    Modules,
    /// Run an Ansible module by name on a JSON arguments file, as Ansible would.
    Module(modules::RunArgs),
    /// Write the wave report (markdown and self-contained HTML) from migration-summary.json; exit 3 when a VM failed.
    Report(report::Args),
    /// Pre-migration checks of VMs in vSphere and, with --dst-cloud, of the plan in OpenStack (the validate module).
    Validate(Box<validate::Args>),
}

pub fn main(argv: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // Prints help/version to stdout and usage errors to stderr, with clap's exit code.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Copy(args) => copy::run(args),
        Command::HostInfo(args) => host_info::run(args),
        Command::Inventory(args) => inventory::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Modules => modules::list(),
        Command::Module(args) => modules::run(args),
        Command::Report(args) => report::run(args),
        Command::Validate(args) => validate::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!(
                "vmkit: error: {}",
                ansible_module::secrets::scrub_str(&format!("{e:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VMKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
