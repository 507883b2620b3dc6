//! `disk_info.json`: `{"disks": [<vSphere REST disk>…], "disk_keys": ["2000", …]}`, as the
//! original wrote it from `vmware.vmware_rest.vcenter_vm_hardware_disk_info`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::guest_info::null_as_empty;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub disks: Vec<RestDisk>,
    /// The device keys of `disks`, as strings, same order.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub disk_keys: Vec<String>,
}

impl DiskInfo {
    pub fn new(disks: Vec<RestDisk>) -> Self {
        let disk_keys = disks.iter().map(|d| d.disk.clone()).collect();
        Self { disks, disk_keys }
    }

    /// The sum of the capacities in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.disks.iter().map(|d| d.capacity.max(0) as u64).sum()
    }
}

/// One disk in the shape of the vSphere Automation API (`vcenter/vm/{vm}/hardware/disk/{disk}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestDisk {
    /// The device key as a string (`"2000"`).
    #[serde(default)]
    pub disk: String,
    #[serde(default)]
    pub label: String,
    /// `SCSI`, `SATA`, `IDE` or `NVME`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Bytes.
    #[serde(default)]
    pub capacity: i64,
    pub backing: RestBacking,
    /// `{"bus": 0, "unit": 1}` under `scsi`, `sata` or `nvme`; `{"primary", "master"}` under `ide`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scsi: Option<BusAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sata: Option<BusAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvme: Option<BusAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ide: Option<IdeAddress>,
    /// Keys this crate does not model, kept as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestBacking {
    /// `VMDK_FILE`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `[datastore1] web01/web01.vmdk`.
    #[serde(default)]
    pub vmdk_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusAddress {
    pub bus: i32,
    pub unit: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdeAddress {
    pub primary: bool,
    pub master: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vmware_rest_disk() {
        let info: DiskInfo = serde_json::from_str(
            r#"{"disks": [{"backing": {"type": "VMDK_FILE", "vmdk_file": "[ds1] web01/web01.vmdk"},
                "capacity": 17179869184, "label": "Hard disk 1", "scsi": {"bus": 0, "unit": 0},
                "type": "SCSI", "disk": "2000", "value": null}],
                "disk_keys": ["2000"]}"#,
        )
        .unwrap();
        assert_eq!(info.total_bytes(), 17179869184);
        assert_eq!(info.disks[0].scsi, Some(BusAddress { bus: 0, unit: 0 }));
        assert!(info.disks[0].other.contains_key("value"));
        let back = serde_json::to_value(&info).unwrap();
        assert_eq!(
            back["disks"][0]["backing"]["vmdk_file"],
            "[ds1] web01/web01.vmdk"
        );
        assert!(back["disks"][0].get("ide").is_none());
    }
}
