//! `nics.json` (networks mapped through `network_map`) and `macs.json` (every NIC to one
//! network), with the original's mapping rule: a NIC is looked up by its distributed portgroup
//! key, else by its `summary` (the standard portgroup's name); a value is
//! `"<neutron network name or id>[,<subnet uuid>]"`; NICs without a mapping are dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::guest_info::{GuestInfo, HwEth, null_as_empty};

/// One entry of `nics.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortNic {
    /// The Neutron network (name or id) the NIC's port goes on.
    pub vlan: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    pub mac: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ipaddresses: Vec<String>,
}

/// One entry of `macs.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappedNic {
    pub mac: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ipaddresses: Vec<String>,
    /// `export_metadata_subnet_uuid` (`""` when unset).
    #[serde(default)]
    pub subnet: String,
}

/// Where a mapped network goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkTarget {
    pub network: String,
    pub subnet: Option<String>,
}

impl NetworkTarget {
    /// `"net"` or `"net,subnet-uuid"`.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let (network, subnet) = match value.split_once(',') {
            Some((network, subnet)) => (network.trim(), Some(subnet.trim())),
            None => (value.trim(), None),
        };
        if network.is_empty() {
            return Err(Error::Invalid(format!(
                "network_map value {value:?} names no network; write \"<network>[,<subnet uuid>]\""
            )));
        }
        Ok(Self {
            network: network.to_owned(),
            subnet: subnet.filter(|s| !s.is_empty()).map(str::to_owned),
        })
    }
}

/// `network_map`: vSphere portgroup key or name → Neutron network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkMap {
    entries: BTreeMap<String, NetworkTarget>,
}

impl NetworkMap {
    pub fn new(map: &BTreeMap<String, String>) -> Result<Self, Error> {
        let entries = map
            .iter()
            .map(|(key, value)| Ok((key.clone(), NetworkTarget::parse(value)?)))
            .collect::<Result<_, Error>>()?;
        Ok(Self { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The target of a NIC: by portgroup key, then by summary (the original's order), then by
    /// the portgroup's name (so a distributed portgroup can be mapped by name too).
    pub fn target_of(&self, nic: &HwEth, portgroup_name: Option<&str>) -> Option<&NetworkTarget> {
        let key = nic.portgroup_key.as_deref().filter(|k| !k.is_empty());
        [key, Some(nic.summary.as_str()), portgroup_name]
            .into_iter()
            .flatten()
            .find_map(|k| self.entries.get(k))
    }

    /// `nics.json`: the mapped NICs of a VM in order. Fails, as the original does, when none is
    /// mapped.
    pub fn port_nics(&self, info: &GuestInfo) -> Result<Vec<PortNic>, Error> {
        let names = portgroup_names(info);
        let nics = &info.interfaces;
        let mapped: Vec<PortNic> = nics
            .iter()
            .zip(&names)
            .filter_map(|(nic, name)| {
                self.target_of(nic, name.as_deref()).map(|target| PortNic {
                    vlan: target.network.clone(),
                    subnet: target.subnet.clone(),
                    mac: nic.macaddress.clone(),
                    ipaddresses: nic.ipaddresses.clone(),
                })
            })
            .collect();
        if mapped.is_empty() && !nics.is_empty() {
            let keys: Vec<String> = nics
                .iter()
                .zip(&names)
                .map(|(nic, name)| match name {
                    Some(name) if name != nic.network_key() => {
                        format!("{} ({name})", nic.network_key())
                    }
                    _ => nic.network_key().to_owned(),
                })
                .collect();
            return Err(Error::Invalid(format!(
                "no NIC of VM {} is in network_map (its networks: {}); add them to network_map",
                info.hw_name,
                keys.join(", ")
            )));
        }
        Ok(mapped)
    }
}

/// The portgroup name of each `hw_ethN`, from the `vmkit` key when there is one.
pub fn portgroup_names(info: &GuestInfo) -> Vec<Option<String>> {
    (0..info.interfaces.len())
        .map(|i| {
            info.vmkit
                .as_ref()
                .and_then(|v| v.nics.get(i))
                .and_then(|n| n.network.name.clone())
        })
        .collect()
}

/// `macs.json`: every NIC, for one network chosen later (`openstack_private_network`).
pub fn unmapped_nics(nics: &[HwEth], subnet_uuid: &str) -> Vec<UnmappedNic> {
    nics.iter()
        .map(|nic| UnmappedNic {
            mac: nic.macaddress.clone(),
            ipaddresses: nic.ipaddresses.clone(),
            subnet: subnet_uuid.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(mac: &str, summary: &str, key: Option<&str>) -> HwEth {
        HwEth {
            macaddress: mac.into(),
            summary: summary.into(),
            portgroup_key: key.map(str::to_owned),
            ipaddresses: vec!["10.0.0.5".into()],
            ..HwEth::default()
        }
    }

    fn info(name: &str, nics: &[HwEth]) -> GuestInfo {
        let mut info: GuestInfo =
            serde_json::from_value(serde_json::json!({"hw_name": name})).unwrap();
        info.interfaces = nics.to_vec();
        info
    }

    fn map(pairs: &[(&str, &str)]) -> NetworkMap {
        NetworkMap::new(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn maps_by_portgroup_key_then_summary_and_drops_the_rest() {
        let nics = [
            nic("00:50:56:00:00:01", "VM Network", None),
            nic(
                "00:50:56:00:00:02",
                "DVSwitch: 50 1a",
                Some("dvportgroup-9"),
            ),
            nic("00:50:56:00:00:03", "Backup", None),
        ];
        let map = map(&[
            ("VM Network", "private"),
            ("dvportgroup-9", "prod, 1234-abcd"),
        ]);
        let ports = map.port_nics(&info("web01", &nics)).unwrap();
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[0].vlan, "private");
        assert_eq!(ports[0].subnet, None);
        assert_eq!(ports[1].vlan, "prod");
        assert_eq!(ports[1].subnet.as_deref(), Some("1234-abcd"));
        let json = serde_json::to_value(&ports).unwrap();
        assert!(json[0].get("subnet").is_none());
    }

    #[test]
    fn fails_when_no_nic_is_mapped() {
        let error = map(&[("other", "x")])
            .port_nics(&info("web01", &[nic("m", "VM Network", None)]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("VM Network"), "{error}");
    }

    #[test]
    fn refuses_an_empty_network() {
        assert!(NetworkTarget::parse(",subnet").is_err());
    }

    #[test]
    fn unmapped_nics_carry_the_subnet() {
        let macs = unmapped_nics(&[nic("00:50:56:00:00:01", "VM Network", None)], "sub-1");
        assert_eq!(macs[0].subnet, "sub-1");
        assert_eq!(macs[0].ipaddresses, ["10.0.0.5"]);
    }
}
