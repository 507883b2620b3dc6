//! One executable for every module of the collection and for the `vmkit` command line.
//!
//! Ansible runs a binary module as `<remote_tmp>/…/AnsiballZ_<module>` (a copy of the file
//! behind `plugins/modules/<module>`), so the module is chosen by the name this process was
//! started as — not by `_ansible_module_name`, which holds whatever alias the task used.
//! Any other name starts the operator command line.

pub mod cli;
pub mod modules;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

/// Runs the module this process was started as, or the command line.
pub fn run(argv: Vec<OsString>) -> ExitCode {
    let invoked = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("vmkit");
    match modules::find(module_name(invoked)) {
        Some(module) => (module.run)(&argv),
        None => cli::main(argv),
    }
}

/// `AnsiballZ_migrate` → `migrate`; `migrate.py` → `migrate`.
fn module_name(invoked: &str) -> &str {
    let name = invoked.strip_prefix("AnsiballZ_").unwrap_or(invoked);
    name.strip_suffix(".py").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::module_name;

    #[test]
    fn strips_ansible_wrapper_names() {
        assert_eq!(
            module_name("AnsiballZ_conversion_host_info"),
            "conversion_host_info"
        );
        assert_eq!(module_name("conversion_host_info"), "conversion_host_info");
        assert_eq!(module_name("migrate.py"), "migrate");
        assert_eq!(module_name("vmkit"), "vmkit");
    }
}
