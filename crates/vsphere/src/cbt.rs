//! Changed-block tracking: turning it on (`ReconfigVM_Task`) and `QueryChangedDiskAreas`,
//! which answers one window at a time, so callers loop until the disk is covered.

use crate::error::Error;
use crate::moref::MoRef;
use crate::session::Client;
use crate::task;
use crate::xml::{Element, Writer};

/// A byte range of a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiskExtent {
    pub start: i64,
    pub length: i64,
}

/// `DiskChangeInfo`: the window `[start_offset, start_offset + length)` the answer covers and
/// the changed areas inside it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiskChangeInfo {
    pub start_offset: i64,
    pub length: i64,
    pub changed_areas: Vec<DiskExtent>,
}

impl DiskChangeInfo {
    pub fn decode(info: &Element) -> Result<Self, Error> {
        let number = |e: &Element, name: &str| -> Result<i64, Error> {
            e.parse_at(name)?
                .ok_or_else(|| Error::decode(format!("DiskChangeInfo lacks {name}")))
        };
        Ok(Self {
            start_offset: number(info, "startOffset")?,
            length: number(info, "length")?,
            changed_areas: info
                .children("changedArea")
                .map(|a| {
                    Ok(DiskExtent {
                        start: number(a, "start")?,
                        length: number(a, "length")?,
                    })
                })
                .collect::<Result<_, Error>>()?,
        })
    }
}

/// `ReconfigVM_Task` with `changeTrackingEnabled`; waits for it. CBT takes effect on disks at the
/// next stun/unstun (snapshot, power cycle).
pub async fn set_change_tracking(client: &Client, vm: &MoRef, enabled: bool) -> Result<(), Error> {
    let mut w = Writer::new();
    w.open("spec", None)
        .display("changeTrackingEnabled", enabled)
        .close("spec");
    let response = client.invoke("ReconfigVM_Task", vm, &w.finish()).await?;
    let task_ref = task::returned_task(&response)?;
    task::wait(client, &task_ref, |_| {}).await?;
    Ok(())
}

/// `QueryChangedDiskAreas`: one answer, starting at `start_offset`. `change_id` `"*"` asks for
/// every allocated area; a previous snapshot's change id for what changed since.
pub async fn query_changed_disk_areas(
    client: &Client,
    vm: &MoRef,
    snapshot: Option<&MoRef>,
    device_key: i32,
    start_offset: i64,
    change_id: &str,
) -> Result<DiskChangeInfo, Error> {
    let mut w = Writer::new();
    if let Some(snapshot) = snapshot {
        w.moref("snapshot", snapshot);
    }
    w.display("deviceKey", device_key)
        .display("startOffset", start_offset)
        .text("changeId", change_id);
    let response = client
        .invoke("QueryChangedDiskAreas", vm, &w.finish())
        .await?;
    DiskChangeInfo::decode(response.required("returnval")?)
}

/// Every changed (or, with `"*"`, allocated) area of a disk of `capacity_bytes`, asking window
/// after window until the disk is covered.
pub async fn changed_areas(
    client: &Client,
    vm: &MoRef,
    snapshot: Option<&MoRef>,
    device_key: i32,
    capacity_bytes: i64,
    change_id: &str,
) -> Result<Vec<DiskExtent>, Error> {
    let mut areas = Vec::new();
    let mut offset = 0;
    while offset < capacity_bytes {
        let info =
            query_changed_disk_areas(client, vm, snapshot, device_key, offset, change_id).await?;
        let end = next_offset(offset, &info)?;
        areas.extend(info.changed_areas);
        offset = end;
    }
    Ok(areas)
}

/// Where the next window starts; refuses an answer that does not move forward (which would loop).
fn next_offset(asked: i64, info: &DiskChangeInfo) -> Result<i64, Error> {
    let end = info.start_offset.saturating_add(info.length);
    if info.length <= 0 || end <= asked {
        return Err(Error::decode(format!(
            "QueryChangedDiskAreas at offset {asked} answered the window [{}, +{}), which does not advance",
            info.start_offset, info.length
        )));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_disk_change_info_and_refuses_stuck_windows() {
        let response = crate::soap::decode_response(
            br#"<Envelope><Body><QueryChangedDiskAreasResponse><returnval><startOffset>0</startOffset><length>134217728</length>
            <changedArea><start>0</start><length>65536</length></changedArea>
            <changedArea><start>1048576</start><length>131072</length></changedArea></returnval></QueryChangedDiskAreasResponse></Body></Envelope>"#,
        )
        .unwrap();
        let info = DiskChangeInfo::decode(response.required("returnval").unwrap()).unwrap();
        assert_eq!(info.length, 134217728);
        assert_eq!(
            info.changed_areas[1],
            DiskExtent {
                start: 1048576,
                length: 131072
            }
        );
        assert_eq!(next_offset(0, &info).unwrap(), 134217728);
        let stuck = DiskChangeInfo {
            start_offset: 0,
            length: 0,
            changed_areas: vec![],
        };
        assert!(next_offset(0, &stuck).is_err());
    }
}
