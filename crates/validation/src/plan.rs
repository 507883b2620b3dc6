//! What is being validated: the VMs of a plan and how they will be migrated.

use std::collections::BTreeSet;

use migration_data::vmkit::VmkitInfo;
use migration_data::{GuestInfo, NetworkMap};

use crate::Error;
use crate::finding::Finding;
use crate::rules::{Check, RULES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationType {
    #[default]
    Cold,
    Warm,
}

/// How the conversion host will read the disks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// VDDK reads a snapshot through vSphere: any disk it can open.
    #[default]
    Vddk,
    /// The https and file transports read a flat extent file by name: only flat disks, and only
    /// when the VM has no snapshot of its own (its disks are then delta chains).
    Https,
    File,
}

impl Transport {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "vddk" => Some(Self::Vddk),
            "https" => Some(Self::Https),
            "file" => Some(Self::File),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Vddk => "vddk",
            Self::Https => "https",
            Self::File => "file",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub migration_type: MigrationType,
    /// `enable_cbt`: a warm migration turns CBT on itself.
    pub enable_cbt: bool,
    pub transport: Transport,
    /// `network_map`; `None` means networks are not mapped (every NIC to one network).
    pub network_map: Option<NetworkMap>,
    /// The `vmware_datastore` values of `volume_type_mapping`; `None` when it is not given.
    pub mapped_datastores: Option<BTreeSet<String>>,
    /// The guests' IPs are to be kept as the ports' fixed IPs.
    pub use_fixed_ips: bool,
    pub skip_rules: BTreeSet<String>,
}

/// One VM as the rules see it.
pub struct Vm<'a> {
    pub info: &'a GuestInfo,
    pub vmkit: &'a VmkitInfo,
}

/// Every finding for every VM of the plan, in rule order then VM order.
pub fn validate(vms: &[GuestInfo], plan: &Plan) -> Result<Vec<Finding>, Error> {
    let unknown: Vec<String> = plan
        .skip_rules
        .iter()
        .filter(|id| !RULES.iter().any(|r| r.id == id.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownRules {
            unknown,
            known: RULES.iter().map(|r| r.id).collect(),
        });
    }
    let vms: Vec<Vm> = vms
        .iter()
        .map(|info| {
            info.vmkit
                .as_ref()
                .map(|vmkit| Vm { info, vmkit })
                .ok_or_else(|| Error::MissingVmkit(info.hw_name.clone()))
        })
        .collect::<Result<_, _>>()?;
    let mut findings = Vec::new();
    for rule in RULES.iter().filter(|r| !plan.skip_rules.contains(r.id)) {
        let hits = match rule.check {
            Check::Vm(check) => vms
                .iter()
                .flat_map(|vm| {
                    check(vm, plan)
                        .into_iter()
                        .map(move |hit| (vm.info.hw_name.clone(), hit))
                })
                .collect::<Vec<_>>(),
            Check::Plan(check) => check(&vms, plan),
        };
        findings.extend(hits.into_iter().map(|(vm, hit)| Finding {
            id: rule.id,
            severity: hit.severity.unwrap_or(rule.severity),
            vm,
            object: hit.object,
            message: hit.message,
        }));
    }
    Ok(findings)
}
