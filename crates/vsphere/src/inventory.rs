//! The inventory tree around VMs (folders, datacenters, clusters, hosts, resource pools,
//! datastores, networks): names and parents, from which paths like `/DC0/vm/Linux` are built.

use std::collections::HashMap;

use crate::error::Error;
use crate::moref::MoRef;
use crate::property_collector::{ObjectContent, PropertySpec, TraversalSpec};

/// A managed entity known by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct NamedRef {
    pub moref: MoRef,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entity {
    pub name: String,
    pub parent: Option<MoRef>,
    /// A distributed portgroup's `key` (what a NIC backing names).
    pub portgroup_key: Option<String>,
    /// A datastore's `summary.type` (`VMFS`, `NFS`, `vsan`, `VVOL`, …).
    pub datastore_type: Option<String>,
}

/// Names and parents of inventory objects, keyed by reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    entities: HashMap<MoRef, Entity>,
}

/// Properties read from the non-VM objects of a walk.
pub(crate) fn entity_property_specs() -> Vec<PropertySpec> {
    let mut specs: Vec<PropertySpec> = [
        "Folder",
        "Datacenter",
        "ComputeResource",
        "ClusterComputeResource",
        "HostSystem",
        "ResourcePool",
        "Network",
    ]
    .iter()
    .map(|kind| PropertySpec::new(kind, &["name", "parent"]))
    .collect();
    specs.push(PropertySpec::new(
        "Datastore",
        &["name", "parent", "summary.type"],
    ));
    specs.push(PropertySpec::new(
        "DistributedVirtualPortgroup",
        &["name", "parent", "key"],
    ));
    specs
}

/// Traversals that walk down from the root folder to every VM, host, resource pool,
/// datastore and network.
pub(crate) fn downward_traversals() -> Vec<TraversalSpec> {
    const ALL: &[&str] = &[
        "folderChildren",
        "dcVmFolder",
        "dcHostFolder",
        "dcNetworkFolder",
        "dcDatastoreFolder",
        "crHosts",
        "crPool",
        "vappVms",
    ];
    vec![
        TraversalSpec::new("folderChildren", "Folder", "childEntity", ALL),
        TraversalSpec::new("dcVmFolder", "Datacenter", "vmFolder", &["folderChildren"]),
        TraversalSpec::new(
            "dcHostFolder",
            "Datacenter",
            "hostFolder",
            &["folderChildren"],
        ),
        TraversalSpec::new(
            "dcNetworkFolder",
            "Datacenter",
            "networkFolder",
            &["folderChildren"],
        ),
        TraversalSpec::new(
            "dcDatastoreFolder",
            "Datacenter",
            "datastoreFolder",
            &["folderChildren"],
        ),
        TraversalSpec::new("crHosts", "ComputeResource", "host", &[]),
        TraversalSpec::new(
            "crPool",
            "ComputeResource",
            "resourcePool",
            &["poolChildren"],
        ),
        TraversalSpec::new(
            "poolChildren",
            "ResourcePool",
            "resourcePool",
            &["poolChildren", "vappVms"],
        ),
        // The VMs of a vApp are in no folder's childEntity.
        TraversalSpec::new("vappVms", "VirtualApp", "vm", &[]),
    ]
}

/// Traversals that walk up from one VM to its folders, datacenter, resource pools, compute
/// resource and its hosts, and over to its datastores and networks.
pub(crate) fn upward_traversals() -> Vec<TraversalSpec> {
    vec![
        TraversalSpec::new("vmParent", "VirtualMachine", "parent", &["up", "crHosts"]),
        TraversalSpec::new(
            "vmPool",
            "VirtualMachine",
            "resourcePool",
            &["up", "crHosts"],
        ),
        TraversalSpec::new("vmDatastores", "VirtualMachine", "datastore", &[]),
        TraversalSpec::new("vmNetworks", "VirtualMachine", "network", &[]),
        TraversalSpec::new("up", "ManagedEntity", "parent", &["up", "crHosts"]),
        TraversalSpec::new("crHosts", "ComputeResource", "host", &[]),
    ]
}

impl Inventory {
    /// Adds the non-VM objects of a retrieve result.
    pub(crate) fn absorb(&mut self, objects: &[ObjectContent]) -> Result<(), Error> {
        for object in objects {
            if object.obj.kind == "VirtualMachine" {
                continue;
            }
            let Some(name) = object.text("name") else {
                continue;
            };
            self.entities.insert(
                object.obj.clone(),
                Entity {
                    name: name.to_owned(),
                    parent: object.moref("parent")?,
                    portgroup_key: object.text("key").map(str::to_owned),
                    datastore_type: object.text("summary.type").map(str::to_owned),
                },
            );
        }
        Ok(())
    }

    pub fn name_of(&self, moref: &MoRef) -> Option<&str> {
        self.entities.get(moref).map(|e| e.name.as_str())
    }

    pub fn named(&self, moref: &MoRef) -> Option<NamedRef> {
        self.name_of(moref).map(|name| NamedRef {
            moref: moref.clone(),
            name: name.to_owned(),
        })
    }

    /// The `summary.type` of a datastore, when the walk read it.
    pub fn datastore_type(&self, moref: &MoRef) -> Option<&str> {
        self.entities
            .get(moref)
            .and_then(|e| e.datastore_type.as_deref())
    }

    pub fn parent_of(&self, moref: &MoRef) -> Option<&MoRef> {
        self.entities.get(moref).and_then(|e| e.parent.as_ref())
    }

    /// The ancestors of `start` (parent first), stopping at an unknown object or a cycle.
    pub fn ancestors(&self, start: &MoRef) -> Vec<MoRef> {
        let mut chain = Vec::new();
        let mut current = self.parent_of(start);
        while let Some(parent) = current {
            if chain.contains(parent) || chain.len() > 256 {
                break;
            }
            chain.push(parent.clone());
            current = self.parent_of(parent);
        }
        chain
    }

    /// The first ancestor (or `start` itself) of one of the given types.
    pub fn ancestor_of_kind(&self, start: &MoRef, kinds: &[&str]) -> Option<MoRef> {
        std::iter::once(start.clone())
            .chain(self.ancestors(start))
            .find(|m| kinds.contains(&m.kind.as_str()))
    }

    /// `/DC0/vm/Linux` style path of an entity: names from below the root folder down to it.
    /// The root folder (whose parent is unset) is not part of paths.
    pub fn path_of(&self, moref: &MoRef) -> Option<String> {
        let own = self.name_of(moref)?;
        let mut names: Vec<&str> = vec![own];
        for ancestor in self.ancestors(moref) {
            if self.parent_of(&ancestor).is_none() {
                break;
            }
            names.push(self.name_of(&ancestor)?);
        }
        names.reverse();
        Some(format!("/{}", names.join("/")))
    }

    /// The name of the distributed portgroup with this key.
    pub fn portgroup_name(&self, key: &str) -> Option<&str> {
        self.entities
            .iter()
            .find(|(moref, e)| {
                moref.kind == "DistributedVirtualPortgroup"
                    && (e.portgroup_key.as_deref() == Some(key) || moref.value == key)
            })
            .map(|(_, e)| e.name.as_str())
    }

    /// Every object of a type, with its name.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = NamedRef> + 'a {
        self.entities
            .iter()
            .filter(move |(m, _)| m.kind == kind)
            .map(|(m, e)| NamedRef {
                moref: m.clone(),
                name: e.name.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(name: &str, parent: Option<MoRef>) -> Entity {
        Entity {
            name: name.into(),
            parent,
            portgroup_key: None,
            datastore_type: None,
        }
    }

    #[test]
    fn builds_paths_without_the_root_folder() {
        let root = MoRef::new("Folder", "group-d1");
        let dc = MoRef::new("Datacenter", "datacenter-2");
        let vm_folder = MoRef::new("Folder", "group-v3");
        let linux = MoRef::new("Folder", "group-v9");
        let mut inventory = Inventory::default();
        inventory
            .entities
            .insert(root.clone(), entity("Datacenters", None));
        inventory
            .entities
            .insert(dc.clone(), entity("DC0", Some(root)));
        inventory
            .entities
            .insert(vm_folder.clone(), entity("vm", Some(dc.clone())));
        inventory
            .entities
            .insert(linux.clone(), entity("Linux", Some(vm_folder)));
        assert_eq!(inventory.path_of(&linux).as_deref(), Some("/DC0/vm/Linux"));
        assert_eq!(inventory.path_of(&dc).as_deref(), Some("/DC0"));
        assert_eq!(
            inventory.ancestor_of_kind(&linux, &["Datacenter"]),
            Some(dc)
        );
    }
}
