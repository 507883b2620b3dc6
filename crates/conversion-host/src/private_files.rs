//! Files on a shared host. The data directory, a VM's directory under it and nbdkit's private
//! directory may sit where other users can create entries first (a planted `migrate.lock`
//! symlink made a root run truncate its target). So: directories are made 0700 and must be ours,
//! files are made 0600, opened without following a symbolic link, and must be ours, regular and
//! not linked elsewhere — whatever the umask.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Our effective user id: what owns the files we make.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn refused(text: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, text)
}

/// Makes `path` (and missing parents) 0700 when absent. An existing directory is accepted when
/// ours or root's and no other user can add entries to it (or it is sticky, like `/tmp`: then
/// what others plant in it is not ours and is refused one level down).
pub fn shared_root(path: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        DirBuilder::new().recursive(true).mode(0o700).create(path)?;
        std::fs::set_permissions(path, Permissions::from_mode(0o700))?;
    }
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Err(refused("is not a directory".into()));
    }
    let me = euid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(refused(format!(
            "is owned by uid {}, not by this user (uid {me}) or root: another user could plant \
             files in it",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
        return Err(refused(format!(
            "is writable by other users (mode {:o}) and not sticky: make it 0700",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Makes `path` a 0700 directory of ours: created when absent, refused when it is a symbolic
/// link or another user's, tightened to 0700 when it is ours (an older version made it 0755).
pub fn private_dir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_dir() {
        return Err(refused(
            "is a symbolic link or not a directory; refusing to use it".into(),
        ));
    }
    if meta.uid() != euid() {
        return Err(refused(format!(
            "is owned by uid {}, not by this user (uid {})",
            meta.uid(),
            euid()
        )));
    }
    if meta.mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(path, Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// How a private file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Writes go to the end (logs, progress lines).
    Append,
    /// Emptied once it is known to be ours.
    Truncate,
    /// Read and written in place (a lock file).
    Keep,
}

/// Opens (creating 0600) a file of ours: never through a symbolic link, and only a regular
/// file we own with no other name; an older 0644 file of ours is tightened to 0600.
pub fn open_private(path: &Path, how: Open) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    match how {
        Open::Append => options.append(true),
        Open::Truncate => options.write(true),
        Open::Keep => options.read(true).write(true),
    };
    let file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            refused("is a symbolic link; refusing to follow it".into())
        } else {
            e
        }
    })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refused("is not a regular file".into()));
    }
    if meta.uid() != euid() {
        return Err(refused(format!(
            "is owned by uid {}, not by this user (uid {})",
            meta.uid(),
            euid()
        )));
    }
    if meta.nlink() != 1 {
        return Err(refused(format!(
            "has {} hard links; refusing to write a file that is also elsewhere",
            meta.nlink()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))?;
    }
    if how == Open::Truncate {
        file.set_len(0)?;
    }
    Ok(file)
}

/// A fresh 0700 directory `<temp dir>/<prefix><random>`, removed when dropped.
pub fn private_temp_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(0o700))
        .tempdir()?;
    // The mode above is masked by the umask; this is not.
    std::fs::set_permissions(dir.path(), Permissions::from_mode(0o700))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir.path().join("migrate.lock");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        for how in [Open::Append, Open::Truncate, Open::Keep] {
            let err = open_private(&planted, how).unwrap_err().to_string();
            assert!(err.contains("symbolic link"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let linked = dir.path().join("hard");
        std::fs::hard_link(&victim, &linked).unwrap();
        let err = open_private(&linked, Open::Truncate)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hard links"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn files_and_directories_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: umask only changes this process's creation mask; restored below.
        let old = unsafe { libc::umask(0) };
        let vm = dir.path().join("root/vm");
        shared_root(&dir.path().join("root")).unwrap();
        private_dir(&vm).unwrap();
        let file = vm.join("migrate.log");
        open_private(&file, Open::Append).unwrap();
        let temp = private_temp_dir("vmkit-test-").unwrap();
        unsafe { libc::umask(old) };
        assert_eq!(mode(&dir.path().join("root")), 0o700);
        assert_eq!(mode(&vm), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(temp.path()), 0o700);
        // What an older version left (0755, 0644) is tightened.
        std::fs::set_permissions(&vm, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        private_dir(&vm).unwrap();
        open_private(&file, Open::Append).unwrap();
        assert_eq!((mode(&vm), mode(&file)), (0o700, 0o600));
    }

    #[test]
    fn a_directory_others_can_write_or_a_symlinked_vm_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
        let err = shared_root(&open).unwrap_err().to_string();
        assert!(err.contains("writable by other users"), "{err}");
        std::fs::set_permissions(&open, Permissions::from_mode(0o1777)).unwrap();
        shared_root(&open).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, open.join("vm")).unwrap();
        let err = private_dir(&open.join("vm")).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
