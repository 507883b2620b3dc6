//! `vmkit migrate`: one VM's migration from the command line, as the `migrate` module does it
//! (the same code, arguments and result), with the password taken from the environment or a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::modules::migrate::Migrate;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// vCenter or ESXi: host, host:port or https://host/sdk.
    #[arg(long, env = "VMKIT_VSPHERE_SERVER")]
    pub server: String,
    #[arg(long, env = "VMKIT_VSPHERE_USER")]
    pub user: String,
    /// A file holding the password (one line); otherwise VMKIT_VSPHERE_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// The VM's name.
    #[arg(long)]
    pub vm: String,
    /// The destination cloud in clouds.yaml (else OS_CLOUD / OS_*).
    #[arg(long)]
    pub cloud: Option<String>,
    /// vddk, https or file.
    #[arg(long, default_value = "vddk")]
    pub transport: String,
    /// A warm sync round (changed block tracking).
    #[arg(long)]
    pub cbt_sync: bool,
    /// With --cbt-sync: power off and copy the last changes.
    #[arg(long)]
    pub cutover: bool,
    /// Copy without converting the guest.
    #[arg(long)]
    pub skip_conversion: bool,
    /// Report what would be done; change nothing.
    #[arg(long)]
    pub check: bool,
    /// Any other migrate module option, as KEY=VALUE (repeat), e.g. --set instanceuuid=…
    /// --set assumezero=true --set localdiskpath=/mnt/ds. Values are read as Ansible reads them.
    #[arg(long = "set", value_parser = parse_pair)]
    pub options: Vec<(String, String)>,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let password = match &args.password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --password-file {}", path.display()))?
            .trim_end_matches(['\r', '\n'])
            .to_owned(),
        None => std::env::var("VMKIT_VSPHERE_PASSWORD")
            .context("give the vSphere password in VMKIT_VSPHERE_PASSWORD or --password-file")?,
    };
    let mut module_args = Map::new();
    for (key, value) in &args.options {
        module_args.insert(key.clone(), json!(value));
    }
    module_args.extend([
        ("server".into(), json!(args.server)),
        ("user".into(), json!(args.user)),
        ("password".into(), json!(password)),
        ("vmname".into(), json!(args.vm)),
        ("transport".into(), json!(args.transport)),
        ("cbtsync".into(), json!(args.cbt_sync)),
        ("cutover".into(), json!(args.cutover)),
        ("skipconversion".into(), json!(args.skip_conversion)),
        ("_ansible_check_mode".into(), json!(args.check)),
    ]);
    if let Some(cloud) = &args.cloud {
        module_args.insert("dst_cloud".into(), json!(cloud));
    }
    let result = ansible_module::run_module_with_args::<Migrate>(Value::Object(module_args));
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(if result["failed"] == json!(true) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
