//! What the servers are made with: key pair, security groups, flavor, Nova availability zone.

use openstack::Client;
use openstack::neutron::security_groups;
use openstack::nova::{availability_zones, flavors, keypairs};
use validation::{Finding, Severity};

use super::{CloudPlan, Lookup, NewFlavor, finding, lookup, variables, vms_of};
use crate::flavor_match;

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
    if plan.flavor.is_none()
        && let Some(new_flavor) = &plan.new_flavor
    {
        findings.extend(flavor_making(client, plan, new_flavor).await?);
    }
    if let Some(wanted) = &plan.server_availability_zone {
        let zones = availability_zones::list(client).await?;
        findings.extend(super::storage::zone_findings(plan, wanted, &zones, "Nova"));
    }
    Ok(findings)
}

/// VMs that no existing flavor fits (or all, without `use_existing_flavor`) get one made for
/// them, which Nova's default policy (`os_compute_api:os-flavor-manage:create`) allows only to
/// the admin role: without it convert_metadata would fail for them.
async fn flavor_making(
    client: &Client,
    plan: &CloudPlan,
    new_flavor: &NewFlavor,
) -> openstack::Result<Vec<Finding>> {
    let existing = if new_flavor.use_existing {
        flavors::list(client, &flavors::ListOpts::default()).await?
    } else {
        Vec::new()
    };
    let made_for: Vec<(&str, String)> = plan
        .vms
        .iter()
        .filter_map(|vm| {
            let needs = flavor_match::VmNeeds {
                vcpus: u32::try_from(vm.cores).unwrap_or(u32::MAX),
                ram_mib: vm.ram_mib,
                disk_gib: vm.volume_gib.iter().sum(),
            };
            if !new_flavor.use_existing {
                return Some((
                    vm.name.as_str(),
                    format!("{} is false", variables::USE_EXISTING_FLAVOR),
                ));
            }
            match flavor_match::best_match(&existing, &needs, new_flavor.boot_from_volume) {
                Ok(_) => None,
                Err(none_fits) => Some((vm.name.as_str(), none_fits.to_string())),
            }
        })
        .collect();
    if made_for.is_empty() {
        return Ok(Vec::new());
    }
    let (roles, whose) = match &new_flavor.maker_roles {
        Some(roles) => (roles.clone(), variables::FLAVOR_CLOUD),
        None => (client.roles().await?, "dst_cloud"),
    };
    if roles.iter().any(|r| r.eq_ignore_ascii_case("admin")) {
        return Ok(Vec::new());
    }
    let roles = if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.join(", ")
    };
    Ok(made_for
        .into_iter()
        .map(|(vm, why)| {
            finding(
                "openstack.flavor.cannot_create",
                Severity::Critical,
                vm,
                "flavor",
                format!(
                    "a flavor would be made for this VM ({why}), and Nova lets only the admin role \
                     create flavors by default, but the user of {whose} has roles {roles}; set {}, \
                     or set {} to a cloud whose user is an admin, or create a flavor that fits",
                    variables::FLAVOR,
                    variables::FLAVOR_CLOUD
                ),
            )
        })
        .collect())
}
