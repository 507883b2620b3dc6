//! The registry of modules. Each module file holds its argument struct and a thin `run` that
//! calls library crates; `scripts/build.sh` makes one `plugins/modules/<name>` symlink per entry.

mod best_match_flavor;
mod cloud;
mod conversion_host_info;
mod create_network_port;
mod create_server;
mod delete_flavor;
mod delete_port;
mod delete_server;
mod delete_volume;
pub(crate) mod export_metadata;
mod flavor_info;
mod import_flavor;
mod inflight_limit;
pub(crate) mod migrate;
mod migration_report;
mod resolve_cloud;
pub(crate) mod validate;
mod vm_power;
mod volume_info;
mod volume_metadata_info;
pub(crate) mod vsphere_connection;

use std::ffi::OsString;
use std::process::ExitCode;

use ansible_module::{ArgSpec, Module, ModuleArgs, run_module};

pub struct ModuleEntry {
    pub name: &'static str,
    pub run: fn(&[OsString]) -> ExitCode,
    pub spec: fn() -> &'static [ArgSpec],
}

const fn entry<M: Module>() -> ModuleEntry {
    ModuleEntry {
        name: M::NAME,
        run: run_module::<M>,
        spec: <M::Args as ModuleArgs>::spec,
    }
}

pub static MODULES: &[ModuleEntry] = &[
    entry::<best_match_flavor::BestMatchFlavor>(),
    entry::<conversion_host_info::ConversionHostInfo>(),
    entry::<create_network_port::CreateNetworkPort>(),
    entry::<create_server::CreateServer>(),
    entry::<delete_flavor::DeleteFlavor>(),
    entry::<delete_port::DeletePort>(),
    entry::<delete_server::DeleteServer>(),
    entry::<delete_volume::DeleteVolume>(),
    entry::<export_metadata::ExportMetadata>(),
    entry::<flavor_info::FlavorInfo>(),
    entry::<import_flavor::ImportFlavor>(),
    entry::<inflight_limit::InflightLimit>(),
    entry::<migrate::Migrate>(),
    entry::<resolve_cloud::ResolveCloud>(),
    entry::<migration_report::MigrationReport>(),
    entry::<validate::Validate>(),
    entry::<volume_info::VolumeInfo>(),
    entry::<volume_metadata_info::VolumeMetadataInfo>(),
    entry::<vm_power::VmPower>(),
];

pub fn find(name: &str) -> Option<&'static ModuleEntry> {
    MODULES.iter().find(|m| m.name == name)
}

/// Runs an async client call from a module's synchronous `run`. Each module invocation is one
/// process doing one job, so a current-thread runtime is all it needs.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    Ok(runtime.block_on(future))
}
