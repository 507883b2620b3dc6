//! Every target network (and subnet) of the plan exists and is visible to the project.

use std::collections::BTreeMap;

use openstack::Client;
use openstack::neutron::{networks, subnets};
use validation::{Finding, Severity};

use super::{CloudPlan, Lookup, finding, lookup};

pub(super) async fn check(client: &Client, plan: &CloudPlan) -> openstack::Result<Vec<Finding>> {
    let mut found_networks: BTreeMap<&str, Lookup<networks::Network>> = BTreeMap::new();
    let mut findings = Vec::new();
    for vm in &plan.vms {
        for port in &vm.ports {
            if !found_networks.contains_key(port.network.as_str()) {
                let result = lookup(networks::find(client, &port.network).await)?;
                found_networks.insert(&port.network, result);
            }
            let network = match &found_networks[port.network.as_str()] {
                Lookup::Found(network) => network,
                Lookup::Missing(why) => {
                    findings.push(finding(
                        "openstack.network.missing",
                        Severity::Critical,
                        &vm.name,
                        &port.nic,
                        format!(
                            "{why}: the project sees no such Neutron network, so this NIC's port cannot be \
                             made; fix {} (a network name or id of the destination project, or a shared one)",
                            port.variable
                        ),
                    ));
                    continue;
                }
            };
            let Some(subnet) = &port.subnet else {
                continue;
            };
            let why = match lookup(subnets::find(client, subnet, Some(&network.id)).await)? {
                Lookup::Found(found) if found.network_id == network.id => continue,
                Lookup::Found(found) => format!(
                    "subnet {subnet:?} is on network {}, not on",
                    found.network_id
                ),
                Lookup::Missing(why) => format!("{why} on"),
            };
            findings.push(finding(
                "openstack.subnet.missing",
                Severity::Critical,
                &vm.name,
                &port.nic,
                format!(
                    "{why} network {} ({}): fix the subnet after the comma in {} \
                     (\"<network>,<subnet name or id>\"), or drop it",
                    network.name, network.id, port.variable
                ),
            ));
        }
    }
    Ok(findings)
}
