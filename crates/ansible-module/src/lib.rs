//! The Ansible binary-module protocol.
//!
//! Ansible runs a binary module as `<tmp>/AnsiballZ_<name> <args.json>`: one argument, the path of
//! a flat JSON file with the task's options and `_ansible_*` keys. Ansible itself validates
//! nothing for binary modules — no defaults, no type conversion, no unknown-key check — and takes
//! a non-zero exit with valid JSON as success. So this crate does all of that: it turns the file
//! into a typed argument struct exactly as Ansible's `AnsibleModule` would (same conversions,
//! same error wording), and guarantees that exactly one JSON object reaches stdout, with
//! `failed: true` on every error path including panics, and no `no_log` value anywhere.

mod convert;
mod params;
mod response;
mod runtime;
pub mod secrets;
mod spec;

pub use ansible_module_derive::ModuleArgs;
pub use params::{Invocation, ParamError, parse_invocation, parse_invocation_in};
pub use response::Response;
pub use runtime::{Context, Module, run_module, run_module_with_args};
pub use secrets::Secret;
pub use spec::{ArgSpec, ArgType, ModuleArgs};
