//! The whole plan fits in the project's quotas: instances, cores, RAM, volumes, gigabytes, ports.

use openstack::Client;
use openstack::cinder::limits as cinder_limits;
use openstack::cinder::volumes;
use openstack::neutron::quotas;
use openstack::nova::limits as nova_limits;
use validation::{Finding, Severity};

use super::{CloudPlan, every_vm};

/// One quota: what the plan needs, the limit (-1: none) and what is in use.
struct Need {
    id: &'static str,
    what: &'static str,
    needed: u64,
    limit: i64,
    used: i64,
}

pub(super) async fn check(client: &Client, plan: &CloudPlan) -> openstack::Result<Vec<Finding>> {
    let sum = |f: &dyn Fn(&super::VmNeeds) -> u64| plan.vms.iter().map(f).sum::<u64>();
    let mut needs = Vec::new();
    let mut unreadable = Vec::new();
    // A re-run (a warm cutover after its sync rounds) reuses the volumes an earlier run made.
    let mut new_volumes: Vec<u64> = Vec::new();
    for vm in &plan.vms {
        let existing = if vm.volume_gib.is_empty() {
            0
        } else {
            existing_volumes(client, &vm.name).await?
        };
        new_volumes.extend(vm.volume_gib.iter().skip(existing).copied());
    }
    let volumes = new_volumes.len() as u64;
    if volumes > 0 {
        match readable(cinder_limits::get(client).await)? {
            Ok(limits) => needs.extend([
                Need {
                    id: "openstack.quota.volumes",
                    what: "volumes",
                    needed: volumes,
                    limit: limits.max_total_volumes,
                    used: limits.total_volumes_used,
                },
                Need {
                    id: "openstack.quota.gigabytes",
                    what: "GiB of volumes",
                    needed: new_volumes.iter().copied().sum(),
                    limit: limits.max_total_volume_gigabytes,
                    used: limits.total_gigabytes_used,
                },
            ]),
            Err(why) => unreadable.push(format!("Cinder limits: {why}")),
        }
    }
    if plan.servers {
        match readable(nova_limits::get(client).await)? {
            Ok(limits) => needs.extend([
                Need {
                    id: "openstack.quota.instances",
                    what: "instances",
                    needed: plan.vms.len() as u64,
                    limit: limits.max_total_instances,
                    used: limits.total_instances_used,
                },
                Need {
                    id: "openstack.quota.cores",
                    what: "cores",
                    needed: sum(&|vm| vm.cores),
                    limit: limits.max_total_cores,
                    used: limits.total_cores_used,
                },
                Need {
                    id: "openstack.quota.ram",
                    what: "MiB of RAM",
                    needed: sum(&|vm| vm.ram_mib),
                    limit: limits.max_total_ram_size,
                    used: limits.total_ram_used,
                },
            ]),
            Err(why) => unreadable.push(format!("Nova limits: {why}")),
        }
        let ports = sum(&|vm| vm.ports.len() as u64);
        if ports > 0 {
            let project = client.project_id().await?;
            match readable(quotas::details(client, &project).await)? {
                Ok(details) => {
                    if let Some(port) = details.get("port") {
                        needs.push(Need {
                            id: "openstack.quota.ports",
                            what: "ports",
                            needed: ports,
                            limit: port.limit,
                            used: port.used + port.reserved,
                        });
                    }
                }
                Err(why) => unreadable.push(format!("Neutron quotas: {why}")),
            }
        }
    }
    let mut findings = Vec::new();
    for need in needs.iter().filter(|n| n.limit >= 0) {
        let free = (need.limit - need.used).max(0) as u64;
        if need.needed > free {
            findings.extend(every_vm(
                plan,
                need.id,
                Severity::Critical,
                "quota",
                format!(
                    "the plan needs {} {} but the project has {free} left (quota {}, in use {}); \
                     raise the project's quota, free some, or migrate fewer VMs at once (vms_list)",
                    need.needed, need.what, need.limit, need.used
                ),
            ));
        }
    }
    if !unreadable.is_empty() {
        findings.extend(every_vm(
            plan,
            "openstack.quota.unreadable",
            Severity::Information,
            "quota",
            format!("quotas not checked: {}", unreadable.join("; ")),
        ));
    }
    Ok(findings)
}

/// How many volumes an earlier run made for this VM (they carry its name in their metadata).
async fn existing_volumes(client: &Client, vm: &str) -> openstack::Result<usize> {
    let opts = volumes::ListOpts {
        metadata: [("vmware_vm".to_owned(), vm.to_owned())].into(),
        ..Default::default()
    };
    Ok(volumes::list(client, &opts).await?.len())
}

/// A limit the user may not read (403) is not checked, and said so; other errors are errors.
fn readable<T>(result: openstack::Result<T>) -> openstack::Result<Result<T, String>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(openstack::Error::Api(api)) if api.status == 403 => Ok(Err(api.to_string())),
        Err(e) => Err(e),
    }
}
