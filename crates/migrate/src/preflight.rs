//! What a run refuses before it changes anything (before power-off, snapshot or volume create):
//! everything it can know up front about the source disks, this conversion host and the
//! destination cloud. Each refusal names the playbook variable to fix, and the module option
//! where it differs.

use std::path::Path;

use conversion_host::facts::NbdkitFacts;
use target_cloud::preflight::{self, CloudPlan, VmNeeds, Wanted, variables};
use validation::Severity;
use vsphere::VirtualMachine;
use vsphere::device::{Disk, DiskBacking};
use vsphere::snapshot::SnapshotTree;

use crate::error::{Error, Result};
use crate::names::SNAPSHOT_NAME;
use crate::request::{Request, Transport};

/// Free space the run's log and progress files need at least.
const MIN_FREE_BYTES: u64 = 64 << 20;

/// Disks this transport cannot read. VDDK opens any disk through the snapshot; https and file
/// read one flat extent file per disk, which holds the current state only when the VM has no
/// snapshot of its own. No transport reads an RDM's LUN.
pub fn refuse_unreadable_disks(
    vm: &VirtualMachine,
    disks: &[Disk],
    transport: &Transport,
) -> Result<()> {
    let rdms: Vec<String> = disks
        .iter()
        .filter(|d| d.is_rdm())
        .map(|d| format!("{} ({})", d.label, d.key))
        .collect();
    if !rdms.is_empty() {
        return Err(Error::Refused(format!(
            "VM {:?} has raw device mappings ({}): their data is on a LUN, not in a disk file any \
             transport can copy; remove them from the VM (present the LUN to OpenStack separately), \
             or drop the VM from vms_list",
            vm.name,
            rdms.join(", ")
        )));
    }
    if matches!(transport, Transport::Vddk { .. }) {
        return Ok(());
    }
    let name = transport.name();
    let own = own_snapshots(&vm.snapshots);
    if !own.is_empty() {
        return Err(Error::Refused(format!(
            "VM {:?} has snapshots of its own ({}), so its disks are delta chains and the {name} \
             transport, which reads one flat file per disk, would copy a stale base; delete \
             (consolidate) the snapshots, or set transport: vddk",
            vm.name,
            own.join(", ")
        )));
    }
    let not_flat: Vec<String> = disks
        .iter()
        .filter_map(|d| match &d.backing {
            DiskBacking::Flat { .. } => None,
            DiskBacking::Sparse { type_name } | DiskBacking::Other { type_name } => {
                Some(format!("{} ({type_name})", d.label))
            }
            DiskBacking::RawDiskMapping { .. } => Some(d.label.clone()),
        })
        .collect();
    if !not_flat.is_empty() {
        return Err(Error::Refused(format!(
            "VM {:?}: disks {} are not flat extents the {name} transport can read; set \
             transport: vddk, or convert the disks to flat (thick or thin) VMDKs",
            vm.name,
            not_flat.join(", ")
        )));
    }
    let on_objects: Vec<String> = disks
        .iter()
        .filter_map(|d| {
            let ds = d
                .datastore
                .as_ref()
                .filter(|ds| ds.holds_objects_not_files())?;
            Some(format!(
                "{} ({} datastore {})",
                d.label,
                ds.kind.as_deref().unwrap_or("?"),
                ds.name.as_deref().unwrap_or("?")
            ))
        })
        .collect();
    if !on_objects.is_empty() {
        return Err(Error::Refused(format!(
            "VM {:?}: disks {} are held as objects, not as the flat files the {name} transport \
             downloads; set transport: vddk, or move the VM to a VMFS or NFS datastore first",
            vm.name,
            on_objects.join(", ")
        )));
    }
    Ok(())
}

fn own_snapshots(trees: &[SnapshotTree]) -> Vec<String> {
    let mut found = Vec::new();
    for tree in trees {
        if tree.name != SNAPSHOT_NAME {
            found.push(tree.name.clone());
        }
        found.extend(own_snapshots(&tree.children));
    }
    found
}

/// This conversion host has the transport's nbdkit plugin (for vddk: the plugin loads and finds
/// VDDK in `libdir`, asked the plugin's own way) and room for the run's files.
pub fn refuse_unready_host(request: &Request) -> Result<()> {
    let libdir = match &request.transport {
        Transport::Vddk { libdir, .. } => libdir.as_path(),
        _ => Path::new(""),
    };
    let kind = validation::Transport::parse(request.transport.name())
        .unwrap_or(validation::Transport::Vddk);
    match host_problems(kind, libdir, &request.data_root)
        .into_iter()
        .next()
    {
        Some(problem) => Err(Error::Refused(problem)),
        None => Ok(()),
    }
}

/// Everything this conversion host lacks to read disks over `transport` and keep a run's files
/// under `data_root`, each said with what to do; empty when it is ready. `validate.yml` asks the
/// same of each conversion host (`conversion_host_info` with a transport) before any migration.
pub fn host_problems(
    transport: validation::Transport,
    vddk_libdir: &Path,
    data_root: &Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    let nbdkit = conversion_host::facts::probe_nbdkit();
    if let Some(why) = host_problem(&nbdkit, transport) {
        problems.push(why);
    } else if let (validation::Transport::Vddk, Some(path)) = (transport, &nbdkit.path)
        && let Err(e) = crate::vddk_check::check(path, vddk_libdir)
    {
        problems.push(e.to_string());
    }
    match conversion_host::facts::free_space(data_root) {
        Err(e) => problems.push(format!("cannot check this conversion host: {e}")),
        Ok(space) if space.free_bytes < MIN_FREE_BYTES => problems.push(format!(
            "only {} KiB free at {} for the run's log and progress files; free some space, or set \
             os_migrate_vmw_data_dir (module option osmdatadir) to a directory with room",
            space.free_bytes >> 10,
            space.measured_path.display()
        )),
        Ok(_) => {}
    }
    problems
}

/// Why this host cannot read disks over the transport, if nbdkit itself says so (vddk's plugin
/// and library are the plugin's own probe's to judge: `vddk_check`).
pub fn host_problem(nbdkit: &NbdkitFacts, transport: validation::Transport) -> Option<String> {
    if !nbdkit.installed {
        return Some(
            "nbdkit is not installed on this conversion host; install it (the conversion_host role does)"
                .into(),
        );
    }
    let plugin = |name: &str| nbdkit.plugins.iter().any(|p| p == name);
    match transport {
        validation::Transport::Https if !plugin("curl") => Some(
            "the https transport needs nbdkit's curl plugin, which this conversion host lacks; \
             install it (nbdkit-curl-plugin), or set transport"
                .into(),
        ),
        validation::Transport::File if !plugin("file") => Some(
            "the file transport needs nbdkit's file plugin, which this conversion host lacks; \
             install it, or set transport"
                .into(),
        ),
        _ => None,
    }
}

/// The volumes' types and zone exist and the project has room for the new volumes.
pub async fn refuse_unready_cloud(
    cloud: &openstack::Client,
    request: &Request,
    vm: &VirtualMachine,
    new_disks: &[&Disk],
) -> Result<()> {
    let mut types: Vec<Wanted> = Vec::new();
    for disk in new_disks {
        let wanted = match datastore_type(request, disk) {
            Some(kind) => Wanted::new(kind, variables::VOLUME_TYPE_MAPPING),
            None => match &request.volume_type {
                Some(kind) => Wanted::new(kind.clone(), variables::VOLUME_TYPE),
                None => continue,
            },
        };
        if !types.contains(&wanted) {
            types.push(wanted);
        }
    }
    let plan = CloudPlan {
        vms: vec![VmNeeds {
            name: vm.name.clone(),
            volume_gib: new_disks
                .iter()
                .map(|d| (d.capacity_bytes.max(0) as u64).div_ceil(1 << 30))
                .collect(),
            ..VmNeeds::default()
        }],
        volume_types: types,
        volume_availability_zone: request
            .availability_zone
            .clone()
            .map(|zone| Wanted::new(zone, variables::VOLUME_AVAILABILITY_ZONE)),
        servers: false,
        ..CloudPlan::default()
    };
    let findings = preflight::check(cloud, &plan)
        .await
        .map_err(|cause| Error::Cloud {
            what: "cannot check the destination cloud before starting".into(),
            cause,
        })?;
    let critical: Vec<String> = findings
        .into_iter()
        .filter(|f| f.severity == Severity::Critical)
        .map(|f| format!("{} ({})", f.message, f.id))
        .collect();
    if critical.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(critical.join("; ")))
    }
}

/// The type `volume_type_mapping` gives the disk's datastore.
pub(crate) fn datastore_type(request: &Request, disk: &Disk) -> Option<String> {
    disk.datastore
        .as_ref()
        .and_then(|d| d.name.clone())
        .or_else(|| {
            disk.file_name
                .as_deref()
                .and_then(vsphere::datastore::DatastorePath::parse)
                .map(|p| p.datastore)
        })
        .and_then(|ds| request.volume_type_mapping.get(&ds).cloned())
}
