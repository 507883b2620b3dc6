//! Finding a VM: by inventory path (`SearchIndex.FindByInventoryPath`), by BIOS or instance UUID
//! (`FindByUuid`), by name (must be unique), or by reference.

use crate::error::Error;
use crate::moref::MoRef;
use crate::session::Client;
use crate::vm;
use crate::xml::Writer;

/// How a user names a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmSelector {
    /// `vm-42` or `VirtualMachine:vm-42`.
    Moref(MoRef),
    /// Unique name anywhere in the inventory.
    Name(String),
    /// A folder path (the original's `vddkpath`, e.g. `/DC0/vm/Linux`) and the VM's name.
    InventoryPath {
        folder: String,
        name: String,
    },
    BiosUuid(String),
    InstanceUuid(String),
}

/// `DC0/vm/Linux/web01` from a folder path (leading/trailing `/` optional) and a name.
pub fn inventory_path(folder: &str, name: &str) -> String {
    let folder = folder.trim().trim_matches('/');
    if folder.is_empty() {
        name.to_owned()
    } else {
        format!("{folder}/{name}")
    }
}

/// `FindByInventoryPath`: `DC0/vm/Linux/web01`. `None` when nothing is there.
pub async fn find_by_inventory_path(client: &Client, path: &str) -> Result<Option<MoRef>, Error> {
    let mut w = Writer::new();
    w.text("inventoryPath", path.trim().trim_start_matches('/'));
    let this = &client.service_content().search_index;
    let response = client
        .invoke("FindByInventoryPath", this, &w.finish())
        .await?;
    MoRef::child(&response, "returnval")
}

/// `FindByUuid` over VMs: the BIOS UUID (`config.uuid`), or vCenter's instance UUID.
pub async fn find_by_uuid(
    client: &Client,
    uuid: &str,
    instance_uuid: bool,
) -> Result<Option<MoRef>, Error> {
    let mut w = Writer::new();
    w.text("uuid", uuid.trim())
        .display("vmSearch", true)
        .display("instanceUuid", instance_uuid);
    let this = &client.service_content().search_index;
    let response = client.invoke("FindByUuid", this, &w.finish()).await?;
    MoRef::child(&response, "returnval")
}

/// The one VM with this name; an error listing every match when there are several.
pub async fn find_by_name(client: &Client, name: &str) -> Result<MoRef, Error> {
    let (vms, inventory) = vm::list_properties(client, &["name", "parent"]).await?;
    let matches: Vec<_> = vms
        .iter()
        .filter(|o| o.text("name") == Some(name))
        .collect();
    match matches.as_slice() {
        [] => Err(Error::VmNotFound(format!("no VM is named {name:?}"))),
        [one] => Ok(one.obj.clone()),
        many => Err(Error::AmbiguousName {
            name: name.to_owned(),
            count: many.len(),
            matches: many
                .iter()
                .map(|o| {
                    let folder = o
                        .moref("parent")
                        .ok()
                        .flatten()
                        .and_then(|p| inventory.path_of(&p))
                        .unwrap_or_default();
                    format!("{folder}/{name} ({})", o.obj.value)
                })
                .collect(),
        }),
    }
}

/// Resolves a selector to a VM reference that exists.
pub async fn resolve(client: &Client, selector: &VmSelector) -> Result<MoRef, Error> {
    let not_found = |what: String| Error::VmNotFound(what);
    match selector {
        VmSelector::Moref(moref) => {
            crate::power::power_state(client, moref).await?;
            Ok(moref.clone())
        }
        VmSelector::Name(name) => find_by_name(client, name).await,
        VmSelector::InventoryPath { folder, name } => {
            let path = inventory_path(folder, name);
            find_by_inventory_path(client, &path)
                .await?
                .filter(|m| m.kind == "VirtualMachine")
                .ok_or_else(|| not_found(format!("nothing at inventory path /{path}")))
        }
        VmSelector::BiosUuid(uuid) => find_by_uuid(client, uuid, false)
            .await?
            .ok_or_else(|| not_found(format!("no VM has BIOS UUID {uuid}"))),
        VmSelector::InstanceUuid(uuid) => find_by_uuid(client, uuid, true)
            .await?
            .ok_or_else(|| not_found(format!("no VM has instance UUID {uuid}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_inventory_paths() {
        assert_eq!(
            inventory_path("/DC0/vm/Linux/", "web01"),
            "DC0/vm/Linux/web01"
        );
        assert_eq!(inventory_path("", "web01"), "web01");
    }
}
