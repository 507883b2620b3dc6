//! `validate`: pre-migration checks of VMs (Forklift's VMware rule ids and categories, plus
//! plan-wide ones), read live from vCenter/ESXi, and, when a destination cloud is given, what the
//! plan needs there. The rules are in the `validation` crate, the cloud's in `target_cloud::preflight`.

use std::collections::{BTreeMap, BTreeSet};

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::{Context as _, anyhow, bail};
use migration_data::GuestInfo;
use serde::Deserialize;
use serde_json::Value;
use target_cloud::preflight::{self, CloudPlan, NewFlavor, PortNeed, VmNeeds, Wanted, variables};
use validation::{FailOn, Finding, MigrationType, Plan, Severity, Transport};
use vm_export::Selection;

use crate::modules::cloud::connect_reporting_region_in_findings;
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
    /// A warm migration turns changed block tracking on itself (as migrate's).
    #[arg(default = false)]
    pub enable_cbt: bool,
    /// How the conversion hosts will read the disks (as migrate's).
    #[arg(default = "vddk", choices = ["vddk", "https", "file"])]
    pub transport: String,
    /// As export_metadata's; when given, NICs on unmapped networks are reported.
    pub network_map: Option<BTreeMap<String, String>>,
    /// `[{vmware_datastore, openstack_type}]`; when given, disks on unmapped datastores are reported.
    #[arg(elements = "dict")]
    pub volume_type_mapping: Option<Vec<serde_json::Value>>,
    /// The guests' IPs are to be kept as fixed IPs (a VM without guest IPs stays a warning: its
    /// ports get addresses from Neutron).
    #[arg(default = false)]
    pub use_fixed_ips: bool,
    /// The destination cloud (a clouds.yaml name or the original's dict); when given, what the
    /// plan needs there is checked too.
    #[arg(aliases = ["cloud"])]
    pub dst_cloud: Option<Value>,
    /// The volumes' type when volume_type_mapping does not map the datastore (cinder_volume_type).
    pub volumetype: Option<String>,
    /// The volumes' Cinder availability zone.
    pub volumeaz: Option<String>,
    /// The servers' Nova availability zone.
    pub availability_zone: Option<String>,
    /// The servers' key pair (ssh_key_name); a missing one is a warning.
    pub key_name: Option<String>,
    /// The ports' security groups.
    #[arg(default = [], elements = "str")]
    pub security_groups: Vec<String>,
    /// A flavor name or id the servers get (flavor_uuid); unset: one is chosen or made later.
    pub flavor: Option<String>,
    /// Without O(flavor), an existing flavor that fits is taken before one is made (as
    /// convert_metadata's use_existing_flavor).
    #[arg(default = true)]
    pub use_existing_flavor: bool,
    /// The cloud that creates flavors (flavor_admin_cloud; default O(dst_cloud)): its user needs
    /// the admin role when a flavor is to be made.
    #[arg(aliases = ["flavor_admin_cloud"])]
    pub flavor_cloud: Option<Value>,
    /// The servers boot from a volume, so a flavor's own disk size does not matter.
    #[arg(default = true)]
    pub boot_from_volume: bool,
    /// The network of NICs that network_map does not map (openstack_private_network).
    pub network_name: Option<String>,
    /// A server is made for each VM (false: volumes only).
    #[arg(default = true)]
    pub create_server: bool,
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
    /// What the plan needs in the destination cloud, when it is to be checked.
    pub cloud: Option<CloudRequest>,
    pub fail_on: FailOn,
}

/// What the plan uses in the destination cloud besides what the VMs say.
#[derive(Debug, Default)]
pub(crate) struct CloudRequest {
    /// `None`: the environment's cloud (`OS_CLOUD`, `OS_*`).
    pub dst_cloud: Option<Value>,
    pub volume_type_mapping: BTreeMap<String, String>,
    pub volume_type: Option<String>,
    pub volume_availability_zone: Option<String>,
    pub server_availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub security_groups: Vec<String>,
    pub flavor: Option<String>,
    /// Without `flavor`: take an existing flavor that fits first.
    pub use_existing_flavor: bool,
    /// The cloud that would create flavors; `None`: `dst_cloud`.
    pub flavor_cloud: Option<Value>,
    pub boot_from_volume: bool,
    pub network_name: Option<String>,
    pub servers: bool,
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

pub(crate) fn transport(value: &str) -> anyhow::Result<Transport> {
    Transport::parse(value)
        .ok_or_else(|| anyhow!("argument 'transport': {value:?} is not one of vddk, https, file"))
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
    let skip = &request.plan.skip_rules;
    let vsphere_plan = Plan {
        skip_rules: skip
            .iter()
            .filter(|id| !preflight::RULE_IDS.contains(&id.as_str()))
            .cloned()
            .collect(),
        ..request.plan.clone()
    };
    let mut findings = validation::validate(&infos, &vsphere_plan)?;
    if let Some(cloud) = &request.cloud
        && !infos.is_empty()
    {
        let mut plan = cloud_plan(&infos, &request.plan, cloud);
        let found = crate::modules::block_on(async {
            let client =
                connect_reporting_region_in_findings("dst_cloud", cloud.dst_cloud.as_ref()).await?;
            if let (Some(new_flavor), Some(flavor_cloud)) =
                (plan.new_flavor.as_mut(), cloud.flavor_cloud.as_ref())
            {
                let maker =
                    connect_reporting_region_in_findings("flavor_cloud", Some(flavor_cloud))
                        .await?;
                new_flavor.maker_roles = Some(
                    maker
                        .roles()
                        .await
                        .context("cannot log in to the cloud given by flavor_cloud")?,
                );
            }
            anyhow::Ok(
                preflight::check(&client, &plan)
                    .await
                    .context("cannot check the destination cloud")?,
            )
        })??;
        findings.extend(found.into_iter().filter(|f| !skip.contains(f.id)));
    }
    Ok((findings, unread))
}

/// What the VMs of the plan will need in the cloud.
fn cloud_plan(infos: &[GuestInfo], plan: &Plan, cloud: &CloudRequest) -> CloudPlan {
    let mut volume_types: BTreeMap<(String, &str), Vec<String>> = BTreeMap::new();
    let vms = infos
        .iter()
        .map(|info| {
            let vmkit = info.vmkit.as_ref();
            let ports = info
                .interfaces
                .iter()
                .zip(migration_data::network::portgroup_names(info))
                .filter_map(|(eth, name)| match &plan.network_map {
                    Some(map) => map.target_of(eth, name.as_deref()).map(|t| PortNeed {
                        nic: eth.label.clone(),
                        network: t.network.clone(),
                        subnet: t.subnet.clone(),
                        variable: variables::NETWORK_MAP.into(),
                    }),
                    None => cloud.network_name.as_ref().map(|network| PortNeed {
                        nic: eth.label.clone(),
                        network: network.clone(),
                        subnet: None,
                        variable: variables::PRIVATE_NETWORK.into(),
                    }),
                })
                .collect();
            let disks = vmkit.map(|v| v.disks.as_slice()).unwrap_or_default();
            for disk in disks {
                let datastore = disk.datastore.as_ref().and_then(|d| d.name.as_deref());
                let wanted = datastore
                    .and_then(|ds| cloud.volume_type_mapping.get(ds))
                    .map(|t| (t.clone(), variables::VOLUME_TYPE_MAPPING))
                    .or_else(|| {
                        cloud
                            .volume_type
                            .clone()
                            .map(|t| (t, variables::VOLUME_TYPE))
                    });
                if let Some(key) = wanted {
                    let users = volume_types.entry(key).or_default();
                    if !users.contains(&info.hw_name) {
                        users.push(info.hw_name.clone());
                    }
                }
            }
            VmNeeds {
                name: info.hw_name.clone(),
                ports,
                cores: vmkit.map_or(0, |v| u64::from(v.cpu.count)),
                ram_mib: vmkit.map_or(0, |v| v.memory_mib),
                volume_gib: disks
                    .iter()
                    .map(|d| (d.capacity_bytes.max(0) as u64).div_ceil(1 << 30))
                    .collect(),
            }
        })
        .collect();
    let wanted = |value: &Option<String>, variable: &str| {
        value
            .as_ref()
            .filter(|v| !v.is_empty())
            .map(|v| Wanted::new(v.clone(), variable))
    };
    CloudPlan {
        vms,
        volume_types: volume_types
            .into_iter()
            .map(|((value, variable), vms)| Wanted {
                value,
                variable: variable.into(),
                vms,
            })
            .collect(),
        volume_availability_zone: wanted(
            &cloud.volume_availability_zone,
            variables::VOLUME_AVAILABILITY_ZONE,
        ),
        server_availability_zone: wanted(
            &cloud.server_availability_zone,
            variables::SERVER_AVAILABILITY_ZONE,
        ),
        key_name: wanted(&cloud.key_name, variables::KEY_NAME),
        security_groups: cloud
            .security_groups
            .iter()
            .filter(|g| !g.is_empty())
            .map(|g| Wanted::new(g.clone(), variables::SECURITY_GROUPS))
            .collect(),
        flavor: wanted(&cloud.flavor, variables::FLAVOR),
        new_flavor: Some(NewFlavor {
            use_existing: cloud.use_existing_flavor,
            boot_from_volume: cloud.boot_from_volume,
            maker_roles: None,
        }),
        servers: cloud.servers,
    }
}

impl Module for Validate {
    const NAME: &'static str = "validate";
    type Args = Args;

    fn run(args: Args, _ctx: &mut Context) -> anyhow::Result<Response> {
        let request = ValidateRequest {
            connection: args.connection.connection()?,
            selection: Selection {
                names: args.vmname.clone().unwrap_or_default(),
                folder: args.folder.clone(),
            },
            plan: Plan {
                migration_type: migration_type(&args.migration_type)?,
                enable_cbt: args.enable_cbt,
                transport: transport(&args.transport)?,
                network_map: network_map(args.network_map.as_ref(), None)?,
                mapped_datastores: mapped_datastores(args.volume_type_mapping.as_deref())?,
                use_fixed_ips: args.use_fixed_ips,
                skip_rules: args.skip_rules.iter().cloned().collect(),
            },
            cloud: args
                .dst_cloud
                .as_ref()
                .map(|dst_cloud| -> anyhow::Result<CloudRequest> {
                    Ok(CloudRequest {
                        dst_cloud: Some(dst_cloud.clone()),
                        volume_type_mapping: crate::modules::migrate::volume_type_mapping(
                            args.volume_type_mapping.clone().map(Value::Array).as_ref(),
                        )?,
                        volume_type: args.volumetype.clone(),
                        volume_availability_zone: args.volumeaz.clone(),
                        server_availability_zone: args.availability_zone.clone(),
                        key_name: args.key_name.clone(),
                        security_groups: args.security_groups.clone(),
                        flavor: args.flavor.clone(),
                        use_existing_flavor: args.use_existing_flavor,
                        flavor_cloud: args.flavor_cloud.clone(),
                        boot_from_volume: args.boot_from_volume,
                        network_name: args.network_name.clone(),
                        servers: args.create_server,
                    })
                })
                .transpose()?,
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
