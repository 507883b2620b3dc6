//! Every volume type and the volumes' availability zone exist in Cinder.

use openstack::Client;
use openstack::cinder::{availability_zones, volume_types};
use validation::{Finding, Severity};

use super::{CloudPlan, Lookup, finding, lookup, vms_of};

pub(super) async fn check(client: &Client, plan: &CloudPlan) -> openstack::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    if !plan.volume_types.is_empty() {
        let known: Vec<String> = volume_types::list(client)
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        for wanted in &plan.volume_types {
            if let Lookup::Missing(why) = lookup(volume_types::find(client, &wanted.value).await)? {
                for vm in vms_of(plan, wanted) {
                    findings.push(finding(
                        "openstack.volume_type.missing",
                        Severity::Critical,
                        vm,
                        &wanted.value,
                        format!(
                            "{why}: Cinder would refuse the volume; fix {} (the project sees: {})",
                            wanted.variable,
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    if let Some(wanted) = &plan.volume_availability_zone {
        let zones = availability_zones::list(client).await?;
        findings.extend(zone_findings(plan, wanted, &zones, "Cinder"));
    }
    Ok(findings)
}

/// A zone that is absent or not available.
pub(super) fn zone_findings(
    plan: &CloudPlan,
    wanted: &super::Wanted,
    zones: &[availability_zones::AvailabilityZone],
    service: &str,
) -> Vec<Finding> {
    let problem = match zones.iter().find(|z| z.zone_name == wanted.value) {
        Some(zone) if zone.zone_state.available => return Vec::new(),
        Some(_) => "is not available",
        None => "does not exist",
    };
    let names: Vec<&str> = zones.iter().map(|z| z.zone_name.as_str()).collect();
    vms_of(plan, wanted)
        .into_iter()
        .map(|vm| {
            finding(
                "openstack.availability_zone.missing",
                Severity::Critical,
                vm,
                &wanted.value,
                format!(
                    "{service} availability zone {:?} {problem} (zones: {}); fix {}",
                    wanted.value,
                    names.join(", "),
                    wanted.variable
                ),
            )
        })
        .collect()
}
