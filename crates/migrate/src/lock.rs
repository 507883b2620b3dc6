//! One run per VM at a time on a conversion host: an exclusive `flock` on `<vm dir>/migrate.lock`.
//! The kernel drops it when the process ends, however it ends, so a crashed run never blocks the
//! next one.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use conversion_host::private_files::{Open, open_private};

use crate::error::{Error, Result, Step};

#[derive(Debug)]
pub struct VmLock {
    _file: File,
}

impl VmLock {
    /// Locks `<vm_dir>/migrate.lock`; `vm_dir` is already the VM's private directory.
    pub fn acquire(vm_dir: &Path, vm: &str) -> Result<Self> {
        let path = vm_dir.join("migrate.lock");
        let mut file = open_private(&path, Open::Keep)
            .step(|| format!("cannot open the lock file {}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(Error::Refused(format!(
                "another migrate of VM {vm:?} is running on this conversion host (pid {}, lock {}); \
                 wait for it to end",
                holder.trim(),
                path.display()
            )));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        Ok(VmLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_vm_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = VmLock::acquire(dir.path(), "web").unwrap();
        let err = VmLock::acquire(dir.path(), "web").unwrap_err().to_string();
        assert!(err.contains("another migrate of VM \"web\""), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        VmLock::acquire(dir.path(), "web").unwrap();
    }

    #[test]
    fn a_planted_lock_symlink_is_refused_and_its_target_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("migrate.lock")).unwrap();
        let err = VmLock::acquire(dir.path(), "web").unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
}
