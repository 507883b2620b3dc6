//! The registry of modules. Each module file holds its argument struct and a thin `run` that
//! calls library crates; `scripts/build.sh` makes one `plugins/modules/<name>` symlink per entry.

mod conversion_host_info;

use std::ffi::OsString;
use std::process::ExitCode;

use ansible_module::{ArgSpec, Module, ModuleArgs, run_module};

pub struct ModuleEntry {
    pub name: &'static str,
    pub run: fn(&[OsString]) -> ExitCode,
    pub spec: fn() -> &'static [ArgSpec],
}

const fn entry<M: Module>() -> ModuleEntry {
    ModuleEntry {
        name: M::NAME,
        run: run_module::<M>,
        spec: <M::Args as ModuleArgs>::spec,
    }
}

pub static MODULES: &[ModuleEntry] = &[entry::<conversion_host_info::ConversionHostInfo>()];

pub fn find(name: &str) -> Option<&'static ModuleEntry> {
    MODULES.iter().find(|m| m.name == name)
}
