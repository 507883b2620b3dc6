use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::modules::{MODULES, find};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Module name, e.g. conversion_host_info.
    name: String,
    /// JSON arguments file (the module's options; `_ansible_check_mode` etc. are honoured).
    args_file: PathBuf,
}

pub fn list() -> anyhow::Result<ExitCode> {
    for module in MODULES {
        println!("{}", module.name);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let Some(module) = find(&args.name) else {
        let known: Vec<&str> = MODULES.iter().map(|m| m.name).collect();
        anyhow::bail!(
            "no module named {:?}; the modules are: {}",
            args.name,
            known.join(", ")
        );
    };
    Ok((module.run)(&[
        OsString::from(module.name),
        args.args_file.into_os_string(),
    ]))
}
