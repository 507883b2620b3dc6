//! Block Storage v3.

pub mod availability_zones;
pub mod limits;
pub mod volume_types;
pub mod volumes;
