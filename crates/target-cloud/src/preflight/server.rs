//! What the servers are made with: key pair, security groups, flavor, Nova availability zone.

use openstack::Client;
use openstack::neutron::security_groups;
use openstack::nova::{availability_zones, flavors, keypairs};
use validation::{Finding, Severity};

use super::{CloudPlan, Lookup, finding, lookup, vms_of};

pub(super) async fn check(client: &Client, plan: &CloudPlan) -> openstack::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    if !plan.servers {
        return Ok(findings);
    }
    if let Some(wanted) = &plan.key_name
        && let Lookup::Missing(_) = lookup(keypairs::get(client, &wanted.value).await)?
    {
        // The server is then made without it, as the original (which never sent one) did.
        for vm in vms_of(plan, wanted) {
            findings.push(finding(
                "openstack.keypair.missing",
                Severity::Warning,
                vm,
                &wanted.value,
                format!(
                    "the key pair {:?} does not exist for this user, so the server is made without it; \
                     create it (openstack keypair create) or fix {}",
                    wanted.value, wanted.variable
                ),
            ));
        }
    }
    for wanted in &plan.security_groups {
        if let Lookup::Missing(why) = lookup(security_groups::find(client, &wanted.value).await)? {
            for vm in vms_of(plan, wanted) {
                findings.push(finding(
                    "openstack.security_group.missing",
                    Severity::Critical,
                    vm,
                    &wanted.value,
                    format!(
                        "{why}: the ports cannot be made with it; fix {}",
                        wanted.variable
                    ),
                ));
            }
        }
    }
    if let Some(wanted) = &plan.flavor
        && let Lookup::Missing(why) = lookup(flavors::find(client, &wanted.value).await)?
    {
        for vm in vms_of(plan, wanted) {
            findings.push(finding(
                "openstack.flavor.missing",
                Severity::Critical,
                vm,
                &wanted.value,
                format!(
                    "{why}: the server cannot be made; fix {}, or leave it unset to choose or \
                     create a flavor that fits the VM",
                    wanted.variable
                ),
            ));
        }
    }
    if let Some(wanted) = &plan.server_availability_zone {
        let zones = availability_zones::list(client).await?;
        findings.extend(super::storage::zone_findings(plan, wanted, &zones, "Nova"));
    }
    Ok(findings)
}
