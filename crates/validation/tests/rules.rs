//! Each rule on a VM built from a clean one with one problem planted.

use std::collections::{BTreeMap, BTreeSet};

use migration_data::vmkit::{self, VmkitInfo};
use migration_data::{GuestInfo, HwEth, NetworkMap};
use validation::{MigrationType, Plan, Severity, Transport, validate};

fn clean(name: &str, mac: &str) -> GuestInfo {
    let disk = vmkit::Disk {
        key: 2000,
        label: "Hard disk 1".into(),
        capacity_bytes: 1 << 30,
        file_name: Some(format!("[datastore1] {name}/{name}.vmdk")),
        datastore: Some(vmkit::DatastoreRef {
            moref: Some("datastore-1".into()),
            name: Some("datastore1".into()),
            kind: Some("OTHER".into()),
        }),
        controller: Some(vmkit::DiskController {
            key: 1000,
            kind: "pvscsi".into(),
            bus_number: Some(0),
        }),
        unit_number: Some(0),
        mode: Some("persistent".into()),
        independent: false,
        sharing: Some("sharingNone".into()),
        shared: false,
        backing: "flat".into(),
        backing_type: None,
        thin_provisioned: Some(true),
        rdm: None,
        change_id: None,
        uuid: None,
        change_tracking_enabled: Some(true),
    };
    let nic = vmkit::Nic {
        key: 4000,
        label: "Network adapter 1".into(),
        adapter: "vmxnet3".into(),
        mac_address: Some(mac.into()),
        address_type: Some("manual".into()),
        network: vmkit::NicNetwork {
            kind: "standard".into(),
            name: Some("VM Network".into()),
            moref: Some("network-1".into()),
            portgroup_key: None,
            port_key: None,
            switch_uuid: None,
            opaque_network_id: None,
        },
        connected: Some(true),
        start_connected: Some(true),
        ip_addresses: vec![vmkit::GuestIp {
            address: "192.0.2.10".into(),
            prefix_length: Some(24),
        }],
    };
    let vmkit = VmkitInfo {
        schema_version: vmkit::SCHEMA_VERSION,
        moref: "vm-1".into(),
        bios_uuid: None,
        instance_uuid: None,
        firmware: "bios".into(),
        secure_boot: false,
        cpu: vmkit::CpuTopology {
            count: 1,
            sockets: 1,
            cores_per_socket: 1,
        },
        memory_mib: 512,
        power_state: "poweredOn".into(),
        template: false,
        guest: vmkit::Guest {
            id: Some("rhel8_64Guest".into()),
            full_name: Some("Red Hat Enterprise Linux 8 (64-bit)".into()),
            family: "linux".into(),
            tools_guest_id: Some("rhel8_64Guest".into()),
            tools_guest_full_name: None,
            hostname: Some(format!("{name}.example.test")),
            primary_ip: Some("192.0.2.10".into()),
        },
        tools: vmkit::Tools {
            status: Some("toolsOk".into()),
            running_status: Some("guestToolsRunning".into()),
        },
        change_tracking_enabled: true,
        consolidation_needed: false,
        vm_path_name: None,
        location: vmkit::Location::default(),
        snapshots: vec![],
        controllers: vec![vmkit::Controller {
            key: 1000,
            label: "SCSI controller 0".into(),
            kind: "pvscsi".into(),
            bus_number: Some(0),
            shared_bus: Some("noSharing".into()),
        }],
        disks: vec![disk],
        nics: vec![nic],
        pci_passthrough: vec![],
        usb_devices: vec![],
        tpm: false,
    };
    GuestInfo {
        hw_name: name.into(),
        hw_power_status: "poweredOn".into(),
        hw_guest_full_name: vmkit.guest.full_name.clone(),
        hw_guest_id: vmkit.guest.id.clone(),
        hw_product_uuid: None,
        instance_uuid: None,
        hw_processor_count: 1,
        hw_cores_per_socket: 1,
        hw_memtotal_mb: 512,
        hw_folder: "/DC/vm".into(),
        hw_esxi_host: None,
        hw_cluster: None,
        hw_datastores: vec!["datastore1".into()],
        hw_files: vec![],
        hw_is_template: false,
        guest_tools_status: Some("toolsOk".into()),
        guest_consolidation_needed: false,
        ipv4: Some("192.0.2.10".into()),
        ipv6: None,
        moid: "vm-1".into(),
        interfaces: vec![HwEth {
            addresstype: Some("manual".into()),
            label: "Network adapter 1".into(),
            macaddress: mac.into(),
            macaddress_dash: mac.replace(':', "-"),
            ipaddresses: vec!["192.0.2.10".into()],
            summary: "VM Network".into(),
            portgroup_key: None,
            portgroup_portkey: None,
        }],
        vmkit: Some(vmkit),
        other: Default::default(),
    }
}

/// Changes a clean VM so that it has one problem.
type Plant = Box<dyn FnOnce(&mut GuestInfo, &mut VmkitInfo)>;

fn warm() -> Plan {
    Plan {
        migration_type: MigrationType::Warm,
        ..Plan::default()
    }
}

/// The ids (with severity) found on a VM changed by `plant`, validated alone with `plan`.
fn findings(
    plant: impl FnOnce(&mut GuestInfo, &mut VmkitInfo),
    plan: &Plan,
) -> Vec<(String, Severity)> {
    let mut info = clean("web01", "00:50:56:00:00:01");
    let mut vmkit = info.vmkit.take().unwrap();
    plant(&mut info, &mut vmkit);
    info.vmkit = Some(vmkit);
    validate(&[info], plan)
        .unwrap()
        .into_iter()
        .map(|f| (f.id.to_owned(), f.severity))
        .collect()
}

fn one(id: &str, severity: Severity) -> Vec<(String, Severity)> {
    vec![(id.to_owned(), severity)]
}

#[test]
fn a_clean_vm_has_no_finding_cold_or_warm() {
    assert_eq!(findings(|_, _| {}, &warm()), []);
    assert_eq!(findings(|_, _| {}, &Plan::default()), []);
}

#[test]
fn each_planted_problem_gives_exactly_its_finding() {
    use Severity::*;
    let cases: Vec<(&str, Severity, Plant)> = vec![
        (
            "vmware.changed_block_tracking.disabled",
            Critical,
            Box::new(|_, v| v.change_tracking_enabled = false),
        ),
        (
            "vmware.changed_block_tracking.disk.disabled",
            Warning,
            Box::new(|_, v| v.disks[0].change_tracking_enabled = Some(false)),
        ),
        (
            "vmware.snapshot.detected",
            Information,
            Box::new(|_, v| {
                v.snapshots.push(vmkit::Snapshot {
                    moref: "snapshot-1".into(),
                    name: "before".into(),
                    description: String::new(),
                    parent: None,
                    create_time: None,
                    quiesced: false,
                })
            }),
        ),
        (
            "vmware.consolidation_needed",
            Warning,
            Box::new(|_, v| v.consolidation_needed = true),
        ),
        (
            "vmware.disk_mode.independent",
            Critical,
            Box::new(|_, v| {
                v.disks[0].mode = Some("independent_persistent".into());
                v.disks[0].independent = true;
            }),
        ),
        (
            "vmware.disk.rdm.detected",
            Critical,
            Box::new(|_, v| {
                v.disks[0].backing = "rdm".into();
                v.disks[0].independent = true;
                v.disks[0].rdm = Some(vmkit::Rdm {
                    compatibility_mode: Some("physicalMode".into()),
                    lun_uuid: None,
                    device_name: None,
                });
            }),
        ),
        (
            "vmware.disk.shared.detected",
            Warning,
            Box::new(|_, v| {
                v.disks[0].sharing = Some("sharingMultiWriter".into());
                v.disks[0].shared = true;
            }),
        ),
        (
            "vmware.disk.shared.detected",
            Warning,
            Box::new(|_, v| v.controllers[0].shared_bus = Some("physicalSharing".into())),
        ),
        (
            "vmware.datastore.missing",
            Critical,
            Box::new(|_, v| {
                v.disks[0].datastore = None;
                v.disks[0].file_name = Some("/vmfs/volumes/lost.vmdk".into());
            }),
        ),
        (
            "vmware.disk.capacity.invalid",
            Critical,
            Box::new(|_, v| v.disks[0].capacity_bytes = 0),
        ),
        (
            "vmware.passthrough_device.detected",
            Critical,
            Box::new(|_, v| {
                v.pci_passthrough.push(vmkit::PassthroughDevice {
                    key: 13000,
                    label: "PCI device 0".into(),
                    backing_type: None,
                    device_name: Some("GPU".into()),
                })
            }),
        ),
        (
            "vmware.device.sriov.detected",
            Warning,
            Box::new(|_, v| v.nics[0].adapter = "sriov".into()),
        ),
        (
            "vmware.usb_controller.detected",
            Warning,
            Box::new(|_, v| {
                v.controllers.push(vmkit::Controller {
                    key: 7000,
                    label: "USB controller".into(),
                    kind: "usb-xhci".into(),
                    bus_number: None,
                    shared_bus: None,
                })
            }),
        ),
        (
            "vmware.tpm.detected",
            Warning,
            Box::new(|_, v| v.tpm = true),
        ),
        (
            "vmware.os.unsupported",
            Warning,
            Box::new(|i, _| i.hw_guest_id = Some("solaris11_64Guest".into())),
        ),
        (
            "vmware.vm_missing_ip.detected",
            Warning,
            Box::new(|i, v| {
                i.interfaces[0].ipaddresses.clear();
                v.tools.running_status = Some("guestToolsNotRunning".into());
                v.guest.hostname = None;
            }),
        ),
        (
            "vmware.hostname.empty",
            Warning,
            Box::new(|_, v| v.guest.hostname = None),
        ),
        (
            "vmware.hostname.default",
            Warning,
            Box::new(|_, v| v.guest.hostname = Some("localhost.localdomain".into())),
        ),
        (
            "vmware.vm.name.invalid",
            Warning,
            Box::new(|i, _| i.hw_name = "web_01".into()),
        ),
    ];
    for (id, severity, plant) in cases {
        assert_eq!(findings(plant, &warm()), one(id, severity), "{id}");
    }
}

#[test]
fn cbt_matters_for_warm_only() {
    assert_eq!(
        findings(|_, v| v.change_tracking_enabled = false, &Plan::default()),
        []
    );
}

#[test]
fn a_disk_without_cbt_is_reported_once_and_only_where_it_matters() {
    let disk_off = |v: &mut VmkitInfo| v.disks[0].change_tracking_enabled = Some(false);
    assert_eq!(findings(|_, v| disk_off(v), &Plan::default()), [], "cold");
    let vm_off = |_: &mut GuestInfo, v: &mut VmkitInfo| {
        disk_off(v);
        v.change_tracking_enabled = false;
    };
    assert_eq!(
        findings(vm_off, &warm()),
        one("vmware.changed_block_tracking.disabled", Severity::Critical),
        "the VM-level finding covers its disks"
    );
    assert_eq!(
        findings(|_, v| v.disks[0].change_tracking_enabled = None, &warm()),
        [],
        "an extraConfig that does not say is no finding"
    );
    let independent = |_: &mut GuestInfo, v: &mut VmkitInfo| {
        disk_off(v);
        v.disks[0].independent = true;
        v.disks[0].mode = Some("independent_persistent".into());
    };
    assert_eq!(
        findings(independent, &warm()),
        one("vmware.disk_mode.independent", Severity::Critical)
    );
    let info = {
        let mut info = clean("web01", "00:50:56:00:00:01");
        disk_off(info.vmkit.as_mut().unwrap());
        info
    };
    let found = validate(&[info], &warm()).unwrap();
    assert_eq!(
        found[0].object,
        "Hard disk 1 ([datastore1] web01/web01.vmdk)"
    );
    assert!(
        found[0].message.contains("scsi0:0.ctkEnabled"),
        "{}",
        found[0].message
    );
}

#[test]
fn missing_ips_are_a_warning_also_when_fixed_ips_are_kept() {
    let plan = Plan {
        use_fixed_ips: true,
        ..Plan::default()
    };
    assert_eq!(
        findings(|i, _| i.interfaces[0].ipaddresses.clear(), &plan),
        one("vmware.vm_missing_ip.detected", Severity::Warning)
    );
}

#[test]
fn unmapped_networks_and_datastores() {
    let map = NetworkMap::new(&BTreeMap::from([("other".to_owned(), "net".to_owned())])).unwrap();
    let plan = Plan {
        network_map: Some(map),
        ..Plan::default()
    };
    assert_eq!(
        findings(|_, _| {}, &plan),
        one("vmware.network.unmapped", Severity::Critical)
    );
    let map = NetworkMap::new(&BTreeMap::from([(
        "VM Network".to_owned(),
        "net".to_owned(),
    )]))
    .unwrap();
    let plan = Plan {
        network_map: Some(map),
        ..Plan::default()
    };
    assert_eq!(findings(|_, _| {}, &plan), []);
    let plan = Plan {
        mapped_datastores: Some(BTreeSet::from(["datastore2".to_owned()])),
        ..Plan::default()
    };
    assert_eq!(
        findings(|_, _| {}, &plan),
        one("vmware.datastore.unmapped", Severity::Warning)
    );
}

#[test]
fn duplicate_macs_within_the_plan_flag_both_vms() {
    let vms = [
        clean("a", "00:50:56:00:00:99"),
        clean("b", "00:50:56:00:00:99"),
        clean("c", "00:50:56:00:00:01"),
    ];
    let found = validate(&vms, &Plan::default()).unwrap();
    let flagged: Vec<(&str, &str)> = found.iter().map(|f| (f.vm.as_str(), f.id)).collect();
    assert_eq!(
        flagged,
        [("a", "vmware.mac.duplicate"), ("b", "vmware.mac.duplicate")]
    );
    assert!(
        found[0].message.contains("b/Network adapter 1"),
        "{}",
        found[0].message
    );
}

#[test]
fn skipped_rules_and_unknown_ids() {
    let plan = Plan {
        skip_rules: BTreeSet::from(["vmware.tpm.detected".to_owned()]),
        ..Plan::default()
    };
    assert_eq!(findings(|_, v| v.tpm = true, &plan), []);
    let plan = Plan {
        skip_rules: BTreeSet::from(["vmware.nope".to_owned()]),
        ..Plan::default()
    };
    let error = validate(&[clean("a", "m")], &plan).unwrap_err().to_string();
    assert!(
        error.contains("vmware.nope") && error.contains("vmware.tpm.detected"),
        "{error}"
    );
}

#[test]
fn an_original_guest_info_without_vmkit_is_refused() {
    let mut info = clean("a", "m");
    info.vmkit = None;
    let error = validate(&[info], &Plan::default()).unwrap_err().to_string();
    assert!(error.contains("vmkit"), "{error}");
}

#[test]
fn severity_follows_the_plan() {
    let cbt_off = |_: &mut GuestInfo, v: &mut VmkitInfo| v.change_tracking_enabled = false;
    let enable_cbt = Plan {
        enable_cbt: true,
        ..warm()
    };
    assert_eq!(
        findings(cbt_off, &enable_cbt),
        one(
            "vmware.changed_block_tracking.disabled",
            Severity::Information
        ),
        "warm with enable_cbt: migrate turns CBT on"
    );
    let independent = |_: &mut GuestInfo, v: &mut VmkitInfo| {
        v.disks[0].independent = true;
        v.disks[0].mode = Some("independent_persistent".into());
    };
    assert_eq!(
        findings(independent, &Plan::default()),
        one("vmware.disk_mode.independent", Severity::Warning),
        "cold"
    );
}

fn own_snapshot(_: &mut GuestInfo, v: &mut VmkitInfo) {
    v.snapshots.push(vmkit::Snapshot {
        moref: "snapshot-1".into(),
        name: "before patching".into(),
        description: String::new(),
        parent: None,
        create_time: None,
        quiesced: false,
    });
}

#[test]
fn the_https_and_file_transports_refuse_what_is_not_a_flat_extent() {
    for transport in [Transport::Https, Transport::File] {
        let plan = Plan {
            transport,
            ..Plan::default()
        };
        let mut found = findings(own_snapshot, &plan);
        found.sort();
        assert_eq!(
            found,
            [
                (
                    "vmware.disk.transport_unreadable".to_owned(),
                    Severity::Critical
                ),
                ("vmware.snapshot.detected".to_owned(), Severity::Information),
            ],
            "{transport:?}"
        );
        let sesparse = |_: &mut GuestInfo, v: &mut VmkitInfo| {
            v.disks[0].backing = "sparse".into();
            v.disks[0].backing_type = Some("VirtualDiskSeSparseBackingInfo".into());
        };
        assert_eq!(
            findings(sesparse, &plan),
            one("vmware.disk.transport_unreadable", Severity::Critical)
        );
        for kind in ["vsan", "VVOL"] {
            let on_objects = |_: &mut GuestInfo, v: &mut VmkitInfo| {
                v.disks[0].datastore.as_mut().unwrap().kind = Some(kind.into());
            };
            assert_eq!(
                findings(on_objects, &plan),
                one("vmware.disk.transport_unreadable", Severity::Critical),
                "{transport:?} on {kind}"
            );
            assert_eq!(
                findings(on_objects, &Plan::default()),
                [],
                "vddk reads {kind} disks"
            );
        }
    }
    assert_eq!(
        findings(own_snapshot, &Plan::default()),
        one("vmware.snapshot.detected", Severity::Information),
        "vddk reads through the snapshot chain"
    );
}

#[test]
fn a_duplicate_mac_is_critical_only_on_one_network() {
    let a = clean("a", "00:50:56:00:00:99");
    let mut b = clean("b", "00:50:56:00:00:99");
    b.interfaces[0].summary = "Other Network".into();
    let severities = |map: &[(&str, &str)]| -> Vec<(String, Severity)> {
        let map: BTreeMap<String, String> = map
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let plan = Plan {
            network_map: Some(NetworkMap::new(&map).unwrap()),
            ..Plan::default()
        };
        validate(&[a.clone(), b.clone()], &plan)
            .unwrap()
            .into_iter()
            .map(|f| (f.id.to_owned(), f.severity))
            .collect()
    };
    let dup = |severity| vec![("vmware.mac.duplicate".to_owned(), severity); 2];
    assert_eq!(
        severities(&[("VM Network", "net1"), ("Other Network", "net2")]),
        dup(Severity::Warning)
    );
    assert_eq!(
        severities(&[("VM Network", "net1"), ("Other Network", "net1")]),
        dup(Severity::Critical)
    );
}
