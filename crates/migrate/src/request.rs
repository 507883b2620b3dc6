//! What a caller asks of one migration run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How the conversion host reads the source disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// nbdkit's vddk plugin: the production path; reads a snapshot of a running VM.
    Vddk {
        libdir: PathBuf,
        /// SHA-1 thumbprint of the ESXi/vCenter certificate (`AA:BB:…`).
        thumbprint: String,
        /// VDDK transport modes, e.g. `file:nbdssl:nbd`.
        transports: Option<String>,
        compression: Option<String>,
        /// `vddk_config`: VDDK's own settings, for the plugin's `config=` file.
        config: conversion_host::nbdkit::VddkConfig,
    },
    /// nbdkit's curl plugin over the datastore's `/folder` URL (powered-off VMs in production).
    Https {
        tls: conversion_host::nbdkit::CurlTls,
    },
    /// The datastores mounted on the conversion host: `<root>/<datastore>/<path>` (or
    /// `<root>/<path>`, as the original's `localdiskpath`).
    File { root: PathBuf },
}

impl Transport {
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Vddk { .. } => "vddk",
            Transport::Https { .. } => "https",
            Transport::File { .. } => "file",
        }
    }
}

/// Cold (power off, copy all), a warm sync round (copy while the VM runs), or the cutover
/// (power off, copy the last changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Cold,
    WarmSync,
    Cutover,
}

impl Phase {
    pub fn from_flags(cbt_sync: bool, cutover: bool) -> Self {
        match (cbt_sync, cutover) {
            (true, false) => Phase::WarmSync,
            (true, true) => Phase::Cutover,
            (false, _) => Phase::Cold,
        }
    }

    /// The guest is off during this phase's snapshot, so the copy is final.
    pub fn is_final(self) -> bool {
        !matches!(self, Phase::WarmSync)
    }

    pub fn uses_cbt(self) -> bool {
        !matches!(self, Phase::Cold)
    }
}

/// Running `virt-v2v-in-place` on the copied disks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversionOptions {
    pub run_script: Option<PathBuf>,
    pub firstboot_script: Option<PathBuf>,
    /// More arguments, split like a shell would (no expansion).
    pub extra_args: Vec<String>,
    /// Convert with every disk attached (guests whose file systems span disks).
    pub multi_disk: bool,
    pub debug: bool,
}

/// Which Nova server is this conversion host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversionHostId {
    Uuid(String),
    /// Ask the metadata service at this URL, then fall back to the server named so (if any).
    Discover {
        metadata_url: String,
        server_name: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub vm_name: String,
    /// The VM's folder (the original's `vddkpath`); tried before a lookup by name.
    pub folder: Option<String>,
    pub phase: Phase,
    /// Turn CBT on when a warm phase finds it off.
    pub enable_cbt: bool,
    pub transport: Transport,
    /// `None`: copy only (`skipconversion`); the volumes are still marked converted once final.
    pub conversion: Option<ConversionOptions>,
    pub conversion_host: ConversionHostId,
    pub volume_type: Option<String>,
    /// Datastore name → Cinder volume type.
    pub volume_type_mapping: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    /// New Cinder volumes read as zeroes (most backends): zero runs are not written.
    pub assume_zero: bool,
    pub disk_parallelism: usize,
    /// Graceful shutdown before a hard power-off.
    pub poweroff_timeout: Duration,
    /// `osmdatadir`: the VM's directory (lock, log, default progress file) is made in it,
    /// named by the VM's identity, once the VM is known.
    pub data_root: PathBuf,
    /// Where the progress lines go instead of the VM's directory.
    pub progress_file: Option<PathBuf>,
    pub nbdkit_verbose: bool,
    /// Waits for Cinder and Nova (volume available, attached, detached).
    pub cloud_timeout: Duration,
    /// Bound of each NBD wait on the source (handshake, one request): a stalled source fails
    /// the copy (after the engine's one reconnect) instead of hanging.
    pub nbd_timeout: Duration,
    pub check_mode: bool,
    /// Power a VM that was running when the run began on again when the run fails or is
    /// cancelled after powering it off (`restore_source_power_on_failure`).
    pub restore_source_power: bool,
    /// Renewed by the controller while it waits; the run cancels itself once it lapses.
    pub lease: Option<crate::lease::Lease>,
}
