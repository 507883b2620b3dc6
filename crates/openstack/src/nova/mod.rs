//! Compute v2.1 with per-call microversions.

pub mod flavors;
pub mod keypairs;
pub mod servers;
pub mod volume_attachments;
