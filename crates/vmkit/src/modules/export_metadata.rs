//! `export_metadata`: reads VMs from vCenter/ESXi and writes each one's data directory
//! (`<os_migrate_vmw_data_dir>/<vm>/`, schema in docs/data-files.md).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::{Context as _, bail};
use migration_data::NetworkMap;
use serde::{Deserialize, Serialize};
use vm_export::{ExportOptions, Outcome, Selection, VmExport};

use crate::modules::vsphere_connection::{Connection, VsphereConnectionArgs, logout};

pub struct ExportMetadata;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    #[serde(flatten)]
    #[arg(flatten)]
    pub connection: VsphereConnectionArgs,
    /// One VM name or a list.
    #[arg(aliases = ["vm_name", "vms_list"], elements = "str")]
    pub vmname: Option<Vec<String>>,
    /// Every VM under this folder (`/DC/vm/Linux` or `Linux`); with `vmname`, only those in it.
    pub folder: Option<String>,
    #[arg(type = "path")]
    pub os_migrate_vmw_data_dir: String,
    /// vSphere portgroup key or name → `"<neutron network>[,<subnet uuid>]"`.
    pub network_map: Option<BTreeMap<String, String>>,
    /// Write `nics.json` through `network_map` (true) or `macs.json` (false); default: whether
    /// `network_map` is given.
    pub used_mapped_networks: Option<bool>,
    /// The `subnet` of every `macs.json` entry.
    #[arg(default = "", aliases = ["export_metadata_subnet_uuid"])]
    pub subnet_uuid: String,
}

/// One VM in the result.
#[derive(Debug, Serialize)]
pub struct VmResult {
    pub moref: String,
    pub path: PathBuf,
    pub changed: bool,
    /// File → `created`, `updated` or `unchanged`.
    pub files: BTreeMap<&'static str, &'static str>,
    /// Check mode only: file → the JSON it would hold (the roles plan from it, as nothing is
    /// written); absent otherwise, so that a wave's result stays small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<&'static str, serde_json::Value>>,
}

impl From<&VmExport> for VmResult {
    fn from(export: &VmExport) -> Self {
        Self {
            moref: export.moref.clone(),
            path: export.path.clone(),
            changed: export.changed(),
            files: export
                .files
                .iter()
                .map(|(file, written)| {
                    (
                        *file,
                        match written {
                            migration_data::Written::Created => "created",
                            migration_data::Written::Updated => "updated",
                            migration_data::Written::Unchanged => "unchanged",
                        },
                    )
                })
                .collect(),
            metadata: (!export.contents.is_empty())
                .then(|| export.contents.iter().cloned().collect()),
        }
    }
}

/// What to export, from module arguments or the command line.
pub(crate) struct ExportRequest<'a> {
    pub connection: Connection<'a>,
    pub selection: Selection,
    pub options: ExportOptions,
}

pub(crate) fn network_map(
    map: Option<&BTreeMap<String, String>>,
    used_mapped_networks: Option<bool>,
) -> anyhow::Result<Option<NetworkMap>> {
    let given = map.filter(|m| !m.is_empty());
    match (used_mapped_networks.unwrap_or(given.is_some()), given) {
        (false, _) => Ok(None),
        (true, None) => bail!(
            "used_mapped_networks is true but network_map is empty; give network_map or set used_mapped_networks: false"
        ),
        (true, Some(map)) => Ok(Some(
            NetworkMap::new(map).context("argument 'network_map'")?,
        )),
    }
}

pub(crate) fn export(request: &ExportRequest) -> anyhow::Result<Vec<Outcome<VmExport>>> {
    crate::modules::block_on(async {
        let client = request.connection.connect().await?;
        let outcomes =
            vm_export::export_selection(&client, &request.selection, &request.options).await;
        logout(&client).await;
        Ok(outcomes?)
    })?
}

impl Module for ExportMetadata {
    const NAME: &'static str = "export_metadata";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let request = ExportRequest {
            connection: args.connection.connection()?,
            selection: Selection {
                names: args.vmname.clone().unwrap_or_default(),
                folder: args.folder.clone(),
            },
            options: ExportOptions {
                data_dir: PathBuf::from(&args.os_migrate_vmw_data_dir),
                network_map: network_map(args.network_map.as_ref(), args.used_mapped_networks)?,
                subnet_uuid: args.subnet_uuid.clone(),
                check_mode: ctx.check_mode,
            },
        };
        let outcomes = export(&request)?;
        Ok(response(&outcomes, ctx.check_mode))
    }
}

pub(crate) fn response(outcomes: &[Outcome<VmExport>], check_mode: bool) -> Response {
    let mut vms = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for outcome in outcomes {
        match &outcome.result {
            Ok(export) => {
                vms.insert(outcome.name.clone(), VmResult::from(export));
            }
            Err(e) => {
                failed.insert(outcome.name.clone(), e.clone());
            }
        }
    }
    let changed = vms.values().any(|v| v.changed);
    let verb = if check_mode { "would write" } else { "wrote" };
    let written = vms.values().filter(|v| v.changed).count();
    let response = if failed.is_empty() {
        Response::new().msg(format!(
            "exported {} VM(s); {verb} files for {written}",
            vms.len()
        ))
    } else {
        Response::failed(format!(
            "could not export {} of {} VM(s): {}",
            failed.len(),
            outcomes.len(),
            failed
                .iter()
                .map(|(vm, e)| format!("{vm}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    };
    response
        .changed(changed)
        .with("vms", vms)
        .with("failed_vms", failed)
}
