//! `guest_info.json`: the fields of `vmware.vmware.guest_info`'s `guests[0]` that the original's
//! roles read (and a few more of the same module, same names), plus [`VmkitInfo`] under `vmkit`.
//!
//! The NICs are the dynamic keys `hw_eth0`, `hw_eth1`, … as in the original; [`GuestInfo`]
//! holds them as an ordered list and writes them back under those keys.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::vmkit::VmkitInfo;

/// One `hw_ethN` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HwEth {
    /// `manual`, `generated` or `assigned`.
    #[serde(default)]
    pub addresstype: Option<String>,
    /// `Network adapter 1`.
    #[serde(default)]
    pub label: String,
    /// `00:50:56:01:00:01`, lower case.
    #[serde(default)]
    pub macaddress: String,
    #[serde(default)]
    pub macaddress_dash: String,
    /// Every guest address of the NIC (IPv4 and IPv6), as VMware Tools report them.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ipaddresses: Vec<String>,
    /// The standard portgroup's name, or `DVSwitch: <uuid>` for a distributed one.
    #[serde(default)]
    pub summary: String,
    /// The distributed portgroup key (`dvportgroup-42`); `None` on a standard portgroup.
    #[serde(default)]
    pub portgroup_key: Option<String>,
    #[serde(default)]
    pub portgroup_portkey: Option<String>,
}

impl HwEth {
    /// The IPv4 addresses only (what the original passes as a port's `fixed_ips`).
    pub fn ipv4_addresses(&self) -> impl Iterator<Item = &str> {
        self.ipaddresses
            .iter()
            .map(String::as_str)
            .filter(|a| !a.contains(':'))
    }

    /// The key `network_map` is looked up with: the portgroup key, else the summary.
    pub fn network_key(&self) -> &str {
        match self.portgroup_key.as_deref() {
            Some(key) if !key.is_empty() => key,
            _ => &self.summary,
        }
    }
}

/// `guest_info.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGuestInfo", into = "RawGuestInfo")]
pub struct GuestInfo {
    pub hw_name: String,
    /// `poweredOn`, `poweredOff`, `suspended`.
    pub hw_power_status: String,
    pub hw_guest_full_name: Option<String>,
    /// `config.guestId`, e.g. `rhel8_64Guest`.
    pub hw_guest_id: Option<String>,
    /// The BIOS (SMBIOS) UUID.
    pub hw_product_uuid: Option<String>,
    pub instance_uuid: Option<String>,
    /// Virtual CPUs in all.
    pub hw_processor_count: u32,
    pub hw_cores_per_socket: u32,
    pub hw_memtotal_mb: u64,
    /// `/DC-Lab/vm/Production/Linux`.
    pub hw_folder: String,
    pub hw_esxi_host: Option<String>,
    pub hw_cluster: Option<String>,
    pub hw_datastores: Vec<String>,
    pub hw_files: Vec<String>,
    pub hw_is_template: bool,
    pub guest_tools_status: Option<String>,
    pub guest_consolidation_needed: bool,
    /// The primary IPv4 and first IPv6 address the tools report.
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    /// The managed object id, `vm-42`.
    pub moid: String,
    /// `hw_eth0`, `hw_eth1`, … in order.
    pub interfaces: Vec<HwEth>,
    /// Everything the original format has no field for. `None` when read from an original file.
    pub vmkit: Option<VmkitInfo>,
    /// Keys this crate does not know (kept, so a file from `vmware.vmware.guest_info` survives a
    /// read and write unchanged).
    pub other: Map<String, Value>,
}

impl GuestInfo {
    /// The `hw_interfaces` list: `["eth0", "eth1", …]`.
    pub fn interface_names(&self) -> Vec<String> {
        (0..self.interfaces.len())
            .map(|i| format!("eth{i}"))
            .collect()
    }

    pub fn vcpus(&self) -> u32 {
        self.hw_processor_count
    }

    pub fn memory_mib(&self) -> u64 {
        self.hw_memtotal_mb
    }
}

#[derive(Serialize, Deserialize)]
struct RawGuestInfo {
    hw_name: String,
    #[serde(default)]
    hw_power_status: String,
    #[serde(default)]
    hw_guest_full_name: Option<String>,
    #[serde(default)]
    hw_guest_id: Option<String>,
    #[serde(default)]
    hw_product_uuid: Option<String>,
    #[serde(default)]
    instance_uuid: Option<String>,
    #[serde(default)]
    hw_processor_count: u32,
    #[serde(default)]
    hw_cores_per_socket: u32,
    #[serde(default)]
    hw_memtotal_mb: u64,
    #[serde(default)]
    hw_folder: String,
    #[serde(default)]
    hw_esxi_host: Option<String>,
    #[serde(default)]
    hw_cluster: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    hw_datastores: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    hw_files: Vec<String>,
    #[serde(default)]
    hw_interfaces: Vec<String>,
    #[serde(default)]
    hw_is_template: bool,
    #[serde(default)]
    guest_tools_status: Option<String>,
    #[serde(default)]
    guest_consolidation_needed: bool,
    #[serde(default)]
    ipv4: Option<String>,
    #[serde(default)]
    ipv6: Option<String>,
    #[serde(default)]
    moid: String,
    /// Written through `rest` instead, so that it comes after the `hw_ethN` keys.
    #[serde(default, skip_serializing)]
    vmkit: Option<VmkitInfo>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

fn eth_index(key: &str) -> Option<usize> {
    key.strip_prefix("hw_eth")?.parse().ok()
}

impl TryFrom<RawGuestInfo> for GuestInfo {
    type Error = serde_json::Error;

    fn try_from(raw: RawGuestInfo) -> Result<Self, Self::Error> {
        let mut other = Map::new();
        let mut numbered = Vec::new();
        for (key, value) in raw.rest {
            match eth_index(&key) {
                Some(index) => numbered.push((index, serde_json::from_value::<HwEth>(value)?)),
                None => {
                    other.insert(key, value);
                }
            }
        }
        numbered.sort_by_key(|(index, _)| *index);
        if let Some(gap) = numbered.iter().enumerate().find(|(i, (n, _))| i != n) {
            return Err(serde::de::Error::custom(format!(
                "hw_eth{} is missing (hw_ethN keys must count up from 0)",
                gap.0
            )));
        }
        Ok(Self {
            hw_name: raw.hw_name,
            hw_power_status: raw.hw_power_status,
            hw_guest_full_name: raw.hw_guest_full_name,
            hw_guest_id: raw.hw_guest_id,
            hw_product_uuid: raw.hw_product_uuid,
            instance_uuid: raw.instance_uuid,
            hw_processor_count: raw.hw_processor_count,
            hw_cores_per_socket: raw.hw_cores_per_socket,
            hw_memtotal_mb: raw.hw_memtotal_mb,
            hw_folder: raw.hw_folder,
            hw_esxi_host: raw.hw_esxi_host,
            hw_cluster: raw.hw_cluster,
            hw_datastores: raw.hw_datastores,
            hw_files: raw.hw_files,
            hw_is_template: raw.hw_is_template,
            guest_tools_status: raw.guest_tools_status,
            guest_consolidation_needed: raw.guest_consolidation_needed,
            ipv4: raw.ipv4,
            ipv6: raw.ipv6,
            moid: raw.moid,
            interfaces: numbered.into_iter().map(|(_, eth)| eth).collect(),
            vmkit: raw.vmkit,
            other,
        })
    }
}

impl From<GuestInfo> for RawGuestInfo {
    fn from(info: GuestInfo) -> Self {
        let hw_interfaces = info.interface_names();
        let mut rest = info.other;
        for (index, eth) in info.interfaces.into_iter().enumerate() {
            // HwEth and VmkitInfo hold only strings, numbers and lists: they always serialize.
            if let Ok(value) = serde_json::to_value(eth) {
                rest.insert(format!("hw_eth{index}"), value);
            }
        }
        if let Some(Ok(value)) = info.vmkit.as_ref().map(serde_json::to_value) {
            rest.insert("vmkit".to_owned(), value);
        }
        Self {
            hw_name: info.hw_name,
            hw_power_status: info.hw_power_status,
            hw_guest_full_name: info.hw_guest_full_name,
            hw_guest_id: info.hw_guest_id,
            hw_product_uuid: info.hw_product_uuid,
            instance_uuid: info.instance_uuid,
            hw_processor_count: info.hw_processor_count,
            hw_cores_per_socket: info.hw_cores_per_socket,
            hw_memtotal_mb: info.hw_memtotal_mb,
            hw_folder: info.hw_folder,
            hw_esxi_host: info.hw_esxi_host,
            hw_cluster: info.hw_cluster,
            hw_datastores: info.hw_datastores,
            hw_files: info.hw_files,
            hw_interfaces,
            hw_is_template: info.hw_is_template,
            guest_tools_status: info.guest_tools_status,
            guest_consolidation_needed: info.guest_consolidation_needed,
            ipv4: info.ipv4,
            ipv6: info.ipv6,
            moid: info.moid,
            vmkit: None,
            rest,
        }
    }
}

pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like a real `vmware.vmware.guest_info` answer (trimmed), with a key this crate
    /// does not model.
    const ORIGINAL: &str = r#"{
        "hw_name": "web01", "hw_power_status": "poweredOn",
        "hw_guest_full_name": "Red Hat Enterprise Linux 9 (64-bit)", "hw_guest_id": "rhel9_64Guest",
        "hw_processor_count": 4, "hw_memtotal_mb": 8192, "hw_folder": "/DC1/vm/Linux",
        "moid": "vm-1234", "hw_interfaces": ["eth0", "eth1"], "annotation": "owner: ops",
        "hw_eth1": {"addresstype": "assigned", "label": "Network adapter 2", "macaddress": "00:50:56:aa:00:02",
                    "macaddress_dash": "00-50-56-aa-00-02", "ipaddresses": null, "summary": "DVSwitch: 50 2a",
                    "portgroup_key": "dvportgroup-20", "portgroup_portkey": "12"},
        "hw_eth0": {"addresstype": "assigned", "label": "Network adapter 1", "macaddress": "00:50:56:aa:00:01",
                    "macaddress_dash": "00-50-56-aa-00-01", "ipaddresses": ["10.0.0.5", "fe80::1"],
                    "summary": "VM Network", "portgroup_key": null, "portgroup_portkey": null}
    }"#;

    #[test]
    fn reads_the_original_format() {
        let info: GuestInfo = serde_json::from_str(ORIGINAL).unwrap();
        assert_eq!(info.vcpus(), 4);
        assert_eq!(info.memory_mib(), 8192);
        assert_eq!(info.interfaces.len(), 2);
        assert_eq!(info.interfaces[0].network_key(), "VM Network");
        assert_eq!(info.interfaces[1].network_key(), "dvportgroup-20");
        assert!(info.interfaces[1].ipaddresses.is_empty());
        assert_eq!(
            info.interfaces[0].ipv4_addresses().collect::<Vec<_>>(),
            ["10.0.0.5"]
        );
        assert_eq!(info.other["annotation"], "owner: ops");
        assert!(info.vmkit.is_none());
    }

    #[test]
    fn writes_numbered_nics_and_keeps_unknown_keys() {
        let info: GuestInfo = serde_json::from_str(ORIGINAL).unwrap();
        let value = serde_json::to_value(&info).unwrap();
        assert_eq!(value["hw_eth1"]["portgroup_key"], "dvportgroup-20");
        assert_eq!(value["hw_interfaces"], serde_json::json!(["eth0", "eth1"]));
        assert_eq!(value["annotation"], "owner: ops");
        assert!(value.get("vmkit").is_none());
        let again: GuestInfo = serde_json::from_value(value).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn refuses_a_gap_in_the_nic_numbers() {
        let error = serde_json::from_str::<GuestInfo>(r#"{"hw_name": "x", "hw_eth1": {}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("hw_eth0 is missing"), "{error}");
    }
}
