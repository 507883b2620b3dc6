//! The rules. Ids and categories are Forklift's (`forklift` is true) where Forklift has the rule;
//! the plan-level checks use the same naming.

use std::collections::BTreeMap;

use migration_data::network::portgroup_names;
use migration_data::vmkit::Disk;

use crate::finding::Severity;
use crate::guest_os;
use crate::hostname;
use crate::plan::{MigrationType, Plan, Transport, Vm};

/// One problem found by a rule; the severity overrides the rule's when set.
pub struct Hit {
    pub object: String,
    pub message: String,
    pub severity: Option<Severity>,
}

fn hit(object: impl Into<String>, message: impl Into<String>) -> Hit {
    Hit {
        object: object.into(),
        message: message.into(),
        severity: None,
    }
}

/// A hit on a named VM, from a rule that looks at all VMs together.
pub type PlanHit = (String, Hit);

pub enum Check {
    Vm(fn(&Vm, &Plan) -> Vec<Hit>),
    Plan(fn(&[Vm], &Plan) -> Vec<PlanHit>),
}

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// Forklift has this rule with this id and category.
    pub forklift: bool,
    pub summary: &'static str,
    pub check: Check,
}

use Severity::{Critical, Information, Warning};

pub const RULES: &[Rule] = &[
    Rule {
        id: "vmware.changed_block_tracking.disabled",
        severity: Warning,
        forklift: true,
        summary: "warm migration of a VM without changed block tracking (critical unless enable_cbt)",
        check: Check::Vm(cbt_disabled),
    },
    Rule {
        id: "vmware.changed_block_tracking.disk.disabled",
        severity: Warning,
        forklift: true,
        summary: "warm migration of a VM with changed block tracking off on a disk",
        check: Check::Vm(disk_cbt_disabled),
    },
    Rule {
        id: "vmware.snapshot.detected",
        severity: Information,
        forklift: true,
        summary: "the VM has snapshots",
        check: Check::Vm(snapshots),
    },
    Rule {
        id: "vmware.consolidation_needed",
        severity: Warning,
        forklift: true,
        summary: "the VM's disks need consolidation",
        check: Check::Vm(consolidation),
    },
    Rule {
        id: "vmware.disk_mode.independent",
        severity: Warning,
        forklift: true,
        summary: "independent disk (left out of snapshots; critical for a warm migration)",
        check: Check::Vm(independent_disks),
    },
    Rule {
        id: "vmware.disk.rdm.detected",
        severity: Critical,
        forklift: true,
        summary: "raw device mapping (its data is on a LUN, not in a disk file the copy can read)",
        check: Check::Vm(rdm_disks),
    },
    Rule {
        id: "vmware.disk.shared.detected",
        severity: Warning,
        forklift: true,
        summary: "disk shared with other VMs",
        check: Check::Vm(shared_disks),
    },
    Rule {
        id: "vmware.disk.transport_unreadable",
        severity: Critical,
        forklift: false,
        summary: "disk the https or file transport cannot read (not a flat extent: VM snapshots, sparse or SE sparse disks)",
        check: Check::Vm(transport_unreadable),
    },
    Rule {
        id: "vmware.datastore.missing",
        severity: Critical,
        forklift: true,
        summary: "disk not on a datastore",
        check: Check::Vm(datastore_missing),
    },
    Rule {
        id: "vmware.disk.capacity.invalid",
        severity: Critical,
        forklift: true,
        summary: "disk capacity 0 or less",
        check: Check::Vm(capacity_invalid),
    },
    Rule {
        id: "vmware.passthrough_device.detected",
        severity: Critical,
        forklift: true,
        summary: "PCI passthrough device",
        check: Check::Vm(passthrough),
    },
    Rule {
        id: "vmware.device.sriov.detected",
        severity: Warning,
        forklift: true,
        summary: "SR-IOV network adapter",
        check: Check::Vm(sriov),
    },
    Rule {
        id: "vmware.usb_controller.detected",
        severity: Warning,
        forklift: true,
        summary: "USB controller or device",
        check: Check::Vm(usb),
    },
    Rule {
        id: "vmware.tpm.detected",
        severity: Warning,
        forklift: true,
        summary: "virtual TPM",
        check: Check::Vm(tpm),
    },
    Rule {
        id: "vmware.os.unsupported",
        severity: Warning,
        forklift: true,
        summary: "guest OS outside the supported list",
        check: Check::Vm(unsupported_os),
    },
    Rule {
        id: "vmware.vm_missing_ip.detected",
        severity: Warning,
        forklift: true,
        summary: "no guest IP address (with use_fixed_ips: the ports get addresses from Neutron)",
        check: Check::Vm(missing_ips),
    },
    Rule {
        id: "vmware.hostname.empty",
        severity: Warning,
        forklift: true,
        summary: "running tools report no hostname",
        check: Check::Vm(hostname_empty),
    },
    Rule {
        id: "vmware.hostname.default",
        severity: Warning,
        forklift: true,
        summary: "hostname is localhost.localdomain",
        check: Check::Vm(hostname_default),
    },
    Rule {
        id: "vmware.vm.name.invalid",
        severity: Warning,
        forklift: true,
        summary: "VM name is not an RFC 1123 hostname of at most 63 characters",
        check: Check::Vm(name_invalid),
    },
    Rule {
        id: "vmware.network.unmapped",
        severity: Critical,
        forklift: false,
        summary: "NIC on a network that network_map does not map",
        check: Check::Vm(network_unmapped),
    },
    Rule {
        id: "vmware.datastore.unmapped",
        severity: Warning,
        forklift: false,
        summary: "disk on a datastore that volume_type_mapping does not map",
        check: Check::Vm(datastore_unmapped),
    },
    Rule {
        id: "vmware.mac.duplicate",
        severity: Critical,
        forklift: false,
        summary: "MAC address used by several NICs of the plan (critical when they land on one network)",
        check: Check::Plan(duplicate_macs),
    },
];

fn cbt_disabled(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    if plan.migration_type != MigrationType::Warm || vm.vmkit.change_tracking_enabled {
        return Vec::new();
    }
    if plan.enable_cbt {
        return vec![Hit {
            severity: Some(Severity::Information),
            ..hit(
                "changeTrackingEnabled",
                "changed block tracking is off; the first sync round turns it on (enable_cbt: true)",
            )
        }];
    }
    // migrate refuses a warm run of such a VM.
    vec![Hit {
        severity: Some(Severity::Critical),
        ..hit(
            "changeTrackingEnabled",
            "changed block tracking is off, so a warm migration cannot copy only the changes and \
             migrate refuses it; set enable_cbt: true to have it turned on, enable it (ctkEnabled) \
             in vSphere, or migrate cold (cbt_sync: false)",
        )
    }]
}

/// The disk's `.vmx` slot (`scsi0:1`), as its `ctkEnabled` key names it.
fn disk_slot(disk: &Disk) -> Option<String> {
    let controller = disk.controller.as_ref()?;
    let bus_type = match controller.kind.as_str() {
        "pvscsi" | "lsilogic" | "lsilogic-sas" | "buslogic" => "scsi",
        kind @ ("sata" | "nvme" | "ide") => kind,
        _ => return None,
    };
    Some(format!(
        "{bus_type}{}:{}",
        controller.bus_number?, disk.unit_number?
    ))
}

fn disk_cbt_disabled(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    // With the VM's CBT off, the VM-level rule says it once for all disks.
    if plan.migration_type != MigrationType::Warm || !vm.vmkit.change_tracking_enabled {
        return Vec::new();
    }
    vm.vmkit
        .disks
        .iter()
        // Independent disks and RDMs are never snapshotted; their own rules report them.
        .filter(|d| d.change_tracking_enabled == Some(false) && !d.independent && d.rdm.is_none())
        .map(|d| {
            let key = disk_slot(d).map_or_else(
                || "its ctkEnabled".to_owned(),
                |slot| format!("{slot}.ctkEnabled"),
            );
            hit(
                disk_label(d),
                format!(
                    "changed block tracking is off for this disk ({key} = FALSE) though on for the VM, so a warm \
                     migration cannot copy only its changes; set {key} to TRUE (or switch the VM's CBT off and \
                     on again) with the VM powered off or before its next snapshot, or migrate cold"
                ),
            )
        })
        .collect()
}

fn snapshots(vm: &Vm, _: &Plan) -> Vec<Hit> {
    let names: Vec<&str> = vm.vmkit.snapshots.iter().map(|s| s.name.as_str()).collect();
    if names.is_empty() {
        return Vec::new();
    }
    vec![hit(
        "snapshot",
        format!(
            "the VM has {} snapshot(s) ({}); the copy reads the current state only and long chains slow it; \
             delete snapshots that are no longer needed",
            names.len(),
            names.join(", ")
        ),
    )]
}

fn consolidation(vm: &Vm, _: &Plan) -> Vec<Hit> {
    if !vm.vmkit.consolidation_needed {
        return Vec::new();
    }
    vec![hit(
        "runtime.consolidationNeeded",
        "the VM's disks need consolidation (redundant delta disks); run Snapshots > Consolidate in vSphere before migrating",
    )]
}

fn disk_label(disk: &Disk) -> String {
    match &disk.file_name {
        Some(file) => format!("{} ({file})", disk.label),
        None => disk.label.clone(),
    }
}

fn independent_disks(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    let warm = plan.migration_type == MigrationType::Warm;
    vm.vmkit
        .disks
        .iter()
        // An RDM's mode is independent by nature; the RDM rule reports it.
        .filter(|d| d.independent && d.rdm.is_none())
        .map(|d| Hit {
            // migrate refuses a warm run of such a VM.
            severity: warm.then_some(Severity::Critical),
            ..hit(
                disk_label(d),
                format!(
                    "disk mode {} keeps the disk out of snapshots, so it cannot be copied through a snapshot \
                     or with changed block tracking; change it to persistent (VM powered off){}",
                    d.mode.as_deref().unwrap_or("independent"),
                    if warm {
                        ", or migrate cold (cbt_sync: false)"
                    } else {
                        ""
                    }
                ),
            )
        })
        .collect()
}

fn rdm_disks(vm: &Vm, _: &Plan) -> Vec<Hit> {
    vm.vmkit
        .disks
        .iter()
        .filter_map(|d| d.rdm.as_ref().map(|rdm| (d, rdm)))
        .map(|(d, rdm)| {
            hit(
                disk_label(d),
                format!(
                    "raw device mapping ({}) of LUN {}: its data is on the LUN, not in a VMDK, and \
                     migrate refuses the VM; present the LUN to OpenStack separately and remove the RDM \
                     from the VM, or migrate it to a virtual disk first (or drop the VM from vms_list)",
                    rdm.compatibility_mode.as_deref().unwrap_or("unknown mode"),
                    rdm.lun_uuid
                        .as_deref()
                        .or(rdm.device_name.as_deref())
                        .unwrap_or("?")
                ),
            )
        })
        .collect()
}

fn transport_unreadable(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    if plan.transport == Transport::Vddk {
        return Vec::new();
    }
    let transport = plan.transport.name();
    let mut hits = Vec::new();
    if !vm.vmkit.snapshots.is_empty() {
        hits.push(hit(
            "snapshot",
            format!(
                "the VM has {} snapshot(s) of its own, so its disks are delta chains and the {transport} \
                 transport, which reads one flat file per disk, would copy a stale base; delete (consolidate) \
                 the snapshots, or set transport: vddk",
                vm.vmkit.snapshots.len()
            ),
        ));
    }
    hits.extend(
        vm.vmkit
            .disks
            .iter()
            // RDMs have their own rule.
            .filter(|d| d.backing != "flat" && d.rdm.is_none())
            .map(|d| {
                hit(
                    disk_label(d),
                    format!(
                        "the disk's backing is {} ({}), not a flat extent the {transport} transport can read; \
                         set transport: vddk, or convert the disk to a flat (thick or thin) VMDK",
                        d.backing,
                        d.backing_type.as_deref().unwrap_or("unknown type")
                    ),
                )
            }),
    );
    hits.extend(
        vm.vmkit
            .disks
            .iter()
            .filter(|d| d.backing == "flat")
            .filter_map(|d| Some((d, d.datastore.as_ref()?)))
            .filter(|(_, ds)| ds.holds_objects_not_files())
            .map(|(d, ds)| {
                hit(
                    disk_label(d),
                    format!(
                        "the disk is on {} datastore {}, which holds it as objects, not as the flat \
                         file the {transport} transport downloads; set transport: vddk, or move the VM \
                         to a VMFS or NFS datastore first",
                        ds.kind.as_deref().unwrap_or("?"),
                        ds.name.as_deref().unwrap_or("?")
                    ),
                )
            }),
    );
    hits
}

fn shared_disks(vm: &Vm, _: &Plan) -> Vec<Hit> {
    let shared_buses: Vec<i32> = vm
        .vmkit
        .controllers
        .iter()
        .filter(|c| {
            c.shared_bus
                .as_deref()
                .is_some_and(|s| s != "noSharing" && !s.is_empty())
        })
        .map(|c| c.key)
        .collect();
    vm.vmkit
        .disks
        .iter()
        .filter(|d| {
            d.shared
                || d.controller
                    .as_ref()
                    .is_some_and(|c| shared_buses.contains(&c.key))
        })
        .map(|d| {
            hit(
                disk_label(d),
                format!(
                    "the disk is shared ({}) with other VMs (clusters); it is copied once per VM and the copies \
                     diverge; migrate it with one VM and attach it as a multiattach volume to the others",
                    d.sharing.as_deref().unwrap_or("shared SCSI bus")
                ),
            )
        })
        .collect()
}

fn datastore_missing(vm: &Vm, _: &Plan) -> Vec<Hit> {
    vm.vmkit
        .disks
        .iter()
        .filter(|d| {
            let named = d
                .datastore
                .as_ref()
                .is_some_and(|ds| ds.name.is_some() || ds.moref.is_some());
            let in_brackets = d
                .file_name
                .as_deref()
                .is_some_and(|f| f.trim().starts_with('['));
            !named && !in_brackets
        })
        .map(|d| {
            hit(
                disk_label(d),
                "the disk is on no datastore, so it cannot be read; move it to a datastore",
            )
        })
        .collect()
}

fn capacity_invalid(vm: &Vm, _: &Plan) -> Vec<Hit> {
    vm.vmkit
        .disks
        .iter()
        .filter(|d| d.capacity_bytes <= 0)
        .map(|d| {
            hit(
                disk_label(d),
                format!(
                    "the disk's capacity is {} bytes; a volume cannot be sized from it; check the disk in vSphere",
                    d.capacity_bytes
                ),
            )
        })
        .collect()
}

fn passthrough(vm: &Vm, _: &Plan) -> Vec<Hit> {
    vm.vmkit
        .pci_passthrough
        .iter()
        .map(|p| {
            hit(
                p.label.clone(),
                format!(
                    "PCI passthrough device {} cannot be migrated; remove it, and give the instance a flavor \
                     with a PCI alias if the guest needs the device",
                    p.device_name.as_deref().unwrap_or(&p.label)
                ),
            )
        })
        .collect()
}

fn sriov(vm: &Vm, _: &Plan) -> Vec<Hit> {
    vm.vmkit
        .nics
        .iter()
        .filter(|n| n.adapter == "sriov")
        .map(|n| {
            hit(
                n.label.clone(),
                "SR-IOV network adapter: the port becomes a normal (virtio) port unless you create a \
                 direct (vnic_type) port on an SR-IOV capable network",
            )
        })
        .collect()
}

fn usb(vm: &Vm, _: &Plan) -> Vec<Hit> {
    let objects: Vec<&str> = vm
        .vmkit
        .controllers
        .iter()
        .filter(|c| c.kind == "usb" || c.kind == "usb-xhci")
        .map(|c| c.label.as_str())
        .chain(vm.vmkit.usb_devices.iter().map(|u| u.label.as_str()))
        .collect();
    if objects.is_empty() {
        return Vec::new();
    }
    vec![hit(
        objects.join(", "),
        "USB controller/devices are not migrated; devices attached to the VM will be missing on OpenStack",
    )]
}

fn tpm(vm: &Vm, _: &Plan) -> Vec<Hit> {
    if !vm.vmkit.tpm {
        return Vec::new();
    }
    vec![hit(
        "Virtual TPM",
        "the virtual TPM's content (BitLocker/LUKS keys, measured boot) is not migrated; suspend disk \
         encryption bound to the TPM before migrating",
    )]
}

fn unsupported_os(vm: &Vm, _: &Plan) -> Vec<Hit> {
    let id = vm.info.hw_guest_id.as_deref().unwrap_or_default();
    let full_name = vm
        .vmkit
        .guest
        .tools_guest_full_name
        .as_deref()
        .or(vm.info.hw_guest_full_name.as_deref());
    if guest_os::supported(id, full_name).is_some() {
        return Vec::new();
    }
    vec![hit(
        "guestId",
        format!(
            "guest OS {} ({}) is not supported for conversion; supported: {}",
            full_name.unwrap_or("unknown"),
            if id.is_empty() { "no guest id" } else { id },
            guest_os::supported_names()
        ),
    )]
}

fn missing_ips(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    if vm.info.interfaces.iter().any(|n| !n.ipaddresses.is_empty()) {
        return Vec::new();
    }
    // A warning also with use_fixed_ips: the original then let Neutron allocate the addresses,
    // and every powered-off VM reports none.
    vec![hit(
        "guest.net",
        if plan.use_fixed_ips {
            "the guest reports no IP address, so its IPs cannot be kept as fixed IPs: its ports get \
             addresses from Neutron; to keep them, power the VM on with VMware Tools running and export again"
        } else {
            "the guest reports no IP address (VM off or VMware Tools not running); IPs cannot be checked or kept"
        },
    )]
}

fn hostname_empty(vm: &Vm, _: &Plan) -> Vec<Hit> {
    // Without running tools the hostname is unknown, not empty (missing IPs reports that case).
    if !vm.vmkit.tools.running()
        || vm
            .vmkit
            .guest
            .hostname
            .as_deref()
            .is_some_and(|h| !h.is_empty())
    {
        return Vec::new();
    }
    vec![hit(
        "guest.hostName",
        "VMware Tools report no hostname; set one in the guest so the instance keeps it",
    )]
}

fn hostname_default(vm: &Vm, _: &Plan) -> Vec<Hit> {
    match vm.vmkit.guest.hostname.as_deref() {
        Some(name)
            if name.eq_ignore_ascii_case("localhost.localdomain")
                || name.eq_ignore_ascii_case("localhost") =>
        {
            vec![hit(
                "guest.hostName",
                format!("the guest's hostname is {name}; set a real hostname in the guest"),
            )]
        }
        _ => Vec::new(),
    }
}

fn name_invalid(vm: &Vm, _: &Plan) -> Vec<Hit> {
    if hostname::is_valid(&vm.info.hw_name) {
        return Vec::new();
    }
    vec![hit(
        "name",
        format!(
            "the VM name {:?} is not a valid hostname (RFC 1123: letters, digits, '-', '.', at most {} characters); \
             the instance's hostname will be altered; rename the VM or set the hostname explicitly",
            vm.info.hw_name,
            hostname::MAX_LENGTH
        ),
    )]
}

fn network_unmapped(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    let Some(map) = &plan.network_map else {
        return Vec::new();
    };
    vm.info
        .interfaces
        .iter()
        .zip(portgroup_names(vm.info))
        .filter(|(eth, name)| map.target_of(eth, name.as_deref()).is_none())
        .map(|(eth, name)| {
            hit(
                eth.label.clone(),
                format!(
                    "network {} (key {:?}) is not in network_map, so this NIC would be dropped; add it to network_map",
                    name.as_deref().unwrap_or(&eth.summary),
                    eth.network_key()
                ),
            )
        })
        .collect()
}

fn datastore_unmapped(vm: &Vm, plan: &Plan) -> Vec<Hit> {
    let Some(mapped) = &plan.mapped_datastores else {
        return Vec::new();
    };
    vm.vmkit
        .disks
        .iter()
        .filter_map(|d| d.datastore.as_ref().and_then(|ds| ds.name.as_deref()).map(|ds| (d, ds)))
        .filter(|(_, ds)| !mapped.contains(*ds))
        .map(|(d, ds)| {
            hit(
                disk_label(d),
                format!(
                    "datastore {ds} is not in volume_type_mapping, so the volume gets the default volume type; \
                     add {{vmware_datastore: {ds}, openstack_type: ...}}"
                ),
            )
        })
        .collect()
}

/// (VM, NIC, the Neutron network its port goes on: `None` when unmapped or not mapped at all,
/// then every such NIC lands on the one network the roles use for them).
type MacOwner<'a> = (&'a str, &'a str, Option<String>);

fn duplicate_macs(vms: &[Vm], plan: &Plan) -> Vec<PlanHit> {
    let mut owners: BTreeMap<String, Vec<MacOwner>> = BTreeMap::new();
    for vm in vms {
        for (eth, name) in vm.info.interfaces.iter().zip(portgroup_names(vm.info)) {
            if !eth.macaddress.is_empty() {
                let network = plan
                    .network_map
                    .as_ref()
                    .and_then(|map| map.target_of(eth, name.as_deref()))
                    .map(|t| t.network.clone());
                owners
                    .entry(eth.macaddress.to_ascii_lowercase())
                    .or_default()
                    .push((vm.info.hw_name.as_str(), eth.label.as_str(), network));
            }
        }
    }
    owners
        .into_iter()
        .filter(|(_, nics)| nics.len() > 1)
        .flat_map(|(mac, nics)| {
            let all: Vec<String> = nics
                .iter()
                .map(|(vm, nic, _)| format!("{vm}/{nic}"))
                .collect();
            let one_network = nics
                .iter()
                .enumerate()
                .any(|(i, (_, _, a))| nics[i + 1..].iter().any(|(_, _, b)| a == b));
            nics.iter()
                .map(|(vm, nic, _)| {
                    let found = if one_network {
                        hit(
                            *nic,
                            format!(
                                "MAC {mac} is used by {} on one Neutron network, which refuses a second port \
                                 with the same MAC; change one of the MACs in vSphere, or map them to \
                                 different networks (network_map)",
                                all.join(", ")
                            ),
                        )
                    } else {
                        Hit {
                            severity: Some(Severity::Warning),
                            ..hit(
                                *nic,
                                format!(
                                    "MAC {mac} is used by {}, on different Neutron networks (allowed); \
                                     hosts that see both networks may be confused",
                                    all.join(", ")
                                ),
                            )
                        }
                    };
                    (vm.to_string(), found)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
