//! The ports of a VM's NICs: one per NIC, with the VM's MAC, on the mapped network, with the
//! VM's addresses as fixed IPs on the subnet that holds them. A port the migration made before
//! (same MAC, our tag) is reused, so a re-run neither duplicates ports nor trips over its own MACs.

use std::net::IpAddr;

use openstack::Client;
use openstack::neutron::networks::{self, Network};
use openstack::neutron::ports::{self, CreateOpts, FixedIpRequest, Port};
use openstack::neutron::security_groups;
use openstack::neutron::subnets::{self, Subnet};
use tracing::info;

use crate::error::{Error, Result};
use crate::marker;

/// One NIC of the VM, as the data files describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicRequest {
    /// Neutron network name or id.
    pub network: String,
    /// The subnet the data files name for this NIC, if any.
    pub subnet: Option<String>,
    pub mac: String,
    /// The guest's addresses (IPv4 and IPv6) as VMware Tools reported them.
    pub ip_addresses: Vec<String>,
    /// What the port name says after `VLAN-` (the original used the mapped network).
    pub vlan: String,
}

#[derive(Debug, Clone)]
pub struct PortsRequest {
    pub vm_name: String,
    pub nics: Vec<NicRequest>,
    /// Names or ids; empty: the project's default group.
    pub security_groups: Vec<String>,
    /// Give the ports the VM's addresses.
    pub use_fixed_ips: bool,
    /// The subnet to use (for addresses, or for allocation), before the NIC's own.
    pub subnet: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PortOutcome {
    pub name: String,
    pub mac: String,
    pub network_id: String,
    /// None in check mode when the port would be created.
    pub port: Option<Port>,
    pub created: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ports: Vec<PortOutcome>,
    pub warnings: Vec<String>,
}

impl Outcome {
    pub fn changed(&self) -> bool {
        self.ports.iter().any(|p| p.created)
    }
}

/// The port name of the original: `<vm>-NIC-<index>-VLAN-<vlan>`.
pub fn port_name(vm_name: &str, index: usize, vlan: &str) -> String {
    format!("{vm_name}-NIC-{index}-VLAN-{vlan}")
}

pub async fn ensure_ports(
    client: &Client,
    request: &PortsRequest,
    check_mode: bool,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let security_groups = resolve_security_groups(client, &request.security_groups).await?;
    for (index, nic) in request.nics.iter().enumerate() {
        let network = networks::find(client, &nic.network).await.map_err(|e| {
            if e.is_not_found() {
                Error::Invalid(format!(
                    "NIC {index} (MAC {}): network {:?} does not exist or is not visible to this project; fix network_map / network_name",
                    nic.mac, nic.network
                ))
            } else {
                e.into()
            }
        })?;
        let subnets = subnets::list(
            client,
            &subnets::ListOpts {
                network_id: Some(network.id.clone()),
                ..subnets::ListOpts::default()
            },
        )
        .await?;
        let preferred = preferred_subnets(client, request, nic, &network, &subnets).await?;
        let fixed_ips = fixed_ips(
            index,
            nic,
            request.use_fixed_ips,
            &preferred,
            &subnets,
            &mut outcome.warnings,
        );
        let name = port_name(&request.vm_name, index, &nic.vlan);
        let existing = ports::list(
            client,
            &ports::ListOpts {
                mac_address: Some(nic.mac.to_ascii_lowercase()),
                ..ports::ListOpts::default()
            },
        )
        .await?;
        if let Some(port) = existing.into_iter().next() {
            if !port.tags.iter().any(|t| t == marker::TAG) {
                return Err(Error::Foreign(format!(
                    "NIC {index}: MAC {} is already used by port {} ({:?}, network {}) that this migration did not make; delete that port or give the VM's NIC to it by hand",
                    nic.mac, port.id, port.name, port.network_id
                )));
            }
            if port.network_id != network.id {
                return Err(Error::Invalid(format!(
                    "NIC {index}: the port an earlier run made for MAC {} ({}) is on network {}, not on {:?} ({}) where the NIC now maps; delete it (delete_port) to have it made on the new network",
                    nic.mac, port.id, port.network_id, network.name, network.id
                )));
            }
            let missing: Vec<String> = fixed_ips
                .iter()
                .filter_map(|f| f.ip_address.clone())
                .filter(|ip| !port.fixed_ips.iter().any(|have| &have.ip_address == ip))
                .collect();
            if !missing.is_empty() {
                outcome.warnings.push(format!(
                    "port {} for NIC {index} already exists without the address(es) {}; delete the port to have it made again",
                    port.id,
                    missing.join(", ")
                ));
            }
            outcome.ports.push(PortOutcome {
                name,
                mac: port.mac_address.clone(),
                network_id: network.id.clone(),
                port: Some(port),
                created: false,
            });
            continue;
        }
        if check_mode {
            outcome.ports.push(PortOutcome {
                name,
                mac: nic.mac.clone(),
                network_id: network.id.clone(),
                port: None,
                created: true,
            });
            continue;
        }
        let opts = CreateOpts {
            network_id: network.id.clone(),
            name: name.clone(),
            mac_address: Some(nic.mac.to_ascii_lowercase()),
            fixed_ips,
            security_groups: security_groups.clone(),
            description: Some(marker::port_description(&request.vm_name)),
            tags: vec![marker::TAG.to_owned()],
        };
        let port = ports::create(client, &opts).await?;
        info!(port = %port.id, %name, mac = %port.mac_address, "created port");
        outcome.ports.push(PortOutcome {
            name,
            mac: port.mac_address.clone(),
            network_id: network.id.clone(),
            port: Some(port),
            created: true,
        });
    }
    Ok(outcome)
}

async fn resolve_security_groups(client: &Client, names: &[String]) -> Result<Option<Vec<String>>> {
    let names: Vec<&String> = names.iter().filter(|n| !n.trim().is_empty()).collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let group = security_groups::find(client, name.trim()).await.map_err(|e| {
            if e.is_not_found() {
                Error::Invalid(format!(
                    "security group {name:?} does not exist or is not visible to this project; fix security_groups"
                ))
            } else {
                e.into()
            }
        })?;
        ids.push(group.id);
    }
    Ok(Some(ids))
}

/// The subnets named by the request (`subnet_uuid` first, then the NIC's own), each checked to
/// be on the NIC's network.
async fn preferred_subnets(
    client: &Client,
    request: &PortsRequest,
    nic: &NicRequest,
    network: &Network,
    subnets: &[Subnet],
) -> Result<Vec<Subnet>> {
    let mut preferred = Vec::new();
    for (what, name) in [
        ("subnet_uuid", &request.subnet),
        ("the NIC's subnet", &nic.subnet),
    ] {
        let Some(name) = name.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
            continue;
        };
        let subnet = match subnets.iter().find(|s| s.id == name || s.name == name) {
            Some(subnet) => subnet.clone(),
            None => {
                let found = subnets::find(client, name, None).await.map_err(|e| {
                    if e.is_not_found() {
                        Error::Invalid(format!(
                            "{what} {name:?} does not exist or is not visible to this project"
                        ))
                    } else {
                        e.into()
                    }
                })?;
                return Err(Error::Invalid(format!(
                    "{what} {name:?} is on network {}, not on {:?} ({}) where the port for MAC {} goes; give a subnet of that network",
                    found.network_id, network.name, network.id, nic.mac
                )));
            }
        };
        preferred.push(subnet);
    }
    Ok(preferred)
}

/// The fixed IPs to ask for: each usable guest address on the subnet that holds it (a named
/// subnet first); without addresses, an allocation from the named subnet.
fn fixed_ips(
    index: usize,
    nic: &NicRequest,
    use_fixed_ips: bool,
    preferred: &[Subnet],
    subnets: &[Subnet],
    warnings: &mut Vec<String>,
) -> Vec<FixedIpRequest> {
    let mut requests = Vec::new();
    if use_fixed_ips && nic.ip_addresses.is_empty() {
        warnings.push(format!(
            "NIC {index} (MAC {}): the guest reports no IP address to keep; the port gets an address from Neutron",
            nic.mac
        ));
    }
    if use_fixed_ips {
        for text in &nic.ip_addresses {
            let Ok(ip) = text.trim().parse::<IpAddr>() else {
                warnings.push(format!(
                    "NIC {index}: {text:?} is not an IP address; left out"
                ));
                continue;
            };
            if is_link_local(ip) || ip.is_loopback() || ip.is_unspecified() {
                continue;
            }
            let holder = preferred
                .iter()
                .chain(subnets)
                .find(|s| cidr_contains(&s.cidr, ip));
            match holder {
                Some(subnet) => requests.push(FixedIpRequest {
                    subnet_id: Some(subnet.id.clone()),
                    ip_address: Some(ip.to_string()),
                }),
                None => warnings.push(format!(
                    "NIC {index}: address {ip} is in no subnet of network {:?}; the port gets an address from Neutron instead",
                    nic.network
                )),
            }
        }
    }
    if requests.is_empty()
        && let Some(subnet) = preferred.first()
    {
        requests.push(FixedIpRequest {
            subnet_id: Some(subnet.id.clone()),
            ip_address: None,
        });
    }
    requests
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// Whether `ip` is inside `cidr` ("10.0.0.0/24", "fd00::/64").
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let Some((base, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(base), Ok(prefix)) = (base.parse::<IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    match (base, ip) {
        (IpAddr::V4(base), IpAddr::V4(ip)) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(base) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(base), IpAddr::V6(ip)) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(base) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, cidr: &str) -> Subnet {
        serde_json::from_value(serde_json::json!({
            "id": id, "network_id": "net", "cidr": cidr,
            "ip_version": if cidr.contains(':') { 6 } else { 4 },
        }))
        .expect("subnet json")
    }

    fn nic(ips: &[&str]) -> NicRequest {
        NicRequest {
            network: "net".into(),
            subnet: None,
            mac: "00:50:56:aa:bb:cc".into(),
            ip_addresses: ips.iter().map(|s| s.to_string()).collect(),
            vlan: "net".into(),
        }
    }

    #[test]
    fn cidrs_contain_what_they_should() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(cidr_contains("10.20.0.0/24", ip("10.20.0.50")));
        assert!(!cidr_contains("10.20.0.0/24", ip("10.20.1.50")));
        assert!(cidr_contains("0.0.0.0/0", ip("192.0.2.1")));
        assert!(cidr_contains("fd00:20::/64", ip("fd00:20::50")));
        assert!(!cidr_contains("fd00:20::/64", ip("fd00:21::50")));
        assert!(!cidr_contains("fd00:20::/64", ip("10.20.0.50")));
        assert!(!cidr_contains("garbage", ip("10.20.0.50")));
    }

    #[test]
    fn each_address_goes_to_the_subnet_holding_it_and_link_local_is_dropped() {
        let subnets = [subnet("v4", "10.20.0.0/24"), subnet("v6", "fd00:20::/64")];
        let mut warnings = Vec::new();
        let ips = fixed_ips(
            0,
            &nic(&[
                "10.20.0.50",
                "fe80::250:56ff:feaa:bbcc",
                "fd00:20::50",
                "192.0.2.9",
                "x",
            ]),
            true,
            &[],
            &subnets,
            &mut warnings,
        );
        assert_eq!(
            ips,
            vec![
                FixedIpRequest {
                    subnet_id: Some("v4".into()),
                    ip_address: Some("10.20.0.50".into())
                },
                FixedIpRequest {
                    subnet_id: Some("v6".into()),
                    ip_address: Some("fd00:20::50".into())
                },
            ]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("192.0.2.9"));
    }

    #[test]
    fn a_named_subnet_wins_over_an_overlapping_one_and_allocates_without_addresses() {
        let wide = subnet("wide", "10.0.0.0/8");
        let named = subnet("named", "10.20.0.0/24");
        let mut warnings = Vec::new();
        let ips = fixed_ips(
            0,
            &nic(&["10.20.0.50"]),
            true,
            std::slice::from_ref(&named),
            &[wide.clone(), named.clone()],
            &mut warnings,
        );
        assert_eq!(ips[0].subnet_id.as_deref(), Some("named"));
        let ips = fixed_ips(
            0,
            &nic(&["10.20.0.50"]),
            false,
            std::slice::from_ref(&named),
            &[wide, named.clone()],
            &mut warnings,
        );
        assert_eq!(
            ips,
            vec![FixedIpRequest {
                subnet_id: Some("named".into()),
                ip_address: None
            }]
        );
        let ips = fixed_ips(0, &nic(&[]), false, &[], &[], &mut warnings);
        assert!(ips.is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn fixed_ips_of_a_guest_without_addresses_come_from_neutron_with_a_warning() {
        let named = subnet("named", "10.20.0.0/24");
        let mut warnings = Vec::new();
        let ips = fixed_ips(
            1,
            &nic(&[]),
            true,
            std::slice::from_ref(&named),
            std::slice::from_ref(&named),
            &mut warnings,
        );
        assert_eq!(
            ips,
            vec![FixedIpRequest {
                subnet_id: Some("named".into()),
                ip_address: None
            }]
        );
        assert!(fixed_ips(1, &nic(&[]), true, &[], &[], &mut warnings).is_empty());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("NIC 1") && warnings[0].contains("from Neutron"),
            "{warnings:?}"
        );
    }

    #[test]
    fn port_names_follow_the_original() {
        assert_eq!(
            port_name("web01", 1, "prod-net"),
            "web01-NIC-1-VLAN-prod-net"
        );
    }
}
