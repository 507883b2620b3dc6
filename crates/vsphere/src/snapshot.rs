//! Snapshots: the tree (`snapshot` property), `CreateSnapshot_Task`, `RemoveSnapshot_Task`, and
//! the disks a snapshot froze (its own `config.hardware.device`).

use crate::device::{Device, Disk, decode_devices};
use crate::error::Error;
use crate::moref::MoRef;
use crate::property_collector;
use crate::session::Client;
use crate::task;
use crate::vm::PowerState;
use crate::xml::{Element, Writer};

/// One node of a VM's snapshot tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotTree {
    pub snapshot: MoRef,
    pub name: String,
    pub description: String,
    pub id: Option<i32>,
    pub create_time: Option<String>,
    /// The VM's power state when the snapshot was taken.
    pub state: Option<PowerState>,
    pub quiesced: bool,
    pub children: Vec<SnapshotTree>,
}

fn decode_tree(node: &Element) -> Result<SnapshotTree, Error> {
    Ok(SnapshotTree {
        snapshot: MoRef::from_element(node.required("snapshot")?)?,
        name: node.child_text("name").unwrap_or_default().to_owned(),
        description: node
            .child_text("description")
            .unwrap_or_default()
            .to_owned(),
        id: node.parse_at("id")?,
        create_time: node.child_text("createTime").map(str::to_owned),
        state: node
            .child_text("state")
            .map(|s| PowerState::from_wire(s.trim())),
        quiesced: node.bool_at("quiesced")?.unwrap_or(false),
        children: node
            .children("childSnapshotList")
            .map(decode_tree)
            .collect::<Result<_, _>>()?,
    })
}

/// Decodes `VirtualMachineSnapshotInfo`: the current snapshot and the root list.
pub(crate) fn decode_snapshot_info(
    info: &Element,
) -> Result<(Option<MoRef>, Vec<SnapshotTree>), Error> {
    let current = MoRef::child(info, "currentSnapshot")?;
    let roots = info
        .children("rootSnapshotList")
        .map(decode_tree)
        .collect::<Result<_, _>>()?;
    Ok((current, roots))
}

/// Options of `CreateSnapshot_Task`. Memory is never included: a migration copies disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSnapshot {
    pub name: String,
    pub description: String,
    /// Ask VMware Tools to quiesce the guest file systems first.
    pub quiesce: bool,
}

/// `CreateSnapshot_Task`: starts the task.
pub async fn create_snapshot_task(
    client: &Client,
    vm: &MoRef,
    options: &CreateSnapshot,
) -> Result<MoRef, Error> {
    let mut w = Writer::new();
    w.text("name", &options.name)
        .text("description", &options.description)
        .display("memory", false)
        .display("quiesce", options.quiesce);
    let response = client
        .invoke("CreateSnapshot_Task", vm, &w.finish())
        .await?;
    task::returned_task(&response)
}

/// Takes a snapshot and returns its reference.
pub async fn create_snapshot(
    client: &Client,
    vm: &MoRef,
    options: &CreateSnapshot,
    progress: impl FnMut(i32),
) -> Result<MoRef, Error> {
    let task_ref = create_snapshot_task(client, vm, options).await?;
    let info = task::wait(client, &task_ref, progress).await?;
    let result = info
        .result
        .as_ref()
        .ok_or_else(|| Error::decode(format!("{task_ref} returned no snapshot")))?;
    MoRef::from_element(result)
}

/// `RemoveSnapshot_Task`: starts removing one snapshot (not its children).
pub async fn remove_snapshot_task(
    client: &Client,
    snapshot: &MoRef,
    consolidate: bool,
) -> Result<MoRef, Error> {
    let mut w = Writer::new();
    w.display("removeChildren", false)
        .display("consolidate", consolidate);
    let response = client
        .invoke("RemoveSnapshot_Task", snapshot, &w.finish())
        .await?;
    task::returned_task(&response)
}

/// Removes one snapshot, merging its changes into the parent disks when `consolidate`.
pub async fn remove_snapshot(
    client: &Client,
    snapshot: &MoRef,
    consolidate: bool,
    progress: impl FnMut(i32),
) -> Result<(), Error> {
    let task_ref = remove_snapshot_task(client, snapshot, consolidate).await?;
    task::wait(client, &task_ref, progress).await?;
    Ok(())
}

/// The disks as the snapshot froze them: each backing names the frozen file and carries the
/// `changeId` of that moment (the base for the next incremental copy).
pub async fn snapshot_disks(client: &Client, snapshot: &MoRef) -> Result<Vec<Disk>, Error> {
    let content =
        property_collector::retrieve_one(client, snapshot, &["config.hardware.device"]).await?;
    let Some(array) = content.get("config.hardware.device") else {
        return Ok(Vec::new());
    };
    Ok(decode_devices(array)?
        .into_iter()
        .filter_map(|d| match d {
            Device::Disk(disk) => Some(disk),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_snapshot_tree() {
        let info = crate::xml::parse(
            br#"<val xsi:type="VirtualMachineSnapshotInfo"><currentSnapshot type="VirtualMachineSnapshot">snapshot-2</currentSnapshot>
            <rootSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-1</snapshot><vm type="VirtualMachine">vm-1</vm>
              <name>base</name><description>first</description><id>1</id><createTime>2026-01-01T00:00:00Z</createTime>
              <state>poweredOff</state><quiesced>false</quiesced>
              <childSnapshotList><snapshot type="VirtualMachineSnapshot">snapshot-2</snapshot><vm type="VirtualMachine">vm-1</vm>
                <name>next</name><description></description><id>2</id><createTime>2026-01-02T00:00:00Z</createTime>
                <state>poweredOn</state><quiesced>true</quiesced></childSnapshotList>
            </rootSnapshotList></val>"#,
        )
        .unwrap();
        let (current, roots) = decode_snapshot_info(&info).unwrap();
        assert_eq!(
            current,
            Some(MoRef::new("VirtualMachineSnapshot", "snapshot-2"))
        );
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].name, "base");
        assert_eq!(roots[0].children[0].name, "next");
        assert!(roots[0].children[0].quiesced);
        assert_eq!(roots[0].children[0].state, Some(PowerState::PoweredOn));
    }
}
