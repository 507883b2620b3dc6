//! Block Storage v3.

pub mod volume_types;
pub mod volumes;
