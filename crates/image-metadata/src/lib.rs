//! The image properties of a migrated VM's boot volume (`os-set_image_metadata`), which Nova
//! reads when it boots from the volume: a pure function of what `export_metadata` recorded about
//! the VM and whether the guest was converted.
//!
//! A converted guest has virtio drivers, so it gets virtio disks and NICs as virt-v2v's
//! OpenStack output gives them. An unconverted guest keeps devices its own drivers know: the
//! bus of its boot disk and an emulated NIC (e1000), since a Windows guest without virtio
//! drivers does not boot from a virtio disk. UEFI firmware gives `q35` + `uefi`.

use std::collections::BTreeMap;

use migration_data::vmkit::{VmkitInfo, guest_family};

pub type ImageMetadata = BTreeMap<String, String>;

/// The properties to set on the boot volume.
pub fn image_metadata(vm: &VmkitInfo, converted: bool) -> ImageMetadata {
    let mut out = ImageMetadata::new();
    let mut set = |key: &str, value: &str| {
        out.insert(key.to_owned(), value.to_owned());
    };
    let guest_id = vm
        .guest
        .id
        .as_deref()
        .or(vm.guest.tools_guest_id.as_deref())
        .unwrap_or("");
    let family = match vm.guest.family.as_str() {
        "linux" | "windows" => vm.guest.family.as_str(),
        _ => guest_family(guest_id),
    };
    let efi = vm.is_efi();

    set("architecture", architecture(guest_id));
    set("hypervisor_type", "kvm");
    set("vm_mode", "hvm");
    set("hw_video_model", "vga");
    set("hw_machine_type", if efi { "q35" } else { "pc" });
    if efi {
        set("hw_firmware_type", "uefi");
    }
    if family != "other" {
        set("os_type", family);
    }
    if let Some((distro, version)) = distro_and_version(guest_id, vm.guest.full_name.as_deref()) {
        set("os_distro", distro);
        if let Some(version) = version {
            set("os_version", &version);
        }
    }
    let cpu = vm.cpu;
    if cpu.sockets > 0 && cpu.cores_per_socket > 0 {
        set("hw_cpu_sockets", &cpu.sockets.to_string());
        set("hw_cpu_cores", &cpu.cores_per_socket.to_string());
        set("hw_cpu_threads", "1");
    } else if cpu.count > 0 {
        set("hw_cpu_sockets", "1");
        set("hw_cpu_cores", &cpu.count.to_string());
    }

    if converted {
        set("hw_disk_bus", "virtio");
        set("hw_vif_model", "virtio");
    } else {
        let controller = vm
            .boot_disk()
            .and_then(|d| d.controller.as_ref())
            .map(|c| c.kind.as_str())
            .unwrap_or("");
        let (bus, scsi_model) = unconverted_disk_bus(controller, efi);
        set("hw_disk_bus", bus);
        if let Some(model) = scsi_model {
            set("hw_scsi_model", model);
        }
        let adapter = vm.nics.first().map(|n| n.adapter.as_str()).unwrap_or("");
        set("hw_vif_model", unconverted_vif_model(adapter));
    }
    out
}

/// `x86_64` unless the guest id says 32-bit or ARM.
fn architecture(guest_id: &str) -> &'static str {
    let id = guest_id.to_ascii_lowercase();
    if id.starts_with("arm") {
        "aarch64"
    } else if id.is_empty() || id.contains("64") {
        "x86_64"
    } else {
        "i686"
    }
}

/// The bus (and SCSI controller model) of the VM's boot disk that QEMU can emulate and the
/// guest's own drivers know. Nova offers no NVMe bus; SATA (AHCI) has in-box drivers everywhere.
/// q35 has no IDE, so a UEFI guest on IDE gets SATA.
fn unconverted_disk_bus(controller: &str, efi: bool) -> (&'static str, Option<&'static str>) {
    match controller {
        // VMware Tools installs the PVSCSI driver, and QEMU emulates that controller.
        "pvscsi" => ("scsi", Some("vmpvscsi")),
        "lsilogic-sas" => ("scsi", Some("lsisas1068")),
        "lsilogic" => ("scsi", Some("lsilogic")),
        "buslogic" => ("scsi", Some("buslogic")),
        "ide" if !efi => ("ide", None),
        _ => ("sata", None),
    }
}

/// The NIC model an unconverted guest has a driver for. QEMU's e1000e and e1000 match VMware's;
/// vmxnet3 is not offered by Nova's libvirt driver, and e1000 has in-box Windows and Linux drivers.
fn unconverted_vif_model(adapter: &str) -> &'static str {
    match adapter {
        "e1000e" => "e1000e",
        "pcnet32" | "vlance" => "pcnet",
        _ => "e1000",
    }
}

/// Glance's `os_distro` (libosinfo short names, with virt-v2v's renames) and `os_version` from
/// the vSphere guest id, with the version read from the full name when the id has none.
fn distro_and_version(
    guest_id: &str,
    full_name: Option<&str>,
) -> Option<(&'static str, Option<String>)> {
    let id = guest_id.to_ascii_lowercase();
    if id.starts_with("win") {
        return Some(("windows", windows_version(&id).map(str::to_owned)));
    }
    const DISTROS: &[(&str, &str)] = &[
        ("rhel", "rhel"),
        ("centos", "centos"),
        ("rockylinux", "rocky"),
        ("almalinux", "almalinux"),
        ("oraclelinux", "ol"),
        ("ubuntu", "ubuntu"),
        ("debian", "debian"),
        ("sles", "sled"),
        ("opensuse", "opensuse"),
        ("fedora", "fedora"),
        ("amazonlinux", "amazonlinux"),
        ("photon", "photon"),
    ];
    let (prefix, distro) = DISTROS.iter().find(|(prefix, _)| id.starts_with(prefix))?;
    let digits: String = id[prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    // `rhel8_64Guest` says 8; `ubuntu64Guest` says only 64-bit, so look at the full name.
    let version = if !digits.is_empty() && !id[prefix.len()..].starts_with("64") {
        Some(digits)
    } else {
        full_name.and_then(version_in_name)
    };
    Some((distro, version))
}

/// "Red Hat Enterprise Linux 9 (64-bit)" → 9; "Ubuntu Linux 22.04 (64-bit)" → 22.04.
fn version_in_name(name: &str) -> Option<String> {
    name.split(|c: char| c.is_whitespace() || c == '(')
        .filter(|word| !word.contains("bit"))
        .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|word| {
            word.trim_end_matches(|c: char| !c.is_ascii_digit())
                .to_owned()
        })
        .filter(|v| !v.is_empty())
}

/// Windows NT version (what virt-v2v's inspection reports) from the guest id.
fn windows_version(id: &str) -> Option<&'static str> {
    const VERSIONS: &[(&str, &str)] = &[
        ("windows2019srv", "10.0"),
        ("windows2022srv", "10.0"),
        ("windows2016srv", "10.0"),
        ("windows11", "10.0"),
        ("windows9", "10.0"),
        ("windows8srv", "6.2"),
        ("windows8", "6.2"),
        ("windows7srv", "6.1"),
        ("windows7", "6.1"),
        ("winlonghorn", "6.0"),
        ("winvista", "6.0"),
        ("winnetenterprise", "5.2"),
        ("winnetstandard", "5.2"),
        ("winxppro", "5.1"),
    ];
    VERSIONS
        .iter()
        .find(|(prefix, _)| id.starts_with(prefix))
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A VM as export_metadata records it: guest id, firmware, topology, boot controller, NIC.
    fn vm(
        guest_id: &str,
        full_name: &str,
        firmware: &str,
        controller: &str,
        adapter: &str,
    ) -> VmkitInfo {
        serde_json::from_value(json!({
            "schema_version": 1, "moref": "vm-1", "bios_uuid": null, "instance_uuid": null,
            "firmware": firmware, "secure_boot": false,
            "cpu": {"count": 4, "sockets": 2, "cores_per_socket": 2},
            "memory_mib": 4096, "power_state": "poweredOff", "template": false,
            "guest": {"id": guest_id, "full_name": full_name, "family": guest_family(guest_id),
                      "tools_guest_id": null, "tools_guest_full_name": null, "hostname": null, "primary_ip": null},
            "tools": {"status": null, "running_status": null},
            "change_tracking_enabled": false, "consolidation_needed": false, "vm_path_name": null,
            "location": {}, "tpm": false,
            "disks": [{"key": 2000, "label": "Hard disk 1", "capacity_bytes": 1073741824, "file_name": null,
                       "datastore": null, "controller": {"key": 1000, "type": controller, "bus_number": 0},
                       "unit_number": 0, "mode": "persistent", "independent": false, "sharing": null,
                       "shared": false, "backing": "flat", "backing_type": null, "thin_provisioned": true,
                       "rdm": null, "change_id": null, "uuid": null}],
            "nics": [{"key": 4000, "label": "Network adapter 1", "adapter": adapter, "mac_address": "00:50:56:aa:bb:cc",
                      "address_type": "assigned", "network": {"type": "standard", "name": "VM Network", "moref": null,
                      "portgroup_key": null, "port_key": null, "switch_uuid": null, "opaque_network_id": null},
                      "connected": true, "start_connected": true}]
        }))
        .expect("vmkit json")
    }

    fn props(pairs: &[(&str, &str)]) -> ImageMetadata {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const COMMON: &[(&str, &str)] = &[
        ("architecture", "x86_64"),
        ("hypervisor_type", "kvm"),
        ("vm_mode", "hvm"),
        ("hw_video_model", "vga"),
        ("hw_cpu_sockets", "2"),
        ("hw_cpu_cores", "2"),
        ("hw_cpu_threads", "1"),
    ];

    /// Guest id, full name, firmware, boot controller, NIC adapter, converted, and the expected
    /// properties beyond COMMON.
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        bool,
        &'a [(&'a str, &'a str)],
    );

    #[test]
    fn table_of_cases() {
        // (guest id, full name, firmware, boot controller, NIC, converted) -> the properties
        // beyond COMMON.
        let cases: &[Case] = &[
            (
                "rhel9_64Guest",
                "Red Hat Enterprise Linux 9 (64-bit)",
                "efi",
                "pvscsi",
                "vmxnet3",
                true,
                &[
                    ("hw_disk_bus", "virtio"),
                    ("hw_vif_model", "virtio"),
                    ("hw_machine_type", "q35"),
                    ("hw_firmware_type", "uefi"),
                    ("os_type", "linux"),
                    ("os_distro", "rhel"),
                    ("os_version", "9"),
                ],
            ),
            (
                "ubuntu64Guest",
                "Ubuntu Linux 22.04 (64-bit)",
                "bios",
                "lsilogic",
                "e1000",
                true,
                &[
                    ("hw_disk_bus", "virtio"),
                    ("hw_vif_model", "virtio"),
                    ("hw_machine_type", "pc"),
                    ("os_type", "linux"),
                    ("os_distro", "ubuntu"),
                    ("os_version", "22.04"),
                ],
            ),
            // Windows without virtio drivers: keeps its SCSI controller model and gets e1000.
            (
                "windows2019srv_64Guest",
                "Microsoft Windows Server 2019 (64-bit)",
                "efi",
                "lsilogic-sas",
                "vmxnet3",
                false,
                &[
                    ("hw_disk_bus", "scsi"),
                    ("hw_scsi_model", "lsisas1068"),
                    ("hw_vif_model", "e1000"),
                    ("hw_machine_type", "q35"),
                    ("hw_firmware_type", "uefi"),
                    ("os_type", "windows"),
                    ("os_distro", "windows"),
                    ("os_version", "10.0"),
                ],
            ),
            (
                "windows9_64Guest",
                "Microsoft Windows 10 (64-bit)",
                "bios",
                "sata",
                "e1000e",
                false,
                &[
                    ("hw_disk_bus", "sata"),
                    ("hw_vif_model", "e1000e"),
                    ("hw_machine_type", "pc"),
                    ("os_type", "windows"),
                    ("os_distro", "windows"),
                    ("os_version", "10.0"),
                ],
            ),
            (
                "windows7srv_64Guest",
                "Microsoft Windows Server 2008 R2 (64-bit)",
                "bios",
                "pvscsi",
                "vmxnet3",
                false,
                &[
                    ("hw_disk_bus", "scsi"),
                    ("hw_scsi_model", "vmpvscsi"),
                    ("hw_vif_model", "e1000"),
                    ("hw_machine_type", "pc"),
                    ("os_type", "windows"),
                    ("os_distro", "windows"),
                    ("os_version", "6.1"),
                ],
            ),
            // IDE stays IDE on pc, becomes SATA on q35 (which has no IDE); NVMe becomes SATA.
            (
                "centos7_64Guest",
                "CentOS 7 (64-bit)",
                "bios",
                "ide",
                "e1000",
                false,
                &[
                    ("hw_disk_bus", "ide"),
                    ("hw_vif_model", "e1000"),
                    ("hw_machine_type", "pc"),
                    ("os_type", "linux"),
                    ("os_distro", "centos"),
                    ("os_version", "7"),
                ],
            ),
            (
                "debian12_64Guest",
                "Debian GNU/Linux 12 (64-bit)",
                "efi",
                "ide",
                "e1000",
                false,
                &[
                    ("hw_disk_bus", "sata"),
                    ("hw_vif_model", "e1000"),
                    ("hw_machine_type", "q35"),
                    ("hw_firmware_type", "uefi"),
                    ("os_type", "linux"),
                    ("os_distro", "debian"),
                    ("os_version", "12"),
                ],
            ),
            (
                "sles15_64Guest",
                "SUSE Linux Enterprise 15 (64-bit)",
                "efi",
                "nvme",
                "vmxnet3",
                false,
                &[
                    ("hw_disk_bus", "sata"),
                    ("hw_vif_model", "e1000"),
                    ("hw_machine_type", "q35"),
                    ("hw_firmware_type", "uefi"),
                    ("os_type", "linux"),
                    ("os_distro", "sled"),
                    ("os_version", "15"),
                ],
            ),
            // An OS we cannot name gets no os_* properties.
            (
                "otherGuest64",
                "Other (64-bit)",
                "bios",
                "buslogic",
                "e1000",
                false,
                &[
                    ("hw_disk_bus", "scsi"),
                    ("hw_scsi_model", "buslogic"),
                    ("hw_vif_model", "e1000"),
                    ("hw_machine_type", "pc"),
                ],
            ),
        ];
        for &(guest_id, full_name, firmware, controller, adapter, converted, expected) in cases {
            let got = image_metadata(
                &vm(guest_id, full_name, firmware, controller, adapter),
                converted,
            );
            let mut want = props(COMMON);
            want.extend(props(expected));
            assert_eq!(
                got, want,
                "{guest_id} {firmware} {controller} {adapter} converted={converted}"
            );
        }
    }

    #[test]
    fn architecture_and_topology_fallbacks() {
        let mut thirty_two = vm(
            "rhel6Guest",
            "Red Hat Enterprise Linux 6 (32-bit)",
            "bios",
            "lsilogic",
            "e1000",
        );
        thirty_two.cpu.sockets = 0;
        let got = image_metadata(&thirty_two, true);
        assert_eq!(got["architecture"], "i686");
        assert_eq!(got["os_version"], "6");
        assert_eq!(
            (got["hw_cpu_sockets"].as_str(), got["hw_cpu_cores"].as_str()),
            ("1", "4")
        );
        assert!(!got.contains_key("hw_cpu_threads"));
        let arm = vm("arm-debian11-64", "Debian 11", "efi", "nvme", "vmxnet3");
        assert_eq!(image_metadata(&arm, true)["architecture"], "aarch64");
    }
}
