//! `validate`: pre-migration checks of VMs (Forklift's VMware rule ids and categories, plus
//! plan-wide ones), read live from vCenter/ESXi. The rules are in the `validation` crate.

use std::collections::{BTreeMap, BTreeSet};

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::{anyhow, bail};
use serde::Deserialize;
use validation::{FailOn, Finding, MigrationType, Plan, Severity};
use vm_export::Selection;

use crate::modules::export_metadata::network_map;
use crate::modules::vsphere_connection::{Connection, VsphereConnectionArgs, logout};

pub struct Validate;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    #[serde(flatten)]
    #[arg(flatten)]
    pub connection: VsphereConnectionArgs,
    /// One VM name or a list: the plan.
    #[arg(aliases = ["vm_name", "vms_list"], elements = "str")]
    pub vmname: Option<Vec<String>>,
    /// Every VM under this folder; with `vmname`, only those in it.
    pub folder: Option<String>,
    #[arg(default = "cold", choices = ["cold", "warm"])]
    pub migration_type: String,
    /// As export_metadata's; when given, NICs on unmapped networks are reported.
    pub network_map: Option<BTreeMap<String, String>>,
    /// `[{vmware_datastore, openstack_type}]`; when given, disks on unmapped datastores are reported.
    #[arg(elements = "dict")]
    pub volume_type_mapping: Option<Vec<serde_json::Value>>,
    /// The guests' IPs are to be kept as fixed IPs (a VM without guest IPs stays a warning: its
    /// ports get addresses from Neutron).
    #[arg(default = false)]
    pub use_fixed_ips: bool,
    /// Rule ids to skip.
    #[arg(default = [], elements = "str")]
    pub skip_rules: Vec<String>,
    /// The lowest severity that fails the task.
    #[arg(default = "critical", choices = ["critical", "warning", "never"])]
    pub fail_on: String,
}

/// What to validate, from module arguments or the command line.
pub(crate) struct ValidateRequest<'a> {
    pub connection: Connection<'a>,
    pub selection: Selection,
    pub plan: Plan,
    pub fail_on: FailOn,
}

pub(crate) fn mapped_datastores(
    mapping: Option<&[serde_json::Value]>,
) -> anyhow::Result<Option<BTreeSet<String>>> {
    let Some(mapping) = mapping else {
        return Ok(None);
    };
    mapping
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            entry
                .get("vmware_datastore")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    anyhow!(
                        "argument 'volume_type_mapping': entry {i} has no vmware_datastore string; \
                         write [{{vmware_datastore: NAME, openstack_type: TYPE}}]"
                    )
                })
        })
        .collect::<anyhow::Result<_>>()
        .map(Some)
}

pub(crate) fn migration_type(value: &str) -> anyhow::Result<MigrationType> {
    match value {
        "cold" => Ok(MigrationType::Cold),
        "warm" => Ok(MigrationType::Warm),
        other => bail!("argument 'migration_type': {other:?} is neither cold nor warm"),
    }
}

/// The findings, and the VMs that could not be read (name → why).
pub(crate) fn run_validation(
    request: &ValidateRequest,
) -> anyhow::Result<(Vec<Finding>, BTreeMap<String, String>)> {
    let outcomes = crate::modules::block_on(async {
        let client = request.connection.connect().await?;
        let outcomes = vm_export::read_selection(&client, &request.selection).await;
        logout(&client).await;
        anyhow::Ok(outcomes?)
    })??;
    let mut unread = BTreeMap::new();
    let mut infos = Vec::new();
    for outcome in outcomes {
        match outcome.result {
            Ok(vm) => infos.push(vm_export::guest_info(&vm)),
            Err(e) => {
                unread.insert(outcome.name, e);
            }
        }
    }
    Ok((validation::validate(&infos, &request.plan)?, unread))
}

impl Module for Validate {
    const NAME: &'static str = "validate";
    type Args = Args;

    fn run(args: Args, _ctx: &mut Context) -> anyhow::Result<Response> {
        let request = ValidateRequest {
            connection: args.connection.connection(),
            selection: Selection {
                names: args.vmname.clone().unwrap_or_default(),
                folder: args.folder.clone(),
            },
            plan: Plan {
                migration_type: migration_type(&args.migration_type)?,
                network_map: network_map(args.network_map.as_ref(), None)?,
                mapped_datastores: mapped_datastores(args.volume_type_mapping.as_deref())?,
                use_fixed_ips: args.use_fixed_ips,
                skip_rules: args.skip_rules.iter().cloned().collect(),
            },
            fail_on: FailOn::parse(&args.fail_on)
                .ok_or_else(|| anyhow!("argument 'fail_on': {:?}", args.fail_on))?,
        };
        let (findings, unread) = run_validation(&request)?;
        Ok(response(&findings, &unread, request.fail_on))
    }
}

pub(crate) fn response(
    findings: &[Finding],
    unread: &BTreeMap<String, String>,
    fail_on: FailOn,
) -> Response {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let summary = BTreeMap::from([
        ("critical", count(Severity::Critical)),
        ("warning", count(Severity::Warning)),
        ("information", count(Severity::Information)),
    ]);
    let failing: Vec<&Finding> = findings.iter().filter(|f| fail_on.fails(f)).collect();
    let mut problems = Vec::new();
    if !unread.is_empty() {
        problems.push(format!(
            "could not read {}",
            unread
                .iter()
                .map(|(vm, e)| format!("{vm}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if !failing.is_empty() {
        problems.push(format!(
            "{} finding(s) at or above fail_on: {}",
            failing.len(),
            failing
                .iter()
                .map(|f| format!("{} {} ({})", f.vm, f.id, f.object))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let totals = format!(
        "{} critical, {} warning, {} information",
        summary["critical"], summary["warning"], summary["information"]
    );
    let response = if problems.is_empty() {
        Response::new().msg(format!("validation passed: {totals}"))
    } else {
        Response::failed(format!(
            "validation failed: {} ({totals})",
            problems.join("; ")
        ))
    };
    response
        .with("findings", findings)
        .with("summary", summary)
        .with("failed_vms", unread)
}
