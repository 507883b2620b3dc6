//! Virtual devices (`config.hardware.device`): each `VirtualDevice` element, whatever its
//! `xsi:type`, is read into one wide wire struct, then converted once into [`Device`].

use crate::error::Error;
use crate::moref::MoRef;
use crate::xml::Element;

/// A virtual device of a VM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Device {
    Disk(Disk),
    Nic(Nic),
    Controller(Controller),
    /// `VirtualPCIPassthrough` (DirectPath I/O, vGPU).
    PciPassthrough(PciPassthrough),
    /// `VirtualUSB`: a USB device connected to the VM.
    Usb(UsbDevice),
    /// `VirtualTPM`: a virtual Trusted Platform Module.
    Tpm(DeviceHeader),
    /// Anything else (CD-ROM, video card, keyboard…): kept with its type name.
    Other(OtherDevice),
}

impl Device {
    pub fn key(&self) -> i32 {
        match self {
            Self::Disk(d) => d.key,
            Self::Nic(n) => n.key,
            Self::Controller(c) => c.key,
            Self::PciPassthrough(p) => p.key,
            Self::Usb(u) => u.key,
            Self::Tpm(t) => t.key,
            Self::Other(o) => o.key,
        }
    }
}

/// What every device has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceHeader {
    pub key: i32,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OtherDevice {
    pub key: i32,
    pub type_name: String,
    pub label: String,
    pub summary: String,
}

/// How a disk behaves around snapshots (`diskMode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskMode {
    Persistent,
    NonPersistent,
    Undoable,
    IndependentPersistent,
    IndependentNonPersistent,
    Append,
    Other(String),
}

impl DiskMode {
    fn from_wire(mode: &str) -> Self {
        match mode {
            "persistent" => Self::Persistent,
            "nonpersistent" => Self::NonPersistent,
            "undoable" => Self::Undoable,
            "independent_persistent" => Self::IndependentPersistent,
            "independent_nonpersistent" => Self::IndependentNonPersistent,
            "append" => Self::Append,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Independent disks are left out of snapshots (so out of CBT-based copies).
    pub fn is_independent(&self) -> bool {
        matches!(
            self,
            Self::IndependentPersistent | Self::IndependentNonPersistent
        )
    }

    pub fn as_wire(&self) -> &str {
        match self {
            Self::Persistent => "persistent",
            Self::NonPersistent => "nonpersistent",
            Self::Undoable => "undoable",
            Self::IndependentPersistent => "independent_persistent",
            Self::IndependentNonPersistent => "independent_nonpersistent",
            Self::Append => "append",
            Self::Other(s) => s,
        }
    }
}

/// What stores a disk's bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiskBacking {
    /// `VirtualDiskFlatVer2BackingInfo`: a VMDK on a datastore.
    Flat {
        thin_provisioned: Option<bool>,
        eagerly_scrub: Option<bool>,
    },
    /// `VirtualDiskRawDiskMappingVer1BackingInfo`: a LUN mapped through a VMDK.
    RawDiskMapping {
        /// `physicalMode` or `virtualMode`.
        compatibility_mode: Option<String>,
        lun_uuid: Option<String>,
        device_name: Option<String>,
    },
    /// `VirtualDiskSparseVer2BackingInfo`, `VirtualDiskSeSparseBackingInfo`, …
    Sparse {
        type_name: String,
    },
    Other {
        type_name: String,
    },
}

/// A virtual disk (`VirtualDisk`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Disk {
    pub key: i32,
    pub label: String,
    pub controller_key: Option<i32>,
    /// The controller, once the VM's devices are all known.
    pub controller: Option<ControllerRef>,
    pub unit_number: Option<i32>,
    /// From `capacityInBytes`, or `capacityInKB` × 1024 when the former is unset (older hosts, vcsim).
    pub capacity_bytes: i64,
    /// `[datastore] folder/file.vmdk`.
    pub file_name: Option<String>,
    pub datastore: Option<DatastoreRef>,
    pub disk_mode: Option<DiskMode>,
    /// `sharingNone` or `sharingMultiWriter`.
    pub sharing: Option<String>,
    pub backing: DiskBacking,
    pub change_id: Option<String>,
    pub uuid: Option<String>,
    /// The disk's `ctkEnabled` in `config.extraConfig` (`scsi0:1.ctkEnabled`); `None` when the
    /// `.vmx` does not say.
    pub change_tracking_enabled: Option<bool>,
}

impl Disk {
    pub fn is_independent(&self) -> bool {
        self.disk_mode
            .as_ref()
            .is_some_and(DiskMode::is_independent)
    }

    pub fn is_rdm(&self) -> bool {
        matches!(self.backing, DiskBacking::RawDiskMapping { .. })
    }

    /// Multi-writer sharing of the disk itself (a shared SCSI bus shows on the controller).
    pub fn is_shared(&self) -> bool {
        self.sharing
            .as_deref()
            .is_some_and(|s| s != "sharingNone" && !s.is_empty())
    }
}

/// A datastore by reference and, when the inventory told it, by name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatastoreRef {
    pub moref: Option<MoRef>,
    pub name: Option<String>,
    /// The datastore's `summary.type` (`VMFS`, `NFS`, `vsan`, `VVOL`, …), when the inventory
    /// told it.
    pub kind: Option<String>,
}

impl DatastoreRef {
    /// vSAN and VVol datastores hold a disk as objects, not as a `-flat.vmdk` file: only VDDK
    /// (which asks the host) reads them, never a download of the datastore file.
    pub fn holds_objects_not_files(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("vsan") || k.eq_ignore_ascii_case("vvol"))
    }
}

/// The disk's controller as the disk sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ControllerRef {
    pub key: i32,
    pub kind: ControllerKind,
    pub bus_number: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScsiKind {
    LsiLogic,
    LsiLogicSas,
    BusLogic,
    ParaVirtual,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerKind {
    Scsi(ScsiKind),
    Ide,
    Sata,
    Nvme,
    Usb,
    UsbXhci,
    Pci,
    Ps2,
    Sio,
    Other(String),
}

impl ControllerKind {
    fn from_type(type_name: &str) -> Option<Self> {
        Some(match type_name {
            "VirtualLsiLogicController" => Self::Scsi(ScsiKind::LsiLogic),
            "VirtualLsiLogicSASController" => Self::Scsi(ScsiKind::LsiLogicSas),
            "VirtualBusLogicController" => Self::Scsi(ScsiKind::BusLogic),
            "ParaVirtualSCSIController" => Self::Scsi(ScsiKind::ParaVirtual),
            "VirtualIDEController" => Self::Ide,
            "VirtualAHCIController" | "VirtualSATAController" => Self::Sata,
            "VirtualNVMEController" => Self::Nvme,
            "VirtualUSBController" => Self::Usb,
            "VirtualUSBXHCIController" => Self::UsbXhci,
            "VirtualPCIController" => Self::Pci,
            "VirtualPS2Controller" => Self::Ps2,
            "VirtualSIOController" => Self::Sio,
            t if t.ends_with("Controller") => Self::Other(t.to_owned()),
            _ => return None,
        })
    }

    /// A short name: `lsilogic`, `lsilogic-sas`, `buslogic`, `pvscsi`, `ide`, `sata`, `nvme`, …
    pub fn name(&self) -> &str {
        match self {
            Self::Scsi(ScsiKind::LsiLogic) => "lsilogic",
            Self::Scsi(ScsiKind::LsiLogicSas) => "lsilogic-sas",
            Self::Scsi(ScsiKind::BusLogic) => "buslogic",
            Self::Scsi(ScsiKind::ParaVirtual) => "pvscsi",
            Self::Ide => "ide",
            Self::Sata => "sata",
            Self::Nvme => "nvme",
            Self::Usb => "usb",
            Self::UsbXhci => "usb-xhci",
            Self::Pci => "pci",
            Self::Ps2 => "ps2",
            Self::Sio => "sio",
            Self::Other(t) => t,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Controller {
    pub key: i32,
    pub label: String,
    pub kind: ControllerKind,
    pub bus_number: Option<i32>,
    /// Keys of the devices on this controller.
    pub device_keys: Vec<i32>,
    /// SCSI bus sharing: `noSharing`, `virtualSharing` or `physicalSharing`.
    pub shared_bus: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicAdapter {
    Vmxnet3,
    Vmxnet2,
    Vmxnet,
    E1000,
    E1000e,
    Pcnet32,
    Sriov,
    Vmxnet3Vrdma,
    Other(String),
}

impl NicAdapter {
    fn from_type(type_name: &str) -> Option<Self> {
        Some(match type_name {
            "VirtualVmxnet3" => Self::Vmxnet3,
            "VirtualVmxnet2" => Self::Vmxnet2,
            "VirtualVmxnet" => Self::Vmxnet,
            "VirtualE1000" => Self::E1000,
            "VirtualE1000e" => Self::E1000e,
            "VirtualPCNet32" => Self::Pcnet32,
            "VirtualSriovEthernetCard" => Self::Sriov,
            "VirtualVmxnet3Vrdma" => Self::Vmxnet3Vrdma,
            "VirtualEthernetCard" => Self::Other(type_name.to_owned()),
            _ => return None,
        })
    }

    /// `vmxnet3`, `e1000e`, `sriov`, …
    pub fn name(&self) -> &str {
        match self {
            Self::Vmxnet3 => "vmxnet3",
            Self::Vmxnet2 => "vmxnet2",
            Self::Vmxnet => "vmxnet",
            Self::E1000 => "e1000",
            Self::E1000e => "e1000e",
            Self::Pcnet32 => "pcnet32",
            Self::Sriov => "sriov",
            Self::Vmxnet3Vrdma => "vmxnet3vrdma",
            Self::Other(t) => t,
        }
    }
}

/// What a NIC is plugged into.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NicNetwork {
    /// A standard portgroup: `deviceName` is its name.
    Standard {
        name: String,
        network: Option<MoRef>,
    },
    /// A distributed portgroup; `name` comes from the inventory when it was read.
    Distributed {
        switch_uuid: Option<String>,
        portgroup_key: Option<String>,
        port_key: Option<String>,
        name: Option<String>,
    },
    /// An NSX opaque network.
    Opaque {
        network_id: Option<String>,
        network_type: Option<String>,
    },
    None,
}

/// A virtual network adapter (`VirtualEthernetCard` and subtypes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Nic {
    pub key: i32,
    pub label: String,
    pub summary: String,
    pub adapter: NicAdapter,
    pub mac_address: Option<String>,
    /// `manual`, `generated` or `assigned`.
    pub address_type: Option<String>,
    pub network: NicNetwork,
    pub connected: Option<bool>,
    pub start_connected: Option<bool>,
    pub controller_key: Option<i32>,
    pub unit_number: Option<i32>,
}

/// A PCI device passed through to the VM.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PciPassthrough {
    pub key: i32,
    pub label: String,
    /// The backing's type (`VirtualPCIPassthroughDeviceBackingInfo`, `…VmiopBackingInfo` for vGPU…).
    pub backing_type: Option<String>,
    pub device_name: Option<String>,
    pub id: Option<String>,
    pub vendor_id: Option<String>,
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsbDevice {
    pub key: i32,
    pub label: String,
    pub backing_type: Option<String>,
    pub device_name: Option<String>,
    pub connected: Option<bool>,
}

/// Every field any device type might carry, all optional: the one place that reads the wire.
#[derive(Debug, Default)]
struct WireDevice {
    type_name: String,
    key: Option<i32>,
    label: Option<String>,
    summary: Option<String>,
    controller_key: Option<i32>,
    unit_number: Option<i32>,
    bus_number: Option<i32>,
    device_keys: Vec<i32>,
    shared_bus: Option<String>,
    capacity_in_kb: Option<i64>,
    capacity_in_bytes: Option<i64>,
    mac_address: Option<String>,
    address_type: Option<String>,
    connected: Option<bool>,
    start_connected: Option<bool>,
    backing: Option<WireBacking>,
}

#[derive(Debug, Default)]
struct WireBacking {
    type_name: String,
    file_name: Option<String>,
    datastore: Option<MoRef>,
    disk_mode: Option<String>,
    sharing: Option<String>,
    change_id: Option<String>,
    uuid: Option<String>,
    thin_provisioned: Option<bool>,
    eagerly_scrub: Option<bool>,
    compatibility_mode: Option<String>,
    lun_uuid: Option<String>,
    device_name: Option<String>,
    network: Option<MoRef>,
    switch_uuid: Option<String>,
    portgroup_key: Option<String>,
    port_key: Option<String>,
    opaque_network_id: Option<String>,
    opaque_network_type: Option<String>,
    id: Option<String>,
    vendor_id: Option<String>,
    device_id: Option<String>,
}

fn owned(element: &Element, path: &str) -> Option<String> {
    element.text_at(path).map(|t| t.trim().to_owned())
}

impl WireBacking {
    fn read(backing: &Element) -> Result<Self, Error> {
        Ok(Self {
            type_name: backing.type_name().to_owned(),
            file_name: owned(backing, "fileName"),
            datastore: MoRef::child(backing, "datastore")?,
            disk_mode: owned(backing, "diskMode"),
            sharing: owned(backing, "sharing"),
            change_id: owned(backing, "changeId"),
            uuid: owned(backing, "uuid"),
            thin_provisioned: backing.bool_at("thinProvisioned")?,
            eagerly_scrub: backing.bool_at("eagerlyScrub")?,
            compatibility_mode: owned(backing, "compatibilityMode"),
            lun_uuid: owned(backing, "lunUuid"),
            device_name: owned(backing, "deviceName"),
            network: MoRef::child(backing, "network")?,
            switch_uuid: owned(backing, "port.switchUuid"),
            portgroup_key: owned(backing, "port.portgroupKey"),
            port_key: owned(backing, "port.portKey"),
            opaque_network_id: owned(backing, "opaqueNetworkId"),
            opaque_network_type: owned(backing, "opaqueNetworkType"),
            id: owned(backing, "id"),
            vendor_id: owned(backing, "vendorId"),
            device_id: owned(backing, "deviceId"),
        })
    }
}

impl WireDevice {
    fn read(device: &Element) -> Result<Self, Error> {
        Ok(Self {
            type_name: device.type_name().to_owned(),
            key: device.parse_at("key")?,
            label: owned(device, "deviceInfo.label"),
            summary: owned(device, "deviceInfo.summary"),
            controller_key: device.parse_at("controllerKey")?,
            unit_number: device.parse_at("unitNumber")?,
            bus_number: device.parse_at("busNumber")?,
            device_keys: device
                .children("device")
                .map(|d| {
                    d.text.trim().parse().map_err(|_| {
                        Error::decode(format!("bad device key {:?} on a controller", d.text))
                    })
                })
                .collect::<Result<_, _>>()?,
            shared_bus: owned(device, "sharedBus"),
            capacity_in_kb: device.parse_at("capacityInKB")?,
            capacity_in_bytes: device.parse_at("capacityInBytes")?,
            mac_address: owned(device, "macAddress"),
            address_type: owned(device, "addressType"),
            connected: device.bool_at("connectable.connected")?,
            start_connected: device.bool_at("connectable.startConnected")?,
            backing: device.child("backing").map(WireBacking::read).transpose()?,
        })
    }

    fn into_device(self) -> Result<Device, Error> {
        let key = self
            .key
            .ok_or_else(|| Error::decode(format!("{} without a key", self.type_name)))?;
        let label = self.label.clone().unwrap_or_default();
        let backing = self.backing.unwrap_or_default();
        let type_name = self.type_name;
        if type_name == "VirtualDisk" {
            let capacity_bytes = match (self.capacity_in_bytes, self.capacity_in_kb) {
                (Some(bytes), _) if bytes > 0 => bytes,
                (_, Some(kb)) => kb.saturating_mul(1024),
                (Some(bytes), None) => bytes,
                (None, None) => 0,
            };
            let disk_backing = match backing.type_name.as_str() {
                "VirtualDiskFlatVer2BackingInfo" | "VirtualDiskFlatVer1BackingInfo" => {
                    DiskBacking::Flat {
                        thin_provisioned: backing.thin_provisioned,
                        eagerly_scrub: backing.eagerly_scrub,
                    }
                }
                "VirtualDiskRawDiskMappingVer1BackingInfo" => DiskBacking::RawDiskMapping {
                    compatibility_mode: backing.compatibility_mode,
                    lun_uuid: backing.lun_uuid,
                    device_name: backing.device_name,
                },
                t if t.contains("Sparse") => DiskBacking::Sparse {
                    type_name: t.to_owned(),
                },
                t => DiskBacking::Other {
                    type_name: t.to_owned(),
                },
            };
            let datastore = match (&backing.datastore, &backing.file_name) {
                (None, None) => None,
                (moref, file) => Some(DatastoreRef {
                    moref: moref.clone(),
                    name: file
                        .as_deref()
                        .and_then(crate::datastore::DatastorePath::parse)
                        .map(|p| p.datastore),
                    kind: None,
                }),
            };
            return Ok(Device::Disk(Disk {
                key,
                label,
                controller_key: self.controller_key,
                controller: None,
                unit_number: self.unit_number,
                capacity_bytes,
                file_name: backing.file_name,
                datastore,
                disk_mode: backing.disk_mode.as_deref().map(DiskMode::from_wire),
                sharing: backing.sharing,
                backing: disk_backing,
                change_id: backing.change_id.filter(|c| !c.is_empty()),
                uuid: backing.uuid,
                // Not part of the device: the VM's extraConfig says it (see `vm`).
                change_tracking_enabled: None,
            }));
        }
        if let Some(adapter) = NicAdapter::from_type(&type_name) {
            let network = if backing.switch_uuid.is_some() || backing.portgroup_key.is_some() {
                NicNetwork::Distributed {
                    switch_uuid: backing.switch_uuid,
                    portgroup_key: backing.portgroup_key,
                    port_key: backing.port_key,
                    name: None,
                }
            } else if backing.opaque_network_id.is_some() {
                NicNetwork::Opaque {
                    network_id: backing.opaque_network_id,
                    network_type: backing.opaque_network_type,
                }
            } else if let Some(name) = backing.device_name {
                NicNetwork::Standard {
                    name,
                    network: backing.network,
                }
            } else {
                NicNetwork::None
            };
            return Ok(Device::Nic(Nic {
                key,
                label,
                summary: self.summary.unwrap_or_default(),
                adapter,
                mac_address: self.mac_address,
                address_type: self.address_type,
                network,
                connected: self.connected,
                start_connected: self.start_connected,
                controller_key: self.controller_key,
                unit_number: self.unit_number,
            }));
        }
        if let Some(kind) = ControllerKind::from_type(&type_name) {
            return Ok(Device::Controller(Controller {
                key,
                label,
                kind,
                bus_number: self.bus_number,
                device_keys: self.device_keys,
                shared_bus: self.shared_bus,
            }));
        }
        let backing_type = (!backing.type_name.is_empty()).then(|| backing.type_name.clone());
        Ok(match type_name.as_str() {
            "VirtualPCIPassthrough" => Device::PciPassthrough(PciPassthrough {
                key,
                label,
                backing_type,
                device_name: backing.device_name,
                id: backing.id,
                vendor_id: backing.vendor_id,
                device_id: backing.device_id,
            }),
            "VirtualUSB" => Device::Usb(UsbDevice {
                key,
                label,
                backing_type,
                device_name: backing.device_name,
                connected: self.connected,
            }),
            "VirtualTPM" => Device::Tpm(DeviceHeader { key, label }),
            _ => Device::Other(OtherDevice {
                key,
                type_name,
                label,
                summary: self.summary.unwrap_or_default(),
            }),
        })
    }
}

/// Decodes an `ArrayOfVirtualDevice` (`<val>` of `config.hardware.device`), then attaches each
/// disk to its controller.
pub fn decode_devices(array: &Element) -> Result<Vec<Device>, Error> {
    let mut devices = array
        .children
        .iter()
        .map(|e| WireDevice::read(e)?.into_device())
        .collect::<Result<Vec<_>, _>>()?;
    let controllers: Vec<ControllerRef> = devices
        .iter()
        .filter_map(|d| match d {
            Device::Controller(c) => Some(ControllerRef {
                key: c.key,
                kind: c.kind.clone(),
                bus_number: c.bus_number,
            }),
            _ => None,
        })
        .collect();
    for device in &mut devices {
        if let Device::Disk(disk) = device {
            disk.controller = disk
                .controller_key
                .and_then(|key| controllers.iter().find(|c| c.key == key).cloned());
        }
    }
    Ok(devices)
}

/// Serialized as the name vSphere or this crate uses for it (`persistent`…).
impl serde::Serialize for DiskMode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_wire())
    }
}

/// Serialized as the name vSphere or this crate uses for it (`pvscsi`…).
impl serde::Serialize for ControllerKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Serialized as the name vSphere or this crate uses for it (`vmxnet3`…).
impl serde::Serialize for NicAdapter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::decode_response;

    fn fixture_devices() -> Vec<Device> {
        let response = decode_response(include_bytes!("../tests/fixtures/vm_devices.xml")).unwrap();
        let val = response
            .at("returnval.objects.propSet.val")
            .expect("fixture has a device array");
        decode_devices(val).unwrap()
    }

    #[test]
    fn decodes_polymorphic_devices() {
        let devices = fixture_devices();
        let disks: Vec<&Disk> = devices
            .iter()
            .filter_map(|d| match d {
                Device::Disk(d) => Some(d),
                _ => None,
            })
            .collect();
        assert_eq!(disks.len(), 3);

        let flat = disks[0];
        assert_eq!(flat.key, 204);
        assert_eq!(
            flat.capacity_bytes,
            1536 * 1024,
            "capacityInKB used when capacityInBytes is unset"
        );
        assert_eq!(flat.file_name.as_deref(), Some("[LocalDS_0] vm1/vm1.vmdk"));
        let datastore = flat.datastore.as_ref().unwrap();
        assert_eq!(datastore.name.as_deref(), Some("LocalDS_0"));
        assert_eq!(
            datastore.moref,
            Some(MoRef::new("Datastore", "datastore-1"))
        );
        assert_eq!(flat.change_id.as_deref(), Some("52 aa/4"));
        let controller = flat.controller.as_ref().unwrap();
        assert_eq!(controller.kind, ControllerKind::Scsi(ScsiKind::ParaVirtual));
        assert_eq!(controller.bus_number, Some(0));
        assert_eq!(flat.unit_number, Some(0));
        assert!(!flat.is_independent());

        let rdm = disks[1];
        assert!(rdm.is_rdm());
        assert!(rdm.is_independent());
        assert!(rdm.is_shared());
        assert_eq!(rdm.capacity_bytes, 10 * 1024 * 1024 * 1024);
        assert_eq!(rdm.controller.as_ref().unwrap().kind, ControllerKind::Sata);

        assert_eq!(
            disks[2].controller, None,
            "unknown controller key stays unresolved"
        );

        let nics: Vec<&Nic> = devices
            .iter()
            .filter_map(|d| match d {
                Device::Nic(n) => Some(n),
                _ => None,
            })
            .collect();
        assert_eq!(nics.len(), 3);
        assert_eq!(nics[0].adapter, NicAdapter::Vmxnet3);
        assert_eq!(nics[0].mac_address.as_deref(), Some("00:50:56:aa:bb:01"));
        assert_eq!(
            nics[0].network,
            NicNetwork::Standard {
                name: "VM Network".into(),
                network: Some(MoRef::new("Network", "network-7"))
            }
        );
        assert!(matches!(
            &nics[1].network,
            NicNetwork::Distributed { portgroup_key: Some(k), .. } if k == "dvportgroup-11"
        ));
        assert_eq!(nics[2].adapter, NicAdapter::Sriov);

        assert!(devices.iter().any(
            |d| matches!(d, Device::PciPassthrough(p) if p.id.as_deref() == Some("0000:3b:00.0"))
        ));
        assert!(devices.iter().any(|d| matches!(d, Device::Usb(_))));
        assert!(devices.iter().any(|d| matches!(d, Device::Tpm(_))));
        assert!(
            devices
                .iter()
                .any(|d| matches!(d, Device::Other(o) if o.type_name == "VirtualCdrom"))
        );
    }

    #[test]
    fn a_device_without_key_is_an_error_not_a_panic() {
        let array =
            crate::xml::parse(br#"<val><VirtualDevice xsi:type="VirtualDisk"/></val>"#).unwrap();
        assert!(decode_devices(&array).is_err());
    }
}
