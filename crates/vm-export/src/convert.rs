//! The typed vSphere model → `guest_info.json` (the `vmware.vmware.guest_info` fields plus
//! `vmkit`) and `disk_info.json` (the vSphere Automation API disk shape).

use migration_data::disk_info::{BusAddress, IdeAddress, RestBacking};
use migration_data::vmkit::{self, VmkitInfo};
use migration_data::{DiskInfo, GuestInfo, HwEth, RestDisk};
use serde_json::Map;
use vsphere::VirtualMachine;
use vsphere::device::{ControllerKind, Disk, DiskBacking, Nic, NicNetwork};
use vsphere::inventory::NamedRef;
use vsphere::snapshot::SnapshotTree;

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// `hw_ethN` of one NIC: the guest's addresses come from the guest NIC with the same device key
/// (or MAC).
pub fn hw_eth(vm: &VirtualMachine, nic: &Nic) -> HwEth {
    let mac = nic
        .mac_address
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (portgroup_key, portgroup_portkey) = match &nic.network {
        NicNetwork::Distributed {
            portgroup_key,
            port_key,
            ..
        } => (portgroup_key.clone(), port_key.clone()),
        _ => (None, None),
    };
    HwEth {
        addresstype: nic.address_type.clone(),
        label: nic.label.clone(),
        macaddress_dash: mac.replace(':', "-"),
        macaddress: mac,
        ipaddresses: vm
            .guest_nic_of(nic)
            .map(|g| g.ip_addresses.iter().map(|ip| ip.address.clone()).collect())
            .unwrap_or_default(),
        summary: nic_summary(nic),
        portgroup_key,
        portgroup_portkey,
    }
}

/// vSphere's `deviceInfo.summary`: the portgroup name, or `DVSwitch: <uuid>`.
fn nic_summary(nic: &Nic) -> String {
    if !nic.summary.trim().is_empty() {
        return nic.summary.clone();
    }
    match &nic.network {
        NicNetwork::Standard { name, .. } => name.clone(),
        NicNetwork::Distributed { switch_uuid, .. } => {
            format!("DVSwitch: {}", switch_uuid.as_deref().unwrap_or_default())
        }
        NicNetwork::Opaque { network_id, .. } => network_id.clone().unwrap_or_default(),
        NicNetwork::None => String::new(),
    }
}

pub fn guest_info(vm: &VirtualMachine) -> GuestInfo {
    let interfaces: Vec<HwEth> = vm.nics().map(|nic| hw_eth(vm, nic)).collect();
    let all_ips = || vm.guest_nics.iter().flat_map(|g| g.ip_addresses.iter());
    let ipv4 = vm
        .primary_ip
        .clone()
        .filter(|ip| !ip.contains(':'))
        .or_else(|| {
            all_ips()
                .find(|ip| !ip.is_ipv6())
                .map(|ip| ip.address.clone())
        });
    let ipv6 = all_ips()
        .find(|ip| ip.is_ipv6())
        .map(|ip| ip.address.clone());
    let mut datastores: Vec<String> = vm
        .vm_path_name
        .as_deref()
        .and_then(datastore_of_path)
        .into_iter()
        .chain(vm.disks().filter_map(|d| {
            d.datastore
                .as_ref()
                .and_then(|ds| ds.name.clone())
                .or_else(|| d.file_name.as_deref().and_then(datastore_of_path))
        }))
        .collect();
    datastores.sort();
    datastores.dedup();
    GuestInfo {
        hw_name: vm.name.clone(),
        hw_power_status: vm.power_state.as_wire().to_owned(),
        hw_guest_full_name: vm.guest_full_name.clone(),
        hw_guest_id: vm.guest_id.clone(),
        hw_product_uuid: vm.bios_uuid.clone(),
        instance_uuid: vm.instance_uuid.clone(),
        hw_processor_count: count(vm.cpu.count),
        hw_cores_per_socket: count(vm.cpu.cores_per_socket),
        hw_memtotal_mb: non_negative(vm.memory_mb),
        hw_folder: vm.location.folder_path.clone().unwrap_or_default(),
        hw_esxi_host: vm.location.host.as_ref().map(|h| h.name.clone()),
        hw_cluster: vm.location.cluster.as_ref().map(|c| c.name.clone()),
        hw_datastores: datastores,
        hw_files: vm.vm_path_name.iter().cloned().collect(),
        hw_is_template: vm.template,
        guest_tools_status: vm.tools.status.clone(),
        guest_consolidation_needed: vm.consolidation_needed,
        ipv4,
        ipv6,
        moid: vm.moref.value.clone(),
        interfaces,
        vmkit: Some(vmkit_info(vm)),
        other: Map::new(),
    }
}

/// `datastore1` from `[datastore1] web01/web01.vmx`.
fn datastore_of_path(path: &str) -> Option<String> {
    let rest = path.trim().strip_prefix('[')?;
    let (name, _) = rest.split_once(']')?;
    Some(name.to_owned())
}

fn named(r: &Option<NamedRef>) -> Option<vmkit::Named> {
    r.as_ref().map(|r| vmkit::Named {
        moref: r.moref.value.clone(),
        name: r.name.clone(),
    })
}

fn flatten_snapshots(nodes: &[SnapshotTree], parent: Option<&str>, out: &mut Vec<vmkit::Snapshot>) {
    for node in nodes {
        out.push(vmkit::Snapshot {
            moref: node.snapshot.value.clone(),
            name: node.name.clone(),
            description: node.description.clone(),
            parent: parent.map(str::to_owned),
            create_time: node.create_time.clone(),
            quiesced: node.quiesced,
        });
        flatten_snapshots(&node.children, Some(&node.snapshot.value), out);
    }
}

fn vmkit_disk(disk: &Disk) -> vmkit::Disk {
    let (backing, backing_type, thin_provisioned, rdm) = match &disk.backing {
        DiskBacking::Flat {
            thin_provisioned, ..
        } => ("flat", None, *thin_provisioned, None),
        DiskBacking::RawDiskMapping {
            compatibility_mode,
            lun_uuid,
            device_name,
        } => (
            "rdm",
            None,
            None,
            Some(vmkit::Rdm {
                compatibility_mode: compatibility_mode.clone(),
                lun_uuid: lun_uuid.clone(),
                device_name: device_name.clone(),
            }),
        ),
        DiskBacking::Sparse { type_name } => ("sparse", Some(type_name.clone()), None, None),
        DiskBacking::Other { type_name } => ("other", Some(type_name.clone()), None, None),
    };
    vmkit::Disk {
        key: disk.key,
        label: disk.label.clone(),
        capacity_bytes: disk.capacity_bytes,
        file_name: disk.file_name.clone(),
        datastore: disk.datastore.as_ref().map(|ds| vmkit::DatastoreRef {
            moref: ds.moref.as_ref().map(|m| m.value.clone()),
            name: ds.name.clone(),
            kind: ds.kind.clone(),
        }),
        controller: disk.controller.as_ref().map(|c| vmkit::DiskController {
            key: c.key,
            kind: c.kind.name().to_owned(),
            bus_number: c.bus_number,
        }),
        unit_number: disk.unit_number,
        mode: disk.disk_mode.as_ref().map(|m| m.as_wire().to_owned()),
        independent: disk.is_independent(),
        sharing: disk.sharing.clone(),
        shared: disk.is_shared(),
        backing: backing.to_owned(),
        backing_type,
        thin_provisioned,
        rdm,
        change_id: disk.change_id.clone(),
        uuid: disk.uuid.clone(),
        change_tracking_enabled: disk.change_tracking_enabled,
    }
}

fn vmkit_nic(vm: &VirtualMachine, nic: &Nic) -> vmkit::Nic {
    let network = match &nic.network {
        NicNetwork::Standard { name, network } => vmkit::NicNetwork {
            kind: "standard".into(),
            name: Some(name.clone()),
            moref: network.as_ref().map(|m| m.value.clone()),
            portgroup_key: None,
            port_key: None,
            switch_uuid: None,
            opaque_network_id: None,
        },
        NicNetwork::Distributed {
            switch_uuid,
            portgroup_key,
            port_key,
            name,
        } => vmkit::NicNetwork {
            kind: "distributed".into(),
            name: name.clone(),
            moref: portgroup_key.clone(),
            portgroup_key: portgroup_key.clone(),
            port_key: port_key.clone(),
            switch_uuid: switch_uuid.clone(),
            opaque_network_id: None,
        },
        NicNetwork::Opaque {
            network_id,
            network_type,
        } => vmkit::NicNetwork {
            kind: "opaque".into(),
            name: network_type.clone(),
            moref: None,
            portgroup_key: None,
            port_key: None,
            switch_uuid: None,
            opaque_network_id: network_id.clone(),
        },
        NicNetwork::None => vmkit::NicNetwork {
            kind: "none".into(),
            name: None,
            moref: None,
            portgroup_key: None,
            port_key: None,
            switch_uuid: None,
            opaque_network_id: None,
        },
    };
    vmkit::Nic {
        key: nic.key,
        label: nic.label.clone(),
        adapter: nic.adapter.name().to_owned(),
        mac_address: nic.mac_address.as_deref().map(str::to_ascii_lowercase),
        address_type: nic.address_type.clone(),
        network,
        connected: nic.connected,
        start_connected: nic.start_connected,
        ip_addresses: vm
            .guest_nic_of(nic)
            .map(|g| {
                g.ip_addresses
                    .iter()
                    .map(|ip| vmkit::GuestIp {
                        address: ip.address.clone(),
                        prefix_length: ip.prefix_length,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

pub fn vmkit_info(vm: &VirtualMachine) -> VmkitInfo {
    let mut snapshots = Vec::new();
    flatten_snapshots(&vm.snapshots, None, &mut snapshots);
    VmkitInfo {
        schema_version: vmkit::SCHEMA_VERSION,
        moref: vm.moref.value.clone(),
        bios_uuid: vm.bios_uuid.clone(),
        instance_uuid: vm.instance_uuid.clone(),
        firmware: vm.firmware.as_wire().to_owned(),
        secure_boot: vm.secure_boot,
        cpu: vmkit::CpuTopology {
            count: count(vm.cpu.count),
            sockets: count(vm.cpu.sockets),
            cores_per_socket: count(vm.cpu.cores_per_socket),
        },
        memory_mib: non_negative(vm.memory_mb),
        power_state: vm.power_state.as_wire().to_owned(),
        template: vm.template,
        guest: vmkit::Guest {
            family: vmkit::guest_family(vm.guest_id.as_deref().unwrap_or_default()).to_owned(),
            id: vm.guest_id.clone(),
            full_name: vm.guest_full_name.clone(),
            tools_guest_id: vm.tools_guest_id.clone(),
            tools_guest_full_name: vm.tools_guest_full_name.clone(),
            hostname: vm.hostname.clone(),
            primary_ip: vm.primary_ip.clone(),
        },
        tools: vmkit::Tools {
            status: vm.tools.status.clone(),
            running_status: vm.tools.running_status.clone(),
        },
        change_tracking_enabled: vm.change_tracking_enabled,
        consolidation_needed: vm.consolidation_needed,
        vm_path_name: vm.vm_path_name.clone(),
        location: vmkit::Location {
            datacenter: named(&vm.location.datacenter),
            datacenter_path: vm.location.datacenter_path.clone(),
            folder: named(&vm.location.folder),
            folder_path: vm.location.folder_path.clone(),
            cluster: named(&vm.location.cluster),
            compute_resource: named(&vm.location.compute_resource),
            host: named(&vm.location.host),
            resource_pool: named(&vm.location.resource_pool),
        },
        snapshots,
        controllers: vm
            .controllers()
            .map(|c| vmkit::Controller {
                key: c.key,
                label: c.label.clone(),
                kind: c.kind.name().to_owned(),
                bus_number: c.bus_number,
                shared_bus: c.shared_bus.clone(),
            })
            .collect(),
        disks: vm.disks().map(vmkit_disk).collect(),
        nics: vm.nics().map(|nic| vmkit_nic(vm, nic)).collect(),
        pci_passthrough: vm
            .pci_passthrough()
            .map(|p| vmkit::PassthroughDevice {
                key: p.key,
                label: p.label.clone(),
                backing_type: p.backing_type.clone(),
                device_name: p.device_name.clone(),
            })
            .collect(),
        usb_devices: vm
            .usb_devices()
            .map(|u| vmkit::PassthroughDevice {
                key: u.key,
                label: u.label.clone(),
                backing_type: u.backing_type.clone(),
                device_name: u.device_name.clone(),
            })
            .collect(),
        tpm: vm.has_tpm(),
    }
}

/// `disk_info.json` in the vSphere Automation API's disk shape.
pub fn disk_info(vm: &VirtualMachine) -> DiskInfo {
    DiskInfo::new(vm.disks().map(rest_disk).collect())
}

fn rest_disk(disk: &Disk) -> RestDisk {
    let kind = disk.controller.as_ref().map(|c| &c.kind);
    let bus = disk
        .controller
        .as_ref()
        .and_then(|c| c.bus_number)
        .unwrap_or(0);
    let unit = disk.unit_number.unwrap_or(0);
    let address = Some(BusAddress { bus, unit });
    let (type_name, scsi, sata, nvme, ide) = match kind {
        Some(ControllerKind::Scsi(_)) => ("SCSI", address, None, None, None),
        Some(ControllerKind::Sata) => ("SATA", None, address, None, None),
        Some(ControllerKind::Nvme) => ("NVME", None, None, address, None),
        Some(ControllerKind::Ide) => (
            "IDE",
            None,
            None,
            None,
            Some(IdeAddress {
                primary: bus == 0,
                master: unit == 0,
            }),
        ),
        _ => ("", None, None, None, None),
    };
    RestDisk {
        disk: disk.key.to_string(),
        label: disk.label.clone(),
        kind: type_name.to_owned(),
        capacity: disk.capacity_bytes,
        backing: RestBacking {
            kind: "VMDK_FILE".to_owned(),
            vmdk_file: disk.file_name.clone(),
        },
        scsi,
        sata,
        nvme,
        ide,
        other: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_names_from_paths() {
        assert_eq!(
            datastore_of_path("[datastore1] web01/web01.vmx").as_deref(),
            Some("datastore1")
        );
        assert_eq!(datastore_of_path("web01.vmx"), None);
    }
}
