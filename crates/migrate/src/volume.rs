//! The Cinder volume of one VMware disk, and the metadata that records what it holds.
//!
//! Keys (merged, never replacing what others set): `osm` = `true` (ours), `converted`,
//! `changeID` (the vSphere change id of the state the volume holds), `copy_state` (`complete`
//! only once a copy finished: a volume whose full copy did not finish is copied again from the
//! start, never taken for a good one), and where it came from: `vmware_vm`, `vmware_vm_uuid`,
//! `vmware_disk_key`, `migrated_at`. The uuid and disk key say whose disk a volume is; the name
//! is only a label (two VMs' names can map to the same one).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use openstack::Client;
use openstack::cinder::volumes::{self, CreateOpts, ListOpts, Volume};

use crate::error::{Error, Result, Step};

pub const OSM: &str = "osm";
pub const CONVERTED: &str = "converted";
pub const CHANGE_ID: &str = "changeID";
pub const COPY_STATE: &str = "copy_state";
pub const COMPLETE: &str = "complete";
pub const INCOMPLETE: &str = "incomplete";
pub const VM_NAME: &str = "vmware_vm";
pub const VM_UUID: &str = "vmware_vm_uuid";
pub const DISK_KEY: &str = "vmware_disk_key";

const GIB: u64 = 1 << 30;

/// Whole GiB holding `bytes`, rounded up (the original rounded down and cut disks short).
pub fn size_gib(bytes: u64) -> u64 {
    bytes.div_ceil(GIB).max(1)
}

/// Which VM and disk a volume is for.
pub struct Identity<'a> {
    pub vm_name: &'a str,
    /// As vSphere gives it (instanceUuid, else the BIOS uuid): what `vmware_vm_uuid` records.
    pub vm_uuid: &'a str,
    /// The uuid as it may appear in names.
    pub uuid_label: &'a str,
    pub disk_key: i32,
}

/// The volume a disk is copied into.
#[derive(Debug)]
pub enum Found {
    /// A volume whose metadata records this VM and disk.
    Ours(Volume),
    /// The original collection's volume for this disk (its name, no VM recorded): taken over,
    /// stamped with this VM, and copied in full, since what it holds is unknown.
    Adopted(Volume),
    /// None yet: one is created with the chosen name.
    New,
}

#[derive(Debug)]
pub struct Placement {
    pub name: String,
    pub found: Found,
    /// Why the volume is not under the original's name, or was taken over; for the log and the
    /// module's warnings.
    pub note: Option<String>,
}

fn meta_of(v: &Volume, key: &str) -> Option<String> {
    v.metadata.get(key).cloned()
}

/// Finds this disk's volume by identity, else the name it gets. A volume of another VM is never
/// reused, whatever its name: the metadata `vmware_vm_uuid` (+ `vmware_disk_key`) is searched
/// first, then the names of [`crate::names::volume_names`] in turn; a name another VM's volume
/// has is passed over.
pub async fn find(cloud: &Client, id: &Identity<'_>) -> Result<Placement> {
    let key = id.disk_key;
    let by_identity = list(
        cloud,
        None,
        &[
            (VM_UUID, id.vm_uuid.to_owned()),
            (DISK_KEY, key.to_string()),
        ],
    )
    .await?;
    match <[Volume; 1]>::try_from(by_identity) {
        Ok([volume]) => {
            return Ok(Placement {
                name: volume.name.clone(),
                found: Found::Ours(volume),
                note: None,
            });
        }
        Err(found) if !found.is_empty() => {
            return Err(Error::Refused(format!(
                "{} volumes record disk {key} of VM {:?} (vmware_vm_uuid {}): {}; delete the extra \
                 ones (delete_volume) so this disk has exactly one",
                found.len(),
                id.vm_name,
                id.vm_uuid,
                ids(&found)
            )));
        }
        Err(_) => {}
    }
    let names = crate::names::volume_names(id.vm_name, id.uuid_label, key);
    let original = (!crate::names::safe_vm_name(id.vm_name).is_empty()).then(|| names[0].clone());
    let mut passed_over = Vec::new();
    for name in &names {
        let named = list(cloud, Some(name), &[]).await?;
        if named.is_empty() {
            let note = match (&original, passed_over.is_empty()) {
                (Some(_), true) => None,
                (None, _) => Some(format!(
                    "disk {key}: nothing is left of VM name {:?} in a volume name (only ASCII \
                     letters, digits, `-` and `_` are kept); its volume is named {name}",
                    id.vm_name
                )),
                (Some(first), false) => Some(format!(
                    "disk {key}: volume name {first} is another VM's ({}); this disk's volume is \
                     named {name}",
                    passed_over.join("; ")
                )),
            };
            return Ok(Placement {
                name: name.clone(),
                found: Found::New,
                note,
            });
        }
        let unowned: Vec<&Volume> = named
            .iter()
            .filter(|v| {
                Some(name) == original.as_ref()
                    && meta_of(v, VM_UUID).is_none()
                    && meta_of(v, VM_NAME).is_none_or(|n| n == id.vm_name)
            })
            .collect();
        match unowned.as_slice() {
            [volume] => {
                return Ok(Placement {
                    name: name.clone(),
                    found: Found::Adopted((*volume).clone()),
                    note: Some(format!(
                        "disk {key}: volume {name} ({}) records no VM (the original collection \
                         made it); it is taken over for VM {:?} and copied in full",
                        volume.id, id.vm_name
                    )),
                });
            }
            [] => {}
            several => {
                return Err(Error::Refused(format!(
                    "{} volumes are named {name:?} with osm=true and record no VM ({}); delete the \
                     ones that are not disk {key} of VM {:?} (delete_volume)",
                    several.len(),
                    ids(several.iter().copied()),
                    id.vm_name
                )));
            }
        }
        passed_over.push(
            named
                .iter()
                .map(|v| {
                    format!(
                        "{} of vmware_vm_uuid {}",
                        v.id,
                        meta_of(v, VM_UUID).unwrap_or_else(|| "unknown".into())
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    Err(Error::Refused(format!(
        "disk {key} of VM {:?}: every name it could get ({}) is another VM's volume ({}); rename \
         or delete those volumes",
        id.vm_name,
        names.join(", "),
        passed_over.join("; ")
    )))
}

async fn list(cloud: &Client, name: Option<&str>, pairs: &[(&str, String)]) -> Result<Vec<Volume>> {
    let mut metadata = BTreeMap::from([(OSM.to_owned(), "true".to_owned())]);
    metadata.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let opts = ListOpts {
        name: name.map(str::to_owned),
        metadata,
        status: None,
    };
    volumes::list(cloud, &opts).await.step(|| match name {
        Some(name) => format!("cannot look up volume {name:?}"),
        None => "cannot look up the volumes of this VM".to_owned(),
    })
}

fn ids<'a>(found: impl IntoIterator<Item = &'a Volume>) -> String {
    found
        .into_iter()
        .map(|v| v.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an existing volume holds, read from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    /// Final and converted: nothing to do.
    Converted,
    /// A finished copy of the snapshot with this change id (None: CBT was off then).
    Copy { change_id: Option<String> },
    /// A copy that did not finish, or a volume of unknown state: only a full copy makes it good.
    Unknown,
}

pub fn holds(volume: &Volume) -> Holds {
    let meta = &volume.metadata;
    if meta.get(CONVERTED).map(String::as_str) == Some("true") {
        return Holds::Converted;
    }
    match meta.get(COPY_STATE).map(String::as_str) {
        Some(COMPLETE) => Holds::Copy {
            change_id: meta.get(CHANGE_ID).filter(|c| !c.is_empty()).cloned(),
        },
        _ => Holds::Unknown,
    }
}

pub struct NewVolume<'a> {
    pub name: &'a str,
    pub capacity_bytes: u64,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub origin: BTreeMap<String, String>,
}

/// Creates the volume, marked incomplete until its copy finishes, and waits until available.
pub async fn create(cloud: &Client, new: &NewVolume<'_>, timeout: Duration) -> Result<Volume> {
    let mut metadata = new.origin.clone();
    metadata.insert(OSM.into(), "true".into());
    metadata.insert(CONVERTED.into(), "false".into());
    metadata.insert(COPY_STATE.into(), INCOMPLETE.into());
    let opts = CreateOpts {
        name: new.name.to_owned(),
        size: size_gib(new.capacity_bytes),
        volume_type: new.volume_type.clone(),
        availability_zone: new.availability_zone.clone(),
        metadata,
        description: Some("VMware disk copied by os_migrate.vmware_migration_kit".into()),
    };
    let volume = volumes::create(cloud, &opts)
        .await
        .step(|| format!("cannot create volume {:?} ({} GiB)", new.name, opts.size))?;
    volumes::wait_status(cloud, &volume.id, "available", timeout)
        .await
        .step(|| format!("volume {:?} ({})", new.name, volume.id))
}

pub async fn merge(cloud: &Client, id: &str, pairs: &[(&str, String)]) -> Result<()> {
    let metadata: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    volumes::merge_metadata(cloud, id, &metadata)
        .await
        .step(|| format!("cannot update the metadata of volume {id}"))?;
    Ok(())
}

pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(meta: &[(&str, &str)]) -> Volume {
        serde_json::from_value(serde_json::json!({
            "id": "v", "name": "n", "status": "available", "size": 1,
            "metadata": meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_,_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn sizes_round_up_to_whole_gib() {
        assert_eq!(size_gib(1), 1);
        assert_eq!(size_gib(GIB), 1);
        assert_eq!(size_gib(GIB + 512), 2);
        assert_eq!(size_gib(0), 1);
    }

    #[test]
    fn only_a_finished_copy_is_trusted() {
        assert_eq!(holds(&volume(&[("osm", "true")])), Holds::Unknown);
        assert_eq!(
            holds(&volume(&[
                ("copy_state", "incomplete"),
                ("changeID", "x/1")
            ])),
            Holds::Unknown
        );
        assert_eq!(
            holds(&volume(&[("copy_state", "complete"), ("changeID", "x/1")])),
            Holds::Copy {
                change_id: Some("x/1".into())
            }
        );
        assert_eq!(holds(&volume(&[("converted", "true")])), Holds::Converted);
    }
}
