//! Migrating a vSphere VM's disks into Cinder volumes on an OpenStack conversion host: cold,
//! or warm in rounds with changed-block tracking and a final cutover. One snapshot for all
//! disks, the guest powered off before any final snapshot, every disk copied by our engine from
//! nbdkit into the volume's device, the volume's metadata recording exactly the state it holds,
//! and everything a run creates (snapshot, attachments, nbdkit, secret files) removed on every
//! exit path. See [`run`] for why the steps are ordered as they are.

mod attach;
mod cleanup;
pub mod conversion;
mod error;
pub mod guest_network;
mod host;
mod journal;
pub mod lease;
mod lock;
pub mod names;
pub mod preflight;
pub mod request;
pub mod run;
mod source;
pub mod status;
mod transfer;
mod vddk_check;
pub mod volume;

pub use error::{Error, Result, SourcePower};
pub use request::{ConversionHostId, ConversionOptions, Phase, Request, Transport};
pub use run::{DiskMode, DiskOutcome, Outcome, Report, RunFiles, Vsphere, migrate};
