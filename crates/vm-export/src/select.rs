//! Which VMs to export: names (each must match exactly one VM), a folder (every VM under it),
//! or names within a folder. Names and folders come from one cheap property-collector call.

use vsphere::inventory::Inventory;
use vsphere::property_collector::ObjectContent;
use vsphere::{Client, Error, MoRef};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    pub names: Vec<String>,
    /// `/DC-Lab/vm/Production` (inventory path) or `Production` (below the datacenter's VM folder).
    pub folder: Option<String>,
}

/// One requested VM: its reference, or why it could not be found.
#[derive(Debug)]
pub struct SelectedVm {
    pub name: String,
    pub moref: Result<MoRef, Error>,
}

fn normalize(path: &str) -> String {
    path.trim().trim_matches('/').to_owned()
}

/// `Production/Linux` from `DC-Lab/vm/Production/Linux`.
fn below_vm_folder(path: &str) -> Option<&str> {
    let mut parts = path.splitn(3, '/');
    let _datacenter = parts.next()?;
    (parts.next()? == "vm").then(|| parts.next().unwrap_or(""))
}

fn in_folder(folder_path: &str, wanted: &str) -> bool {
    let path = normalize(folder_path);
    let under = |p: &str| p == wanted || p.starts_with(&format!("{wanted}/"));
    under(&path) || below_vm_folder(&path).is_some_and(under)
}

/// Resolves a selection. Fails as a whole only when the selection is empty or the folder
/// holds no VM; a name that matches none or several VMs fails alone.
pub async fn select(client: &Client, selection: &Selection) -> Result<Vec<SelectedVm>, Error> {
    let (vms, inventory) = vsphere::vm::list_properties(client, &["name", "parent"]).await?;
    resolve(&vms, &inventory, selection)
}

fn folder_of(vm: &ObjectContent, inventory: &Inventory) -> String {
    vm.moref("parent")
        .ok()
        .flatten()
        .and_then(|p| inventory.path_of(&p))
        .unwrap_or_default()
}

fn resolve(
    vms: &[ObjectContent],
    inventory: &Inventory,
    selection: &Selection,
) -> Result<Vec<SelectedVm>, Error> {
    let folder = selection.folder.as_deref().map(normalize);
    let candidates: Vec<&ObjectContent> = vms
        .iter()
        .filter(|vm| {
            folder
                .as_deref()
                .is_none_or(|f| in_folder(&folder_of(vm, inventory), f))
        })
        .collect();
    if selection.names.is_empty() {
        let Some(folder) = folder else {
            return Err(Error::Config(
                "no VM selected: give vmname (a name or a list) or folder".into(),
            ));
        };
        if candidates.is_empty() {
            return Err(Error::VmNotFound(format!("no VM in folder {folder:?}")));
        }
        return Ok(candidates
            .iter()
            .filter_map(|vm| {
                vm.text("name").map(|name| SelectedVm {
                    name: name.to_owned(),
                    moref: Ok(vm.obj.clone()),
                })
            })
            .collect());
    }
    let mut seen = std::collections::HashSet::new();
    Ok(selection
        .names
        .iter()
        .filter(|name| seen.insert(name.as_str()))
        .map(|name| {
            let matches: Vec<&&ObjectContent> = candidates
                .iter()
                .filter(|vm| vm.text("name") == Some(name.as_str()))
                .collect();
            let moref = match matches.as_slice() {
                [] => Err(Error::VmNotFound(match &folder {
                    Some(f) => format!("no VM is named {name:?} in folder {f:?}"),
                    None => format!("no VM is named {name:?}"),
                })),
                [one] => Ok(one.obj.clone()),
                many => Err(Error::AmbiguousName {
                    name: name.clone(),
                    count: many.len(),
                    matches: many
                        .iter()
                        .map(|vm| format!("{}/{name} ({})", folder_of(vm, inventory), vm.obj.value))
                        .collect(),
                }),
            };
            SelectedVm {
                name: name.clone(),
                moref,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsphere::xml::Element;

    fn vm(moref: &str, name: &str) -> ObjectContent {
        ObjectContent {
            obj: MoRef::virtual_machine(moref),
            props: vec![(
                "name".to_owned(),
                Element {
                    name: "val".to_owned(),
                    xsi_type: None,
                    ref_type: None,
                    text: name.to_owned(),
                    children: Vec::new(),
                },
            )],
            missing: Vec::new(),
        }
    }

    #[test]
    fn each_name_resolves_alone_unique_missing_or_ambiguous() {
        let vms = [vm("vm-1", "web01"), vm("vm-2", "db01"), vm("vm-3", "db01")];
        let selection = Selection {
            names: vec!["web01".into(), "nope".into(), "db01".into(), "web01".into()],
            folder: None,
        };
        let selected = resolve(&vms, &Inventory::default(), &selection).unwrap();
        let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["web01", "nope", "db01"], "duplicates asked once");
        assert_eq!(selected[0].moref.as_ref().unwrap().value, "vm-1");
        assert!(matches!(selected[1].moref, Err(Error::VmNotFound(_))));
        assert!(matches!(
            selected[2].moref,
            Err(Error::AmbiguousName { count: 2, .. })
        ));
    }

    #[test]
    fn an_empty_selection_is_refused() {
        let error = resolve(&[], &Inventory::default(), &Selection::default()).unwrap_err();
        assert!(error.to_string().contains("vmname"), "{error}");
    }

    #[test]
    fn folders_match_by_inventory_path_or_below_the_vm_folder() {
        assert!(in_folder("/DC-Lab/vm/Production/Linux", "Production"));
        assert!(in_folder(
            "/DC-Lab/vm/Production/Linux",
            "DC-Lab/vm/Production/Linux"
        ));
        assert!(!in_folder("/DC-Lab/vm/ProductionX", "Production"));
        assert!(!in_folder("/DC-Lab/vm/Test", "Production"));
    }
}
