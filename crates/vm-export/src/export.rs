//! Reading the selected VMs and writing each one's data directory.

use std::path::PathBuf;

use migration_data::network::{PortNic, UnmappedNic, unmapped_nics};
use migration_data::{NetworkMap, VmDataDir, Written};
use tracing::debug;
use vsphere::{Client, Error, FaultKind, MoRef, VirtualMachine};

use crate::convert::{disk_info, guest_info};

/// Reads every VM in one `RetrievePropertiesEx`. When one of them vanished meanwhile
/// (`ManagedObjectNotFound` fails the whole call), reads them one by one so the others still
/// succeed.
pub async fn read_vms(client: &Client, vms: &[MoRef]) -> Vec<Result<VirtualMachine, Error>> {
    match vsphere::vm::get_many(client, vms).await {
        Ok(models) => models.into_iter().map(Ok).collect(),
        Err(error)
            if matches!(
                error.fault().map(|f| &f.kind),
                Some(FaultKind::ManagedObjectNotFound { .. })
            ) || matches!(error, Error::VmNotFound(_)) =>
        {
            debug!(%error, "reading the VMs one by one");
            let mut out = Vec::with_capacity(vms.len());
            for vm in vms {
                out.push(vsphere::vm::get(client, vm).await);
            }
            out
        }
        Err(error) => {
            let message = error.to_string();
            vms.iter()
                .map(|_| Err(Error::Config(message.clone())))
                .collect()
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub data_dir: PathBuf,
    /// `Some`: `nics.json` through the map; `None`: `macs.json`.
    pub network_map: Option<NetworkMap>,
    /// The `subnet` of every `macs.json` entry.
    pub subnet_uuid: String,
    pub check_mode: bool,
}

/// What was (or, in check mode, would be) written for one VM.
#[derive(Debug, Clone)]
pub struct VmExport {
    pub name: String,
    pub moref: String,
    pub path: PathBuf,
    /// File name → `created`, `updated` or `unchanged`.
    pub files: Vec<(&'static str, Written)>,
    /// Check mode only: file name → the JSON it would hold, since nothing is written that a
    /// later step (the flavor choice, the plan) could read.
    pub contents: Vec<(&'static str, serde_json::Value)>,
}

impl VmExport {
    pub fn changed(&self) -> bool {
        self.files.iter().any(|(_, w)| w.changed())
    }
}

pub fn export_vm(
    vm: &VirtualMachine,
    options: &ExportOptions,
) -> Result<VmExport, migration_data::Error> {
    let dir = VmDataDir::new(&options.data_dir, &vm.name)?;
    let info = guest_info(vm);
    let check = options.check_mode;
    // Computed before anything is written, so an unmappable VM leaves no half-written directory.
    let ports = match &options.network_map {
        Some(map) => Some(map.port_nics(&info)?),
        None => None,
    };
    let disks = disk_info(vm);
    let nics = match ports {
        Some(ports) => Nics::Ports(ports),
        None => Nics::Unmapped(unmapped_nics(&info.interfaces, &options.subnet_uuid)),
    };
    let mut files = vec![
        (
            migration_data::data_dir::GUEST_INFO,
            dir.write_guest_info(&info, check)?,
        ),
        (
            migration_data::data_dir::DISK_INFO,
            dir.write_disk_info(&disks, check)?,
        ),
        (
            migration_data::data_dir::NETWORK_INFO,
            dir.write_network_info(&info.interfaces, check)?,
        ),
    ];
    files.push(match &nics {
        Nics::Ports(ports) => (
            migration_data::data_dir::NICS,
            dir.write_port_nics(ports, check)?,
        ),
        Nics::Unmapped(nics) => (
            migration_data::data_dir::MACS,
            dir.write_unmapped_nics(nics, check)?,
        ),
    });
    let contents = if check {
        vec![
            (
                migration_data::data_dir::GUEST_INFO,
                encoded(serde_json::to_value(&info))?,
            ),
            (
                migration_data::data_dir::DISK_INFO,
                encoded(serde_json::to_value(&disks))?,
            ),
            (
                migration_data::data_dir::NETWORK_INFO,
                encoded(serde_json::to_value(&info.interfaces))?,
            ),
            match &nics {
                Nics::Ports(ports) => (
                    migration_data::data_dir::NICS,
                    encoded(serde_json::to_value(ports))?,
                ),
                Nics::Unmapped(nics) => (
                    migration_data::data_dir::MACS,
                    encoded(serde_json::to_value(nics))?,
                ),
            },
        ]
    } else {
        Vec::new()
    };
    Ok(VmExport {
        name: vm.name.clone(),
        moref: vm.moref.value.clone(),
        path: dir.path().to_owned(),
        files,
        contents,
    })
}

/// The VM's NICs, for `nics.json` (through the network map) or `macs.json`.
enum Nics {
    Ports(Vec<PortNic>),
    Unmapped(Vec<UnmappedNic>),
}

fn encoded(
    value: Result<serde_json::Value, serde_json::Error>,
) -> Result<serde_json::Value, migration_data::Error> {
    value.map_err(|e| migration_data::Error::Invalid(format!("cannot encode the metadata: {e}")))
}

/// One requested VM's outcome.
#[derive(Debug)]
pub struct Outcome<T> {
    pub name: String,
    pub result: Result<T, String>,
}

/// Resolves the selection and reads every found VM in one round trip; per-VM failures (not
/// found, ambiguous, vanished) are kept in order with the successes.
pub async fn read_selection(
    client: &Client,
    selection: &crate::Selection,
) -> Result<Vec<Outcome<VirtualMachine>>, Error> {
    let selected = crate::select(client, selection).await?;
    let found: Vec<MoRef> = selected
        .iter()
        .filter_map(|s| s.moref.as_ref().ok().cloned())
        .collect();
    let mut models = read_vms(client, &found).await.into_iter();
    Ok(selected
        .into_iter()
        .map(|s| Outcome {
            result: match s.moref {
                Err(e) => Err(e.to_string()),
                Ok(_) => match models.next() {
                    Some(Ok(vm)) => Ok(vm),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Err("not read".to_owned()),
                },
            },
            name: s.name,
        })
        .collect())
}

/// Exports every selected VM; one VM's failure does not stop the others. The files are written
/// by one thread per CPU: creating thousands of small files is kernel time, not waiting.
pub async fn export_selection(
    client: &Client,
    selection: &crate::Selection,
    options: &ExportOptions,
) -> Result<Vec<Outcome<VmExport>>, Error> {
    let read = read_selection(client, selection).await?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = read.len().div_ceil(threads).max(1);
    Ok(std::thread::scope(|scope| {
        let workers: Vec<_> = read
            .chunks(chunk)
            .map(|vms| {
                scope.spawn(move || {
                    vms.iter()
                        .map(|vm| export_one(vm, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker.join().unwrap_or_else(|_| {
                    vec![Outcome {
                        name: "?".to_owned(),
                        result: Err("the export thread failed".to_owned()),
                    }]
                })
            })
            .collect()
    }))
}

fn export_one(outcome: &Outcome<VirtualMachine>, options: &ExportOptions) -> Outcome<VmExport> {
    Outcome {
        name: outcome.name.clone(),
        result: match &outcome.result {
            Ok(vm) => export_vm(vm, options).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        },
    }
}
