//! Before anything changes, for the vddk transport: nbdkit's vddk plugin loads and finds VDDK in
//! `libdir`, asked the plugin's own way (`nbdkit vddk --dump-plugin`). Without this a run would
//! power the VM off and snapshot it, then fail when nbdkit starts.

use std::path::Path;

use conversion_host::vddk_probe::{ProbeError, probe};

use crate::error::{Error, Result};

pub fn check(nbdkit: &Path, libdir: &Path) -> Result<()> {
    let found = probe(nbdkit, libdir).map_err(|e| match e {
        ProbeError::Spawn { .. } => Error::Refused(format!(
            "transport vddk: {e} (is nbdkit installed? the conversion_host role installs it)"
        )),
        ProbeError::NoPlugin { .. } => Error::Refused(format!(
            "transport vddk: nbdkit's vddk plugin does not load on this conversion host: {e}; \
             install it (nbdkit-vddk-plugin on RHEL and Fedora), or use transport https"
        )),
    })?;
    if found.library_major.is_none() {
        return Err(Error::Refused(format!(
            "transport vddk: nbdkit's vddk plugin found no VDDK library in {} (argument \
             'libdir', the roles' vddk_libdir): unpack VMware's VDDK \
             (vmware-vix-disklib-distrib) there, or point libdir at the directory holding its \
             lib64/",
            libdir.display()
        )));
    }
    tracing::debug!(
        plugin = ?found.plugin_version,
        library = ?found.library,
        "the vddk plugin loads VDDK"
    );
    Ok(())
}
