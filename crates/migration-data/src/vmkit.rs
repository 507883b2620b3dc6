//! The `vmkit` key of `guest_info.json`: what a migration needs that the original format does
//! not carry (firmware, CPU topology, controllers, disks with placement and mode, NICs with
//! adapter type and IPv6, the inventory chain, problem devices), so that flavor matching,
//! ports, volume image metadata and validation all read one file.

use serde::{Deserialize, Serialize};

use crate::guest_info::null_as_empty;

/// Bumped when a field changes meaning; readers refuse newer major versions.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmkitInfo {
    pub schema_version: u32,
    /// `vm-42`.
    pub moref: String,
    pub bios_uuid: Option<String>,
    pub instance_uuid: Option<String>,
    /// `bios` or `efi`.
    pub firmware: String,
    pub secure_boot: bool,
    pub cpu: CpuTopology,
    pub memory_mib: u64,
    /// `poweredOn`, `poweredOff`, `suspended`.
    pub power_state: String,
    pub template: bool,
    pub guest: Guest,
    pub tools: Tools,
    pub change_tracking_enabled: bool,
    pub consolidation_needed: bool,
    /// `[datastore1] web01/web01.vmx`.
    pub vm_path_name: Option<String>,
    pub location: Location,
    /// Every snapshot, depth first (a parent before its children).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub snapshots: Vec<Snapshot>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub controllers: Vec<Controller>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub disks: Vec<Disk>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub nics: Vec<Nic>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub pci_passthrough: Vec<PassthroughDevice>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub usb_devices: Vec<PassthroughDevice>,
    pub tpm: bool,
}

impl VmkitInfo {
    /// The sum of the disks' capacities, for flavor matching.
    pub fn total_disk_bytes(&self) -> u64 {
        self.disks
            .iter()
            .map(|d| d.capacity_bytes.max(0) as u64)
            .sum()
    }

    /// The boot disk as the original chooses it: the first disk.
    pub fn boot_disk(&self) -> Option<&Disk> {
        self.disks.first()
    }

    pub fn is_efi(&self) -> bool {
        self.firmware == "efi"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTopology {
    /// Virtual CPUs in all (`sockets × cores_per_socket`).
    pub count: u32,
    pub sockets: u32,
    pub cores_per_socket: u32,
}

/// The guest operating system, from the VM's configuration and from the tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    /// `config.guestId` (`rhel8_64Guest`).
    pub id: Option<String>,
    pub full_name: Option<String>,
    /// `linux`, `windows` or `other`: from the guest id.
    pub family: String,
    /// What running tools report (may differ from the configured guest id).
    pub tools_guest_id: Option<String>,
    pub tools_guest_full_name: Option<String>,
    pub hostname: Option<String>,
    /// `guest.ipAddress`.
    pub primary_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tools {
    /// `toolsOk`, `toolsOld`, `toolsNotRunning`, `toolsNotInstalled`.
    pub status: Option<String>,
    /// `guestToolsRunning`, `guestToolsNotRunning`, …
    pub running_status: Option<String>,
}

impl Tools {
    pub fn running(&self) -> bool {
        self.running_status.as_deref() == Some("guestToolsRunning")
    }
}

/// A managed object with its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub moref: String,
    pub name: String,
}

/// The inventory chain above the VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Location {
    pub datacenter: Option<Named>,
    /// `DC-Lab` (as `dcPath=` wants it).
    pub datacenter_path: Option<String>,
    pub folder: Option<Named>,
    /// `/DC-Lab/vm/Production/Linux`.
    pub folder_path: Option<String>,
    pub cluster: Option<Named>,
    pub compute_resource: Option<Named>,
    pub host: Option<Named>,
    pub resource_pool: Option<Named>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub moref: String,
    pub name: String,
    pub description: String,
    /// The parent snapshot's moref; `None` for a root.
    pub parent: Option<String>,
    pub create_time: Option<String>,
    pub quiesced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    pub key: i32,
    pub label: String,
    /// `pvscsi`, `lsilogic`, `lsilogic-sas`, `buslogic`, `ide`, `sata`, `nvme`, `usb`, `usb-xhci`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub bus_number: Option<i32>,
    /// SCSI bus sharing: `noSharing`, `virtualSharing`, `physicalSharing`.
    pub shared_bus: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub key: i32,
    pub label: String,
    /// Bytes; `capacityInKB × 1024` when the server does not give bytes.
    pub capacity_bytes: i64,
    /// `[datastore1] web01/web01.vmdk`.
    pub file_name: Option<String>,
    pub datastore: Option<DatastoreRef>,
    pub controller: Option<DiskController>,
    pub unit_number: Option<i32>,
    /// `persistent`, `independent_persistent`, …
    pub mode: Option<String>,
    pub independent: bool,
    /// `sharingNone` or `sharingMultiWriter`.
    pub sharing: Option<String>,
    pub shared: bool,
    /// `flat`, `rdm`, `sparse` or `other`.
    pub backing: String,
    /// The backing's vSphere type name when it is not a flat VMDK.
    pub backing_type: Option<String>,
    pub thin_provisioned: Option<bool>,
    pub rdm: Option<Rdm>,
    pub change_id: Option<String>,
    pub uuid: Option<String>,
    /// The disk's `scsiX:Y.ctkEnabled` (changed block tracking) in the VM's extraConfig; absent
    /// when the VM's configuration does not say (exports before this field, CBT never enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_tracking_enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastoreRef {
    pub moref: Option<String>,
    pub name: Option<String>,
    /// vSphere's `summary.type` of the datastore (`VMFS`, `NFS`, `vsan`, `VVOL`, …); absent in
    /// exports before this field.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl DatastoreRef {
    /// vSAN and VVol datastores hold a disk as objects, not as a `-flat.vmdk` file.
    pub fn holds_objects_not_files(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("vsan") || k.eq_ignore_ascii_case("vvol"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskController {
    pub key: i32,
    /// As [`Controller::kind`].
    #[serde(rename = "type")]
    pub kind: String,
    pub bus_number: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rdm {
    /// `physicalMode` or `virtualMode`.
    pub compatibility_mode: Option<String>,
    pub lun_uuid: Option<String>,
    pub device_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub key: i32,
    pub label: String,
    /// `vmxnet3`, `e1000`, `e1000e`, `sriov`, …
    pub adapter: String,
    pub mac_address: Option<String>,
    pub address_type: Option<String>,
    pub network: NicNetwork,
    pub connected: Option<bool>,
    pub start_connected: Option<bool>,
    /// What the tools report for this NIC, IPv4 and IPv6, with prefixes when known.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ip_addresses: Vec<GuestIp>,
}

/// What a NIC is plugged into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicNetwork {
    /// `standard`, `distributed`, `opaque` or `none`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The portgroup's name (standard, or distributed when the inventory named it).
    pub name: Option<String>,
    pub moref: Option<String>,
    pub portgroup_key: Option<String>,
    pub port_key: Option<String>,
    pub switch_uuid: Option<String>,
    pub opaque_network_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestIp {
    pub address: String,
    pub prefix_length: Option<u8>,
}

impl GuestIp {
    pub fn is_ipv6(&self) -> bool {
        self.address.contains(':')
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassthroughDevice {
    pub key: i32,
    pub label: String,
    pub backing_type: Option<String>,
    pub device_name: Option<String>,
}

/// `linux`, `windows` or `other` from a vSphere guest id (`rhel8_64Guest`, `windows2019srv_64Guest`).
pub fn guest_family(guest_id: &str) -> &'static str {
    const LINUX_PREFIXES: &[&str] = &[
        "rhel", "centos", "rocky", "alma", "oracle", "ubuntu", "debian", "sles", "suse",
        "opensuse", "fedora", "amazon", "coreos", "photon", "asianux", "mandr", "turbo", "redhat",
    ];
    let id = guest_id.to_ascii_lowercase();
    if id.starts_with("win") {
        "windows"
    } else if id.contains("linux") || LINUX_PREFIXES.iter().any(|p| id.starts_with(p)) {
        "linux"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_guest_ids() {
        assert_eq!(guest_family("rhel8_64Guest"), "linux");
        assert_eq!(guest_family("ubuntu64Guest"), "linux");
        assert_eq!(guest_family("other5xLinux64Guest"), "linux");
        assert_eq!(guest_family("windows2019srv_64Guest"), "windows");
        assert_eq!(guest_family("solaris11_64Guest"), "other");
        assert_eq!(guest_family("otherGuest64"), "other");
    }
}
