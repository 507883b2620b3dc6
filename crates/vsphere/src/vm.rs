//! Virtual machines: the typed model, read with explicit property paths in one round trip,
//! for one VM or for every VM of the inventory.

use crate::device::{
    Controller, DatastoreRef, Device, Disk, Nic, NicNetwork, PciPassthrough, UsbDevice,
    decode_devices,
};
use crate::error::Error;
use crate::extra_config::DiskTracking;
use crate::inventory::{self, Inventory, NamedRef};
use crate::moref::MoRef;
use crate::property_collector::{self, FilterSpec, ObjectContent, ObjectSpec, PropertySpec};
use crate::session::Client;
use crate::snapshot::{SnapshotTree, decode_snapshot_info};
use crate::xml::Element;

/// Every VM property the model reads. Explicit paths only: "all properties" is slow on
/// vCenter and returns fields this model does not know.
pub const VM_PROPERTIES: &[&str] = &[
    "name",
    "parent",
    "resourcePool",
    "runtime.host",
    "runtime.powerState",
    "runtime.consolidationNeeded",
    "config.uuid",
    "config.instanceUuid",
    "config.guestId",
    "config.guestFullName",
    "config.firmware",
    "config.bootOptions.efiSecureBootEnabled",
    "config.hardware.numCPU",
    "config.hardware.numCoresPerSocket",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.changeTrackingEnabled",
    "config.extraConfig",
    "config.template",
    "config.files.vmPathName",
    "guest.toolsStatus",
    "guest.toolsRunningStatus",
    "guest.guestId",
    "guest.guestFullName",
    "guest.hostName",
    "guest.ipAddress",
    "guest.net",
    "snapshot",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerState {
    PoweredOn,
    PoweredOff,
    Suspended,
    Other(String),
}

impl PowerState {
    pub(crate) fn from_wire(state: &str) -> Self {
        match state {
            "poweredOn" => Self::PoweredOn,
            "poweredOff" => Self::PoweredOff,
            "suspended" => Self::Suspended,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_wire(&self) -> &str {
        match self {
            Self::PoweredOn => "poweredOn",
            Self::PoweredOff => "poweredOff",
            Self::Suspended => "suspended",
            Self::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Efi,
    Other(String),
}

impl Firmware {
    pub fn as_wire(&self) -> &str {
        match self {
            Self::Bios => "bios",
            Self::Efi => "efi",
            Self::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cpu {
    /// `numCPU`: virtual CPUs in all.
    pub count: i32,
    pub cores_per_socket: i32,
    pub sockets: i32,
}

/// VMware Tools as the guest reports them.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Tools {
    /// `toolsOk`, `toolsOld`, `toolsNotRunning`, `toolsNotInstalled`.
    pub status: Option<String>,
    /// `guestToolsRunning`, `guestToolsNotRunning`, `guestToolsExecutingScripts`.
    pub running_status: Option<String>,
}

/// One guest IP address, with its prefix when the tools report `ipConfig`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GuestIp {
    pub address: String,
    pub prefix_length: Option<u8>,
    /// `preferred`, `deprecated`, … (`ipConfig.ipAddress.state`).
    pub state: Option<String>,
}

impl GuestIp {
    pub fn is_ipv6(&self) -> bool {
        self.address.contains(':')
    }
}

/// A guest NIC as VMware Tools see it (`guest.net`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GuestNic {
    pub mac_address: Option<String>,
    /// The portgroup name.
    pub network: Option<String>,
    pub connected: bool,
    /// The key of the virtual NIC (`deviceConfigId`), -1 for guest-internal interfaces.
    pub device_key: Option<i32>,
    pub ip_addresses: Vec<GuestIp>,
}

/// Where a VM sits in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Location {
    pub datacenter: Option<NamedRef>,
    /// The datacenter's path below the root folder (`DC0`, or `Folder/DC0`), as `dcPath=` wants.
    pub datacenter_path: Option<String>,
    pub folder: Option<NamedRef>,
    /// `/DC0/vm/Linux`: the folder's inventory path (the original's `vddkpath`).
    pub folder_path: Option<String>,
    /// A cluster, or the standalone host's compute resource.
    pub compute_resource: Option<NamedRef>,
    pub cluster: Option<NamedRef>,
    pub host: Option<NamedRef>,
    pub resource_pool: Option<NamedRef>,
}

/// A virtual machine as read from vSphere.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VirtualMachine {
    pub moref: MoRef,
    pub name: String,
    /// `config.uuid` (the SMBIOS UUID).
    pub bios_uuid: Option<String>,
    /// `config.instanceUuid` (vCenter's own).
    pub instance_uuid: Option<String>,
    /// `config.guestId`, e.g. `rhel9_64Guest`.
    pub guest_id: Option<String>,
    pub guest_full_name: Option<String>,
    /// What the running tools report (`guest.guestId`, `guest.guestFullName`).
    pub tools_guest_id: Option<String>,
    pub tools_guest_full_name: Option<String>,
    /// `config.firmware`; vSphere's default when unset is BIOS.
    pub firmware: Firmware,
    pub secure_boot: bool,
    pub cpu: Cpu,
    pub memory_mb: i64,
    pub power_state: PowerState,
    pub tools: Tools,
    pub hostname: Option<String>,
    /// `guest.ipAddress`: the primary IP.
    pub primary_ip: Option<String>,
    pub guest_nics: Vec<GuestNic>,
    pub change_tracking_enabled: bool,
    pub consolidation_needed: bool,
    pub template: bool,
    /// `[ds] vm/vm.vmx`.
    pub vm_path_name: Option<String>,
    pub current_snapshot: Option<MoRef>,
    pub snapshots: Vec<SnapshotTree>,
    pub location: Location,
    /// Every device, typed; the accessors below filter it.
    pub devices: Vec<Device>,
}

impl VirtualMachine {
    pub fn disks(&self) -> impl Iterator<Item = &Disk> {
        self.devices.iter().filter_map(|d| match d {
            Device::Disk(disk) => Some(disk),
            _ => None,
        })
    }

    pub fn nics(&self) -> impl Iterator<Item = &Nic> {
        self.devices.iter().filter_map(|d| match d {
            Device::Nic(nic) => Some(nic),
            _ => None,
        })
    }

    pub fn controllers(&self) -> impl Iterator<Item = &Controller> {
        self.devices.iter().filter_map(|d| match d {
            Device::Controller(c) => Some(c),
            _ => None,
        })
    }

    pub fn pci_passthrough(&self) -> impl Iterator<Item = &PciPassthrough> {
        self.devices.iter().filter_map(|d| match d {
            Device::PciPassthrough(p) => Some(p),
            _ => None,
        })
    }

    /// SR-IOV network adapters.
    pub fn sriov_nics(&self) -> impl Iterator<Item = &Nic> {
        self.nics()
            .filter(|n| n.adapter == crate::device::NicAdapter::Sriov)
    }

    pub fn usb_devices(&self) -> impl Iterator<Item = &UsbDevice> {
        self.devices.iter().filter_map(|d| match d {
            Device::Usb(u) => Some(u),
            _ => None,
        })
    }

    pub fn has_tpm(&self) -> bool {
        self.devices.iter().any(|d| matches!(d, Device::Tpm(_)))
    }

    /// The guest NIC that belongs to a virtual NIC (by device key, else by MAC).
    pub fn guest_nic_of(&self, nic: &Nic) -> Option<&GuestNic> {
        self.guest_nics
            .iter()
            .find(|g| g.device_key == Some(nic.key))
            .or_else(|| {
                self.guest_nics.iter().find(|g| {
                    g.mac_address.is_some()
                        && g.mac_address.as_deref().map(str::to_lowercase)
                            == nic.mac_address.as_deref().map(str::to_lowercase)
                })
            })
    }

    /// Every snapshot of the tree, depth first.
    pub fn all_snapshots(&self) -> Vec<&SnapshotTree> {
        fn walk<'a>(nodes: &'a [SnapshotTree], out: &mut Vec<&'a SnapshotTree>) {
            for node in nodes {
                out.push(node);
                walk(&node.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.snapshots, &mut out);
        out
    }

    /// Builds the model from the VM's properties and the inventory read with it.
    pub fn from_content(content: &ObjectContent, inventory: &Inventory) -> Result<Self, Error> {
        let text = |path: &str| content.text(path).map(|t| t.trim().to_owned());
        let number = |path: &str| -> Result<Option<i64>, Error> {
            content
                .text(path)
                .map(|t| {
                    t.trim()
                        .parse()
                        .map_err(|_| Error::decode(format!("{}: bad {path} {t:?}", content.obj)))
                })
                .transpose()
        };
        let small = |path: &str| -> Result<i32, Error> {
            Ok(number(path)?
                .and_then(|n| i32::try_from(n).ok())
                .filter(|n| *n > 0)
                .unwrap_or(0))
        };
        let flag = |path: &str| content.text(path).map(str::trim) == Some("true");
        let name =
            text("name").ok_or_else(|| Error::decode(format!("{} has no name", content.obj)))?;
        let count = small("config.hardware.numCPU")?;
        let cores_per_socket = small("config.hardware.numCoresPerSocket")?.max(1);
        let cpu = Cpu {
            count,
            cores_per_socket,
            sockets: if count > 0 {
                (count / cores_per_socket).max(1)
            } else {
                0
            },
        };
        let mut devices = match content.get("config.hardware.device") {
            Some(array) => decode_devices(array)?,
            None => Vec::new(),
        };
        name_backings(&mut devices, inventory);
        if let Some(options) = content.get("config.extraConfig") {
            let tracking = DiskTracking::decode(options);
            for device in &mut devices {
                if let Device::Disk(disk) = device {
                    disk.change_tracking_enabled = tracking.of(disk);
                }
            }
        }
        let (current_snapshot, snapshots) = match content.get("snapshot") {
            Some(info) => decode_snapshot_info(info)?,
            None => (None, Vec::new()),
        };
        let guest_nics = match content.get("guest.net") {
            Some(array) => array
                .children
                .iter()
                .map(decode_guest_nic)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            moref: content.obj.clone(),
            name,
            bios_uuid: text("config.uuid"),
            instance_uuid: text("config.instanceUuid"),
            guest_id: text("config.guestId"),
            guest_full_name: text("config.guestFullName"),
            tools_guest_id: text("guest.guestId").filter(|s| !s.is_empty()),
            tools_guest_full_name: text("guest.guestFullName").filter(|s| !s.is_empty()),
            firmware: match content.text("config.firmware").map(str::trim) {
                None | Some("" | "bios") => Firmware::Bios,
                Some("efi") => Firmware::Efi,
                Some(other) => Firmware::Other(other.to_owned()),
            },
            secure_boot: flag("config.bootOptions.efiSecureBootEnabled"),
            cpu,
            memory_mb: number("config.hardware.memoryMB")?.unwrap_or(0),
            power_state: PowerState::from_wire(
                content
                    .text("runtime.powerState")
                    .unwrap_or_default()
                    .trim(),
            ),
            tools: Tools {
                status: text("guest.toolsStatus"),
                running_status: text("guest.toolsRunningStatus"),
            },
            hostname: text("guest.hostName").filter(|s| !s.is_empty()),
            primary_ip: text("guest.ipAddress").filter(|s| !s.is_empty()),
            guest_nics,
            change_tracking_enabled: flag("config.changeTrackingEnabled"),
            consolidation_needed: flag("runtime.consolidationNeeded"),
            template: flag("config.template"),
            vm_path_name: text("config.files.vmPathName"),
            current_snapshot,
            snapshots,
            location: locate(content, inventory)?,
            devices,
        })
    }
}

/// Fills in datastore names and types and distributed portgroup names from the inventory.
fn name_backings(devices: &mut [Device], inventory: &Inventory) {
    for device in devices {
        match device {
            Device::Disk(Disk {
                datastore:
                    Some(DatastoreRef {
                        moref: Some(m),
                        name,
                        kind,
                    }),
                ..
            }) => {
                if let Some(found) = inventory.name_of(m) {
                    *name = Some(found.to_owned());
                }
                *kind = inventory.datastore_type(m).map(str::to_owned);
            }
            Device::Nic(Nic {
                network:
                    NicNetwork::Distributed {
                        portgroup_key: Some(key),
                        name,
                        ..
                    },
                ..
            }) => {
                *name = inventory.portgroup_name(key).map(str::to_owned);
            }
            _ => {}
        }
    }
}

fn locate(content: &ObjectContent, inventory: &Inventory) -> Result<Location, Error> {
    let parent = content.moref("parent")?;
    let pool = content.moref("resourcePool")?;
    let host = content.moref("runtime.host")?;
    // A VM in a vApp has no parent folder; its resource pools lead to the datacenter too.
    let datacenter = parent
        .iter()
        .chain(pool.iter())
        .find_map(|start| inventory.ancestor_of_kind(start, &["Datacenter"]));
    let compute_resource = pool
        .as_ref()
        .and_then(|p| inventory.ancestor_of_kind(p, &["ClusterComputeResource", "ComputeResource"]))
        .or_else(|| host.as_ref().and_then(|h| inventory.parent_of(h).cloned()));
    let named = |m: &Option<MoRef>| m.as_ref().and_then(|m| inventory.named(m));
    Ok(Location {
        datacenter_path: datacenter
            .as_ref()
            .and_then(|dc| inventory.path_of(dc))
            .map(|p| p.trim_start_matches('/').to_owned()),
        datacenter: named(&datacenter),
        folder_path: parent.as_ref().and_then(|p| inventory.path_of(p)),
        folder: named(&parent),
        cluster: compute_resource
            .as_ref()
            .filter(|c| c.kind == "ClusterComputeResource")
            .and_then(|c| inventory.named(c)),
        compute_resource: named(&compute_resource),
        host: named(&host),
        resource_pool: named(&pool),
    })
}

fn decode_guest_nic(nic: &Element) -> Result<GuestNic, Error> {
    let mut ip_addresses: Vec<GuestIp> = Vec::new();
    if let Some(config) = nic.child("ipConfig") {
        for address in config.children("ipAddress") {
            ip_addresses.push(GuestIp {
                address: address.required_text("ipAddress")?.trim().to_owned(),
                prefix_length: address.parse_at("prefixLength")?,
                state: address.child_text("state").map(str::to_owned),
            });
        }
    }
    for address in nic.children("ipAddress") {
        let address = address.text.trim();
        if !address.is_empty() && !ip_addresses.iter().any(|ip| ip.address == address) {
            ip_addresses.push(GuestIp {
                address: address.to_owned(),
                prefix_length: None,
                state: None,
            });
        }
    }
    Ok(GuestNic {
        mac_address: nic.child_text("macAddress").map(|m| m.trim().to_owned()),
        network: nic.child_text("network").map(|n| n.trim().to_owned()),
        connected: nic.bool_at("connected")?.unwrap_or(false),
        device_key: nic.parse_at("deviceConfigId")?,
        ip_addresses,
    })
}

fn vm_property_specs() -> Vec<PropertySpec> {
    let mut specs = inventory::entity_property_specs();
    specs.push(PropertySpec::new("VirtualMachine", VM_PROPERTIES));
    specs
}

fn models(objects: &[ObjectContent]) -> Result<Vec<VirtualMachine>, Error> {
    let mut inventory = Inventory::default();
    inventory.absorb(objects)?;
    objects
        .iter()
        .filter(|o| o.obj.kind == "VirtualMachine")
        .map(|o| VirtualMachine::from_content(o, &inventory))
        .collect()
}

/// Reads one VM and its surroundings in one `RetrievePropertiesEx`.
pub async fn get(client: &Client, vm: &MoRef) -> Result<VirtualMachine, Error> {
    let spec = FilterSpec {
        props: vm_property_specs(),
        objects: vec![ObjectSpec {
            obj: vm.clone(),
            skip: false,
            select: inventory::upward_traversals(),
        }],
    };
    let objects = property_collector::retrieve(client, &spec)
        .await
        .map_err(|e| not_found_as_vm(e, vm))?;
    models(&objects)?
        .into_iter()
        .find(|m| m.moref == *vm)
        .ok_or_else(|| Error::VmNotFound(vm.to_string()))
}

/// Reads every VM (templates included) with the whole model in one `RetrievePropertiesEx`
/// (plus continuation pages on big inventories).
pub async fn list(client: &Client) -> Result<Vec<VirtualMachine>, Error> {
    let spec = FilterSpec {
        props: vm_property_specs(),
        objects: vec![ObjectSpec {
            obj: client.service_content().root_folder.clone(),
            skip: false,
            select: inventory::downward_traversals(),
        }],
    };
    models(&property_collector::retrieve(client, &spec).await?)
}

/// Reads the chosen VMs and their surroundings with the whole model in one
/// `RetrievePropertiesEx` (plus continuation pages), in the order asked.
pub async fn get_many(client: &Client, vms: &[MoRef]) -> Result<Vec<VirtualMachine>, Error> {
    if vms.is_empty() {
        return Ok(Vec::new());
    }
    let spec = FilterSpec {
        props: vm_property_specs(),
        objects: vms
            .iter()
            .map(|vm| ObjectSpec {
                obj: vm.clone(),
                skip: false,
                select: inventory::upward_traversals(),
            })
            .collect(),
    };
    let objects = property_collector::retrieve(client, &spec)
        .await
        .map_err(|e| match e.fault().map(|f| &f.kind) {
            Some(crate::FaultKind::ManagedObjectNotFound { object: Some(vm) }) => {
                Error::VmNotFound(vm.to_string())
            }
            _ => e,
        })?;
    let mut found = models(&objects)?;
    vms.iter()
        .map(|vm| {
            found
                .iter()
                .position(|m| m.moref == *vm)
                .map(|i| found.swap_remove(i))
                .ok_or_else(|| Error::VmNotFound(vm.to_string()))
        })
        .collect()
}

/// Reads the chosen properties of every VM in one `RetrievePropertiesEx`, plus the inventory
/// (names and parents) that locates them.
pub async fn list_properties(
    client: &Client,
    paths: &[&str],
) -> Result<(Vec<ObjectContent>, Inventory), Error> {
    let mut props = inventory::entity_property_specs();
    props.push(PropertySpec::new("VirtualMachine", paths));
    let spec = FilterSpec {
        props,
        objects: vec![ObjectSpec {
            obj: client.service_content().root_folder.clone(),
            skip: false,
            select: inventory::downward_traversals(),
        }],
    };
    let objects = property_collector::retrieve(client, &spec).await?;
    let mut inventory = Inventory::default();
    inventory.absorb(&objects)?;
    let vms = objects
        .into_iter()
        .filter(|o| o.obj.kind == "VirtualMachine")
        .collect();
    Ok((vms, inventory))
}

/// `ManagedObjectNotFound` for the VM itself reads better as "VM not found".
pub(crate) fn not_found_as_vm(error: Error, vm: &MoRef) -> Error {
    match error.fault().map(|f| &f.kind) {
        Some(crate::FaultKind::ManagedObjectNotFound { .. }) => Error::VmNotFound(vm.to_string()),
        _ => error,
    }
}

/// Serialized as the name vSphere or this crate uses for it (`poweredOn`…).
impl serde::Serialize for PowerState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_wire())
    }
}

/// Serialized as the name vSphere or this crate uses for it (`efi`…).
impl serde::Serialize for Firmware {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_wire())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_for_exports() {
        let json = serde_json::to_value(Cpu {
            count: 4,
            cores_per_socket: 2,
            sockets: 2,
        })
        .unwrap();
        assert_eq!(json["sockets"], 2);
        assert_eq!(
            serde_json::to_value(PowerState::PoweredOn).unwrap(),
            "poweredOn"
        );
        assert_eq!(serde_json::to_value(Firmware::Efi).unwrap(), "efi");
        let moref = serde_json::to_value(MoRef::virtual_machine("vm-1")).unwrap();
        assert_eq!(
            moref,
            serde_json::json!({"type": "VirtualMachine", "value": "vm-1"})
        );
    }
}
