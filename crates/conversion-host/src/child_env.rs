//! The environment a child process (nbdkit, virt-v2v-in-place, a probe) gets: only what such
//! tools read, never the rest. The module's and the command line's environment can hold
//! credentials (`VMKIT_VSPHERE_PASSWORD`, `OS_PASSWORD`, a cloud token) that no child needs and
//! that would otherwise be readable in `/proc/<child>/environ` for the child's lifetime.

use std::ffi::OsStr;
use std::process::Command;

/// Variables passed on as they are.
const NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "XDG_RUNTIME_DIR",
    // VDDK installs that are not found through nbdkit's `libdir=` alone.
    "LD_LIBRARY_PATH",
    // Which CA bundle curl trusts, and how it reaches a vCenter behind a proxy.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    // virt-v2v: the drivers it installs in Windows guests.
    "VIRTIO_WIN",
];

/// Families passed on: locale, and libguestfs's and supermin's own settings (virt-v2v).
const PREFIXES: &[&str] = &["LC_", "LIBGUESTFS_", "SUPERMIN_"];

fn kept(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Clears `command`'s environment but for the allowed variables of ours; variables the caller
/// sets afterwards (`command.env(…)`) are added as usual.
pub fn restrict(command: &mut Command) -> &mut Command {
    command.env_clear();
    for (name, value) in std::env::vars_os() {
        if kept(&name) {
            command.env(name, value);
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_behind_and_what_tools_read_is_kept() {
        for secret in [
            "VMKIT_VSPHERE_PASSWORD",
            "OS_PASSWORD",
            "OS_AUTH_TOKEN",
            "OS_CLOUD",
            "AWS_SECRET_ACCESS_KEY",
            "PATHX",
            "http_proxy_password",
        ] {
            assert!(!kept(OsStr::new(secret)), "{secret}");
        }
        for tool in [
            "PATH",
            "LC_ALL",
            "LANG",
            "LIBGUESTFS_BACKEND",
            "TMPDIR",
            "HOME",
        ] {
            assert!(kept(OsStr::new(tool)), "{tool}");
        }
    }
}
