//! Reading and writing the files of one VM's directory. Writes are atomic (temporary file,
//! then rename) and skipped when the content is already there, so a second export reports
//! no change.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::disk_info::DiskInfo;
use crate::error::Error;
use crate::guest_info::{GuestInfo, HwEth};
use crate::network::{PortNic, UnmappedNic};

pub const GUEST_INFO: &str = "guest_info.json";
pub const DISK_INFO: &str = "disk_info.json";
pub const NICS: &str = "nics.json";
pub const MACS: &str = "macs.json";
pub const NETWORK_INFO: &str = "network_info.json";

/// What a write did (or, in check mode, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    Unchanged,
}

impl Written {
    pub fn changed(self) -> bool {
        self != Self::Unchanged
    }
}

/// `<data_dir>/<vm>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmDataDir {
    path: PathBuf,
}

impl VmDataDir {
    /// Refuses VM names that would leave the data directory (`..`, `/`) or name nothing.
    pub fn new(data_dir: impl AsRef<Path>, vm: &str) -> Result<Self, Error> {
        if vm.is_empty() || vm == "." || vm == ".." || vm.contains('/') || vm.contains('\0') {
            return Err(Error::Invalid(format!(
                "VM name {vm:?} cannot be a directory name under the data directory"
            )));
        }
        Ok(Self {
            path: data_dir.as_ref().join(vm),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn read_guest_info(&self) -> Result<GuestInfo, Error> {
        self.read(
            GUEST_INFO,
            "guest_info.json (vmware.vmware.guest_info fields)",
        )
    }

    pub fn read_disk_info(&self) -> Result<DiskInfo, Error> {
        self.read(DISK_INFO, "disk_info.json")
    }

    pub fn read_port_nics(&self) -> Result<Vec<PortNic>, Error> {
        self.read(NICS, "nics.json")
    }

    pub fn read_unmapped_nics(&self) -> Result<Vec<UnmappedNic>, Error> {
        self.read(MACS, "macs.json")
    }

    pub fn read_network_info(&self) -> Result<Vec<HwEth>, Error> {
        self.read(NETWORK_INFO, "network_info.json")
    }

    pub fn has(&self, name: &str) -> bool {
        self.file(name).is_file()
    }

    pub fn write_guest_info(&self, info: &GuestInfo, check_mode: bool) -> Result<Written, Error> {
        self.write(GUEST_INFO, info, check_mode)
    }

    pub fn write_disk_info(&self, info: &DiskInfo, check_mode: bool) -> Result<Written, Error> {
        self.write(DISK_INFO, info, check_mode)
    }

    pub fn write_port_nics(&self, nics: &[PortNic], check_mode: bool) -> Result<Written, Error> {
        self.write(NICS, nics, check_mode)
    }

    pub fn write_unmapped_nics(
        &self,
        nics: &[UnmappedNic],
        check_mode: bool,
    ) -> Result<Written, Error> {
        self.write(MACS, nics, check_mode)
    }

    pub fn write_network_info(&self, nics: &[HwEth], check_mode: bool) -> Result<Written, Error> {
        self.write(NETWORK_INFO, nics, check_mode)
    }

    fn read<T: DeserializeOwned>(&self, name: &str, what: &'static str) -> Result<T, Error> {
        let path = self.file(name);
        let bytes = fs::read(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Parse { path, what, source })
    }

    /// Pretty JSON with a final newline; written only when different from what is there.
    fn write<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
        check_mode: bool,
    ) -> Result<Written, Error> {
        let path = self.file(name);
        let mut bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::Invalid(format!("cannot encode {}: {e}", path.display())))?;
        bytes.push(b'\n');
        let outcome = match fs::read(&path) {
            Ok(current) if current == bytes => return Ok(Written::Unchanged),
            Ok(_) => Written::Updated,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Written::Created,
            Err(source) => return Err(Error::Read { path, source }),
        };
        if check_mode {
            return Ok(outcome);
        }
        let write_error = |source| Error::Write {
            path: path.clone(),
            source,
        };
        // The directory is created only when missing: one mkdir per VM, not one per file.
        let mut temporary = match tempfile_in(&self.path, name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.path).map_err(write_error)?;
                tempfile_in(&self.path, name)
            }
            other => other,
        }
        .map_err(write_error)?;
        // No fsync: the files are re-created by exporting again, and a rename over the old file
        // never leaves a half-written one visible.
        temporary.1.write_all(&bytes).map_err(write_error)?;
        fs::rename(&temporary.0, &path).map_err(|source| {
            let _ = fs::remove_file(&temporary.0);
            Error::Write {
                path: path.clone(),
                source,
            }
        })?;
        Ok(outcome)
    }
}

/// A new file beside the target, named after it and this process.
fn tempfile_in(dir: &Path, name: &str) -> std::io::Result<(PathBuf, fs::File)> {
    let path = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::unmapped_nics;

    #[test]
    fn refuses_names_that_leave_the_directory() {
        for bad in ["", ".", "..", "a/b"] {
            assert!(VmDataDir::new("/tmp", bad).is_err(), "{bad:?}");
        }
        assert!(VmDataDir::new("/tmp", "web 01").is_ok());
    }

    #[test]
    fn writes_once_then_reports_unchanged_and_check_mode_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = VmDataDir::new(root.path(), "web01").unwrap();
        let nics = vec![HwEth {
            macaddress: "00:50:56:00:00:01".into(),
            ..HwEth::default()
        }];
        let macs = unmapped_nics(&nics, "");
        assert_eq!(
            dir.write_unmapped_nics(&macs, true).unwrap(),
            Written::Created
        );
        assert!(!dir.has(MACS));
        assert_eq!(
            dir.write_unmapped_nics(&macs, false).unwrap(),
            Written::Created
        );
        assert_eq!(
            dir.write_unmapped_nics(&macs, false).unwrap(),
            Written::Unchanged
        );
        assert_eq!(dir.read_unmapped_nics().unwrap(), macs);
        let other = unmapped_nics(&nics, "subnet-1");
        assert_eq!(
            dir.write_unmapped_nics(&other, false).unwrap(),
            Written::Updated
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(MACS)]);
    }

    #[test]
    fn a_bad_file_names_itself() {
        let root = tempfile::tempdir().unwrap();
        let dir = VmDataDir::new(root.path(), "web01").unwrap();
        fs::create_dir_all(dir.path()).unwrap();
        fs::write(dir.file(DISK_INFO), "{not json").unwrap();
        let error = dir.read_disk_info().unwrap_err().to_string();
        assert!(error.contains("disk_info.json"), "{error}");
    }
}
