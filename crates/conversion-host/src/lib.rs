//! The conversion host: the machine that reads VMware disks and writes Cinder volumes.
//! Knows nothing of Ansible, vSphere or OpenStack.

pub mod child_env;
pub mod device;
pub mod facts;
pub mod nbdkit;
mod nbdkit_config;
pub mod private_files;
pub mod tools;
pub mod vddk_probe;

pub use facts::{HostFacts, gather};
