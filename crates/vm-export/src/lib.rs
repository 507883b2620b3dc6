//! From vSphere to the per-VM data directory: choose the VMs (by name, list or folder), read
//! them all in one property-collector round trip, convert each to the `migration-data` files
//! and write them. One VM's failure never stops the others.

pub mod convert;
pub mod export;
pub mod select;

pub use convert::{disk_info, guest_info};
pub use export::{
    ExportOptions, Outcome, VmExport, export_selection, export_vm, read_selection, read_vms,
};
pub use select::{SelectedVm, Selection, select};
