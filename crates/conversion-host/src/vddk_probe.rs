//! nbdkit's own check of its vddk plugin and of VDDK: `nbdkit vddk --dump-plugin libdir=DIR`
//! loads the plugin, tries VixDiskLib from `DIR` (without failing when it is not there) and says
//! what it found. The same nbdkit and plugin a migration starts, so what passes here loads there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the plugin found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VddkProbe {
    /// The plugin's version (that of the nbdkit it was built with).
    pub plugin_version: Option<String>,
    /// The VixDiskLib major version the plugin loaded from `libdir` (`vddk_library_version`);
    /// none when it found no library there.
    pub library_major: Option<u32>,
    /// The library it loaded, links resolved (`vddk_dll`): its name carries the full version.
    pub library: Option<PathBuf>,
}

impl VddkProbe {
    /// `8.0.3` from `…/libvixDiskLib.so.8.0.3`, when the loaded file's name has it.
    pub fn library_version(&self) -> Option<String> {
        version_of_library(self.library.as_deref()?)
    }
}

/// `libvixDiskLib.so.8.0.3` → `8.0.3`.
pub(crate) fn version_of_library(path: &Path) -> Option<String> {
    let version = path
        .file_name()?
        .to_str()?
        .strip_prefix("libvixDiskLib.so.")?;
    (!version.is_empty()).then(|| version.to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot run {nbdkit}: {source}")]
    Spawn {
        nbdkit: PathBuf,
        source: std::io::Error,
    },
    /// nbdkit could not load the plugin: its last words.
    #[error("`nbdkit vddk --dump-plugin` failed ({status}): {said}")]
    NoPlugin {
        status: std::process::ExitStatus,
        said: String,
    },
}

pub fn probe(nbdkit: &Path, libdir: &Path) -> Result<VddkProbe, ProbeError> {
    let mut libdir_arg = std::ffi::OsString::from("libdir=");
    libdir_arg.push(libdir);
    let out = crate::tools::output_within(
        crate::child_env::restrict(&mut Command::new(nbdkit))
            .arg("vddk")
            .arg("--dump-plugin")
            .arg(libdir_arg),
        crate::tools::PROBE_TIMEOUT,
    )
    .map_err(|source| ProbeError::Spawn {
        nbdkit: nbdkit.to_owned(),
        source,
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(ProbeError::NoPlugin {
            status: out.status,
            // nbdkit's error, not the `Use 'nbdkit --help'` line after it.
            said: stderr
                .lines()
                .find(|l| l.contains("error:"))
                .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
                .unwrap_or("")
                .trim()
                .to_owned(),
        });
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// `key=value` lines. The plugin re-executes nbdkit to load VDDK, which can print them twice:
/// the last value of a key wins.
fn parse(text: &str) -> VddkProbe {
    let fields: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    VddkProbe {
        plugin_version: fields.get("version").map(|v| v.to_string()),
        library_major: fields
            .get("vddk_library_version")
            .and_then(|v| v.parse().ok()),
        library: fields.get("vddk_dll").map(PathBuf::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_plugin_and_library_it_found() {
        let probe = parse(
            "path=/usr/lib64/nbdkit/plugins/nbdkit-vddk-plugin.so\nname=vddk\nversion=1.38.3\n\
             vddk_default_libdir=/usr/lib64/vmware-vix-disklib\nvddk_library_version=8\n\
             vddk_dll=/opt/vmware-vix-disklib-distrib/lib64/libvixDiskLib.so.8.0.3\n\
             VixDiskLib_InitEx=1\n",
        );
        assert_eq!(probe.plugin_version.as_deref(), Some("1.38.3"));
        assert_eq!(probe.library_major, Some(8));
        assert_eq!(probe.library_version().as_deref(), Some("8.0.3"));
        let without = parse("name=vddk\nversion=1.32.5\nvddk_default_libdir=/x\n");
        assert_eq!(without.library_major, None);
        assert_eq!(without.library_version(), None);
    }
}
