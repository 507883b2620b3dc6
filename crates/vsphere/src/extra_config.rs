//! `config.extraConfig`, the VM's `.vmx` options, as far as a migration needs them: the per-disk
//! changed-block tracking flags `scsi0:1.ctkEnabled = "TRUE"` (also `sata`, `nvme`, `ide`). Other
//! keys are never kept: `guestinfo.*` may hold secrets (cloud-init user data, passwords).

use std::collections::BTreeMap;

use crate::device::{ControllerKind, Disk};
use crate::xml::Element;

/// Per-disk `ctkEnabled` flags by slot (`scsi0:1`), from an `ArrayOfOptionValue`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskTracking {
    by_slot: BTreeMap<String, bool>,
}

impl DiskTracking {
    pub fn decode(options: &Element) -> Self {
        let by_slot = options
            .children("OptionValue")
            .filter_map(|option| {
                let key = option.child_text("key")?.trim();
                let slot = key
                    .strip_suffix(".ctkEnabled")
                    .filter(|slot| slot.contains(':'))?;
                let value = option.child_text("value")?.trim();
                let enabled = if value.eq_ignore_ascii_case("true") {
                    true
                } else if value.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return None;
                };
                Some((slot.to_ascii_lowercase(), enabled))
            })
            .collect();
        Self { by_slot }
    }

    /// The disk's flag; `None` when the `.vmx` does not say (CBT never enabled, or no slot).
    pub fn of(&self, disk: &Disk) -> Option<bool> {
        self.by_slot.get(&disk_slot(disk)?).copied()
    }
}

/// The disk's `.vmx` slot: bus type, bus number and unit, as in `scsi0:1`.
pub fn disk_slot(disk: &Disk) -> Option<String> {
    let controller = disk.controller.as_ref()?;
    let bus_type = match controller.kind {
        ControllerKind::Scsi(_) => "scsi",
        ControllerKind::Sata => "sata",
        ControllerKind::Nvme => "nvme",
        ControllerKind::Ide => "ide",
        _ => return None,
    };
    Some(format!(
        "{bus_type}{}:{}",
        controller.bus_number?, disk.unit_number?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{ControllerRef, DiskBacking, ScsiKind};

    fn disk(kind: ControllerKind, bus: i32, unit: i32) -> Disk {
        Disk {
            key: 2000,
            label: "Hard disk 1".into(),
            controller_key: Some(1000),
            controller: Some(ControllerRef {
                key: 1000,
                kind,
                bus_number: Some(bus),
            }),
            unit_number: Some(unit),
            capacity_bytes: 1024,
            file_name: None,
            datastore: None,
            disk_mode: None,
            sharing: None,
            backing: DiskBacking::Other {
                type_name: "x".into(),
            },
            change_id: None,
            uuid: None,
            change_tracking_enabled: None,
        }
    }

    #[test]
    fn reads_only_per_disk_ctk_flags() {
        let xml = br#"<val xsi:type="ArrayOfOptionValue">
            <OptionValue xsi:type="OptionValue"><key>ctkEnabled</key><value xsi:type="xsd:string">TRUE</value></OptionValue>
            <OptionValue xsi:type="OptionValue"><key>scsi0:0.ctkEnabled</key><value xsi:type="xsd:string">TRUE</value></OptionValue>
            <OptionValue xsi:type="OptionValue"><key>scsi0:1.ctkEnabled</key><value xsi:type="xsd:string">false</value></OptionValue>
            <OptionValue xsi:type="OptionValue"><key>SATA0:2.ctkEnabled</key><value xsi:type="xsd:string">TRUE</value></OptionValue>
            <OptionValue xsi:type="OptionValue"><key>nvme0:0.ctkEnabled</key><value xsi:type="xsd:string">maybe</value></OptionValue>
            <OptionValue xsi:type="OptionValue"><key>guestinfo.userdata</key><value xsi:type="xsd:string">secret</value></OptionValue>
        </val>"#;
        let tracking = DiskTracking::decode(&crate::xml::parse(xml).unwrap());
        let scsi = |unit| disk(ControllerKind::Scsi(ScsiKind::ParaVirtual), 0, unit);
        assert_eq!(tracking.of(&scsi(0)), Some(true));
        assert_eq!(tracking.of(&scsi(1)), Some(false));
        assert_eq!(tracking.of(&scsi(2)), None);
        assert_eq!(tracking.of(&disk(ControllerKind::Sata, 0, 2)), Some(true));
        assert_eq!(tracking.of(&disk(ControllerKind::Nvme, 0, 0)), None);
        assert_eq!(tracking.by_slot.len(), 3, "{tracking:?}");
        assert_eq!(
            disk_slot(&disk(ControllerKind::Ide, 1, 0)).as_deref(),
            Some("ide1:0")
        );
        assert_eq!(disk_slot(&disk(ControllerKind::Usb, 0, 0)), None);
    }
}
