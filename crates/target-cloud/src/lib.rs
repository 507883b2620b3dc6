//! What the migration makes in the destination cloud, made so that a second run finds what the
//! first one made instead of making it again: ports (kept MACs, fixed IPv4/IPv6 on the right
//! subnet), the server (boot volume, data volumes, key pair), flavors (matched or imported), and
//! deletions by name or id that treat "already gone" as done.
//!
//! Everything made carries [`marker::TAG`], so it can be told from what others made.

pub mod delete;
pub mod error;
pub mod flavor_file;
pub mod flavor_import;
pub mod flavor_match;
pub mod marker;
pub mod ports;
pub mod preflight;
pub mod server;

pub use error::{Error, Result};

/// A flavor as the original's modules returned it (gophercloud's JSON field names), plus the
/// plain names.
pub fn flavor_json(flavor: &openstack::nova::flavors::Flavor) -> serde_json::Value {
    serde_json::json!({
        "id": flavor.id,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "ram": flavor.ram,
        "disk": flavor.disk,
        "swap": flavor.swap,
        "rxtx_factor": flavor.rxtx_factor,
        "os-flavor-access:is_public": flavor.is_public,
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
        "is_public": flavor.is_public,
        "ephemeral": flavor.ephemeral,
        "disabled": flavor.disabled,
        "description": flavor.description,
        "extra_specs": flavor.extra_specs,
    })
}
