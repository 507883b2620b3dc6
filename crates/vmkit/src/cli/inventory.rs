//! `vmkit inventory`: export VMs' data files from vSphere, as the `export_metadata` module does.
//! The password never travels on the command line: it comes from a file or the environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use ansible_module::Secret;
use anyhow::{Context as _, bail};
use vm_export::{ExportOptions, Selection};

use crate::modules::export_metadata::{ExportRequest, export, network_map, response};
use crate::modules::vsphere_connection::Connection;

/// How to reach vSphere (shared with `vmkit validate`).
#[derive(Debug, clap::Args)]
pub struct VsphereArgs {
    /// vCenter or ESXi: host, host:port or https://host/sdk.
    #[arg(long, env = "VMKIT_VSPHERE_SERVER")]
    pub server: String,
    #[arg(long, env = "VMKIT_VSPHERE_USER")]
    pub user: String,
    /// A file holding the password (one line); otherwise VMKIT_VSPHERE_PASSWORD.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Do not check the server certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Pin the server certificate (SHA-1 as vSphere shows it, or SHA-256).
    #[arg(long)]
    pub thumbprint: Option<String>,
    /// Trust only the certificates of this PEM file.
    #[arg(long)]
    pub ca_file: Option<String>,
    /// A VM name; repeat for several.
    #[arg(long = "vm")]
    pub vms: Vec<String>,
    /// Every VM under this folder (/DC/vm/Linux or Linux); with --vm, only those in it.
    #[arg(long)]
    pub folder: Option<String>,
}

impl VsphereArgs {
    pub fn password(&self) -> anyhow::Result<Secret> {
        let password = match &self.password_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --password-file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => match std::env::var("VMKIT_VSPHERE_PASSWORD") {
                Ok(password) => password,
                Err(_) => {
                    bail!("give the vSphere password in VMKIT_VSPHERE_PASSWORD or --password-file")
                }
            },
        };
        ansible_module::secrets::register(&password);
        Ok(Secret::new(password))
    }

    pub fn connection<'a>(&'a self, password: &'a Secret) -> Connection<'a> {
        Connection {
            server: &self.server,
            user: &self.user,
            password,
            vmware_insecure: self.insecure,
            validate_certs: None,
            thumbprint: self.thumbprint.as_deref(),
            ca_file: self.ca_file.as_deref(),
        }
    }

    pub fn selection(&self) -> Selection {
        Selection {
            names: self.vms.clone(),
            folder: self.folder.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub vsphere: VsphereArgs,
    /// The data directory: one <dir>/<vm>/ per VM.
    #[arg(long, env = "OS_MIGRATE_VMW_DATA_DIR")]
    pub data_dir: PathBuf,
    /// PORTGROUP=NETWORK[,SUBNET]: write nics.json through this map (repeat); without it, macs.json.
    #[arg(long = "network-map", value_parser = parse_mapping)]
    pub network_map: Vec<(String, String)>,
    /// The subnet of every macs.json entry.
    #[arg(long, default_value = "")]
    pub subnet_uuid: String,
    /// Read only; report what would be written.
    #[arg(long)]
    pub check: bool,
    /// Print the module's JSON result instead of one line per VM.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn parse_mapping(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{value:?} is not PORTGROUP=NETWORK[,SUBNET]"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let password = args.vsphere.password()?;
    let map: BTreeMap<String, String> = args.network_map.iter().cloned().collect();
    let request = ExportRequest {
        connection: args.vsphere.connection(&password),
        selection: args.vsphere.selection(),
        options: ExportOptions {
            data_dir: args.data_dir.clone(),
            network_map: network_map(Some(&map), None)?,
            subnet_uuid: args.subnet_uuid.clone(),
            check_mode: args.check,
        },
    };
    let outcomes = export(&request)?;
    let result = response(&outcomes, args.check);
    if args.json {
        let mut data = result.data.clone();
        data.insert("changed".into(), result.changed.into());
        data.insert("failed".into(), result.failed.into());
        if let Some(msg) = &result.msg {
            data.insert("msg".into(), msg.clone().into());
        }
        println!("{}", serde_json::to_string_pretty(&data)?);
    } else {
        for outcome in &outcomes {
            match &outcome.result {
                Ok(export) => {
                    let state = if !export.changed() {
                        "unchanged"
                    } else if args.check {
                        "would change"
                    } else {
                        "written"
                    };
                    println!(
                        "{}\t{}\t{state}\t{}",
                        outcome.name,
                        export.moref,
                        export.path.display()
                    );
                }
                Err(e) => println!("{}\t-\tFAILED\t{e}", outcome.name),
            }
        }
        if let Some(msg) = &result.msg {
            eprintln!("{msg}");
        }
    }
    Ok(if result.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
