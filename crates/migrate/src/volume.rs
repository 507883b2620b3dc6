//! The Cinder volume of one VMware disk, and the metadata that records what it holds.
//!
//! Keys (merged, never replacing what others set): `osm` = `true` (ours), `converted`,
//! `changeID` (the vSphere change id of the state the volume holds), `copy_state` (`complete`
//! only once a copy finished: a volume whose full copy did not finish is copied again from the
//! start, never taken for a good one), and where it came from: `vmware_vm`, `vmware_vm_uuid`,
//! `vmware_disk_key`, `migrated_at`.

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

const GIB: u64 = 1 << 30;

/// Whole GiB holding `bytes`, rounded up (the original rounded down and cut disks short).
pub fn size_gib(bytes: u64) -> u64 {
    bytes.div_ceil(GIB).max(1)
}

/// The volume an earlier run made for this disk, if any.
pub async fn find(cloud: &Client, name: &str) -> Result<Option<Volume>> {
    let opts = ListOpts {
        name: Some(name.to_owned()),
        metadata: BTreeMap::from([(OSM.to_owned(), "true".to_owned())]),
        status: None,
    };
    let mut found = volumes::list(cloud, &opts)
        .await
        .step(|| format!("cannot look up volume {name:?}"))?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(Error::Refused(format!(
            "{n} volumes are named {name:?} with osm=true ({}); delete the extra ones \
             (delete_volume) so this disk has exactly one",
            found
                .iter()
                .map(|v| v.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
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
