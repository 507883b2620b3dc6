//! The OpenStack side of the pre-flight: everything a migration of this plan will need in the
//! destination cloud, looked up before anything changes, as findings of the same shape and
//! severities as the vSphere rules (`validation`), with ids of our own (`openstack.*`).
//!
//! Each finding names the playbook variable to fix. A finding about the whole cloud (region,
//! quota) is reported once per VM of the plan, so each VM it stops knows why.

mod network;
mod quota;
mod server;
mod storage;

use openstack::{Client, ServiceType};
use validation::{Finding, Severity};

/// Every rule id of this module, for `skip_rules`.
pub const RULE_IDS: &[&str] = &[
    "openstack.region.missing",
    "openstack.region.fallback",
    "openstack.network.missing",
    "openstack.subnet.missing",
    "openstack.volume_type.missing",
    "openstack.availability_zone.missing",
    "openstack.keypair.missing",
    "openstack.security_group.missing",
    "openstack.flavor.missing",
    "openstack.flavor.cannot_create",
    "openstack.quota.instances",
    "openstack.quota.cores",
    "openstack.quota.ram",
    "openstack.quota.volumes",
    "openstack.quota.gigabytes",
    "openstack.quota.ports",
    "openstack.quota.unreadable",
];

/// The playbook variables (and module options where they differ) findings name.
pub mod variables {
    pub const VOLUME_TYPE_MAPPING: &str = "volume_type_mapping";
    pub const VOLUME_TYPE: &str = "cinder_volume_type (module option volumetype)";
    pub const VOLUME_AVAILABILITY_ZONE: &str =
        "availability_zone or import_workloads_cinder_az (module option volumeaz)";
    pub const SERVER_AVAILABILITY_ZONE: &str = "availability_zone or import_workloads_nova_az";
    pub const KEY_NAME: &str = "ssh_key_name (module option key_name)";
    pub const SECURITY_GROUPS: &str = "security_groups";
    pub const FLAVOR: &str = "flavor_uuid (module option flavor)";
    pub const FLAVOR_CLOUD: &str = "flavor_admin_cloud (module option flavor_cloud)";
    pub const USE_EXISTING_FLAVOR: &str = "use_existing_flavor";
    pub const NETWORK_MAP: &str = "network_map";
    pub const PRIVATE_NETWORK: &str = "openstack_private_network";
}

/// What the plan will make or use in the cloud.
#[derive(Debug, Clone, Default)]
pub struct CloudPlan {
    pub vms: Vec<VmNeeds>,
    /// `volume_type_mapping` types (datastore → type) and `volumetype`, with the variable naming each.
    pub volume_types: Vec<Wanted>,
    /// The Cinder zone of the volumes.
    pub volume_availability_zone: Option<Wanted>,
    /// The Nova zone of the servers.
    pub server_availability_zone: Option<Wanted>,
    pub key_name: Option<Wanted>,
    pub security_groups: Vec<Wanted>,
    /// A flavor given by name or id (`flavor_uuid`); `None` when one is chosen or made later.
    pub flavor: Option<Wanted>,
    /// Without `flavor`: how each VM gets one (an existing one that fits, else one made for it).
    pub new_flavor: Option<NewFlavor>,
    /// A server is made for each VM (not a copy-only run).
    pub servers: bool,
}

/// How a VM without a given flavor gets one, as convert_metadata does it.
#[derive(Debug, Clone, Default)]
pub struct NewFlavor {
    /// An existing flavor that fits is taken when there is one (`use_existing_flavor`).
    pub use_existing: bool,
    /// The servers boot from a volume, so a flavor's own disk does not matter.
    pub boot_from_volume: bool,
    /// The roles of the user that would create flavors (`flavor_admin_cloud`); `None`: the
    /// destination cloud's own user.
    pub maker_roles: Option<Vec<String>>,
}

/// A name or id the plan uses, and the variable that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub value: String,
    pub variable: String,
    /// The VMs that use it; empty: every VM of the plan.
    pub vms: Vec<String>,
}

impl Wanted {
    pub fn new(value: impl Into<String>, variable: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            variable: variable.into(),
            vms: Vec::new(),
        }
    }
}

/// One VM's share of the plan.
#[derive(Debug, Clone, Default)]
pub struct VmNeeds {
    pub name: String,
    pub ports: Vec<PortNeed>,
    pub cores: u64,
    pub ram_mib: u64,
    /// Each new volume's size in GiB.
    pub volume_gib: Vec<u64>,
}

/// A port on a network (and subnet), for one NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortNeed {
    /// The NIC (`Network adapter 1`).
    pub nic: String,
    pub network: String,
    pub subnet: Option<String>,
    /// `network_map` or `openstack_private_network`.
    pub variable: String,
}

/// Every finding for the plan. A cloud that cannot be reached at all is an error, not a finding.
pub async fn check(client: &Client, plan: &CloudPlan) -> openstack::Result<Vec<Finding>> {
    for service in [
        ServiceType::Compute,
        ServiceType::BlockStorage,
        ServiceType::Network,
    ] {
        if let Err(e) = client.endpoint(service).await {
            // Nothing else can be looked up without the endpoints.
            return Ok(every_vm(
                plan,
                "openstack.region.missing",
                Severity::Critical,
                "dst_cloud",
                format!(
                    "{e}; fix region_name in dst_cloud (or the clouds.yaml entry it names) to one the catalog offers"
                ),
            ));
        }
    }
    // The original ignored region_name: one that differs only in case, or any name with a
    // single-region catalog, is used (openstack's region choice) and said here.
    let mut findings = match client.region_warning() {
        Some(warning) => every_vm(
            plan,
            "openstack.region.fallback",
            Severity::Warning,
            "dst_cloud",
            format!(
                "{warning}; set region_name in dst_cloud to the catalog's name to silence this"
            ),
        ),
        None => Vec::new(),
    };
    // Independent lookups: at once, so a plan costs the slowest service's round trips only.
    let (networks, storage, servers, quotas) = futures_util::future::try_join4(
        network::check(client, plan),
        storage::check(client, plan),
        server::check(client, plan),
        quota::check(client, plan),
    )
    .await?;
    findings.extend(networks);
    findings.extend(storage);
    findings.extend(servers);
    findings.extend(quotas);
    Ok(findings)
}

/// The VMs a wanted value concerns.
fn vms_of<'a>(plan: &'a CloudPlan, wanted: &'a Wanted) -> Vec<&'a str> {
    if wanted.vms.is_empty() {
        plan.vms.iter().map(|v| v.name.as_str()).collect()
    } else {
        wanted.vms.iter().map(String::as_str).collect()
    }
}

fn finding(
    id: &'static str,
    severity: Severity,
    vm: &str,
    object: impl Into<String>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        id,
        severity,
        vm: vm.to_owned(),
        object: object.into(),
        message: message.into(),
    }
}

fn every_vm(
    plan: &CloudPlan,
    id: &'static str,
    severity: Severity,
    object: &str,
    message: String,
) -> Vec<Finding> {
    plan.vms
        .iter()
        .map(|vm| finding(id, severity, &vm.name, object, message.clone()))
        .collect()
}

/// Whether a lookup found nothing (absent, or several of the name): a finding, not an error.
enum Lookup<T> {
    Found(T),
    Missing(String),
}

fn lookup<T>(result: openstack::Result<T>) -> openstack::Result<Lookup<T>> {
    match result {
        Ok(found) => Ok(Lookup::Found(found)),
        Err(e @ openstack::Error::Ambiguous { .. }) => Ok(Lookup::Missing(e.to_string())),
        Err(e) if e.is_not_found() => Ok(Lookup::Missing(e.to_string())),
        Err(e) => Err(e),
    }
}
