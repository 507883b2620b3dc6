//! The per-VM data directory `<os_migrate_vmw_data_dir>/<vm>/` that `export_metadata` writes and
//! the OpenStack side reads: the original collection's file names and field names, plus
//! everything new under one extra key (`vmkit`) of `guest_info.json`.
//!
//! No vSphere or OpenStack client here: only the types, the network mapping rule and the files.
//! The schema is documented in `docs/data-files.md`.

pub mod data_dir;
pub mod disk_info;
pub mod error;
pub mod guest_info;
pub mod network;
pub mod vmkit;

pub use data_dir::{VmDataDir, Written};
pub use disk_info::{DiskInfo, RestDisk};
pub use error::Error;
pub use guest_info::{GuestInfo, HwEth};
pub use network::{NetworkMap, NetworkTarget, PortNic, UnmappedNic};
pub use vmkit::VmkitInfo;
