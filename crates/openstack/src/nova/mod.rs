//! Compute v2.1 with per-call microversions.

pub mod availability_zones;
pub mod flavors;
pub mod keypairs;
pub mod limits;
pub mod servers;
pub mod volume_attachments;
