//! The block device of a Cinder volume attached to this conversion host.
//!
//! In production Nova attaches the volume and udev names it in `/dev/disk/by-id` after its
//! serial, which is the volume id cut to 20 characters: `virtio-<id[..20]>` on virtio-blk,
//! `scsi-0QEMU_QEMU_HARDDISK_<id…>` on virtio-scsi. The name can take seconds to appear, so we
//! settle udev and retry until a timeout, and we refuse a device smaller than the disk to copy.
//!
//! In the test bed Nova's fake driver attaches nothing. There, and only there,
//! `VMKIT_TEST_LOOP_VOLUME_DIR` names the directory of Cinder's volume files (`volume-<id>`),
//! and the device is a loop device set up over that file, so tests run the same block-device
//! code path as production.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Test-bed only: directory holding Cinder's `volume-<id>` files (NFS driver).
pub const LOOP_VOLUME_DIR_ENV: &str = "VMKIT_TEST_LOOP_VOLUME_DIR";

/// How long a volume serial is on virtio-blk.
const VIRTIO_SERIAL_LEN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "no block device for volume {volume_id} appeared in {dir} within {waited:?} (looked for \
         virtio-{serial}* and scsi-*{serial}*): is the volume attached to this server?"
    )]
    NotFound {
        volume_id: String,
        serial: String,
        dir: PathBuf,
        waited: Duration,
    },
    #[error("volume {volume_id} matches more than one device in {dir}: {}", .candidates.join(", "))]
    Ambiguous {
        volume_id: String,
        dir: PathBuf,
        candidates: Vec<String>,
    },
    #[error("{path} (volume {volume_id}) is {size} bytes, smaller than the {needed} bytes to copy")]
    TooSmall {
        volume_id: String,
        path: PathBuf,
        size: u64,
        needed: u64,
    },
    #[error("{path} is not a block device")]
    NotBlockDevice { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DeviceError + 'a {
    move |source| DeviceError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Where attached volumes show up.
#[derive(Debug, Clone)]
pub enum Resolver {
    /// Production: udev's `/dev/disk/by-id`.
    ById { dir: PathBuf },
    /// Test bed: a loop device over `<dir>/volume-<id>`.
    LoopFiles { dir: PathBuf },
}

impl Resolver {
    /// The test bed's loop files when `VMKIT_TEST_LOOP_VOLUME_DIR` is set, else `/dev/disk/by-id`.
    pub fn from_env() -> Self {
        match std::env::var_os(LOOP_VOLUME_DIR_ENV) {
            Some(dir) if !dir.is_empty() => {
                tracing::warn!(
                    dir = %Path::new(&dir).display(),
                    "{LOOP_VOLUME_DIR_ENV} is set: volumes are loop devices over Cinder's files (test bed only)"
                );
                Resolver::LoopFiles { dir: dir.into() }
            }
            _ => Resolver::ById {
                dir: PathBuf::from("/dev/disk/by-id"),
            },
        }
    }

    /// Waits for the device of `volume_id` and checks it holds at least `min_size` bytes.
    pub fn resolve(
        &self,
        volume_id: &str,
        min_size: u64,
        timeout: Duration,
    ) -> Result<AttachedDevice, DeviceError> {
        let device = match self {
            Resolver::ById { dir } => find_by_id(dir, volume_id, timeout)?,
            Resolver::LoopFiles { dir } => loop_over_file(dir, volume_id, timeout)?,
        };
        if device.size < min_size {
            return Err(DeviceError::TooSmall {
                volume_id: volume_id.to_string(),
                path: device.path,
                size: device.size,
                needed: min_size,
            });
        }
        Ok(device)
    }
}

/// A volume's block device. For a loop device, dropping this detaches it (autoclear), so no
/// loop device can outlive the process that made it.
#[derive(Debug)]
pub struct AttachedDevice {
    pub path: PathBuf,
    pub size: u64,
    _loop_holder: Option<File>,
}

fn find_by_id(
    dir: &Path,
    volume_id: &str,
    timeout: Duration,
) -> Result<AttachedDevice, DeviceError> {
    let serial: String = volume_id.chars().take(VIRTIO_SERIAL_LEN).collect();
    let start = Instant::now();
    loop {
        settle_udev();
        let candidates = matching_entries(dir, &serial);
        let mut targets: Vec<PathBuf> = candidates
            .iter()
            .filter_map(|name| std::fs::canonicalize(dir.join(name)).ok())
            .collect();
        targets.sort();
        targets.dedup();
        match targets.len() {
            1 => {
                let path = targets.remove(0);
                let size = block_device_size(&path)?;
                tracing::info!(volume_id, device = %path.display(), size, "found the volume's device");
                return Ok(AttachedDevice {
                    path,
                    size,
                    _loop_holder: None,
                });
            }
            0 if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(500)),
            0 => {
                return Err(DeviceError::NotFound {
                    volume_id: volume_id.to_string(),
                    serial,
                    dir: dir.to_path_buf(),
                    waited: start.elapsed(),
                });
            }
            _ => {
                return Err(DeviceError::Ambiguous {
                    volume_id: volume_id.to_string(),
                    dir: dir.to_path_buf(),
                    candidates,
                });
            }
        }
    }
}

/// by-id names of the volume's whole disk (partitions, `-partN`, are not the volume).
fn matching_entries(dir: &Path, serial: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.contains("-part"))
        .filter(|name| {
            name.strip_prefix("virtio-")
                .is_some_and(|s| s == serial || serial.starts_with(s) && s.len() >= 8)
                || (name.starts_with("scsi-") && name.contains(serial))
        })
        .collect();
    names.sort();
    names
}

fn settle_udev() {
    // Absent in containers and minimal hosts; the retry loop covers for it.
    let _ = crate::child_env::restrict(&mut std::process::Command::new("udevadm"))
        .args(["settle", "--timeout=5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

fn block_device_size(path: &Path) -> Result<u64, DeviceError> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path).map_err(io_err("cannot stat", path))?;
    if !meta.file_type().is_block_device() {
        return Err(DeviceError::NotBlockDevice {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(io_err("cannot open", path))?;
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points at `size`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) };
    if rc != 0 {
        return Err(io_err("cannot read the size of", path)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(size)
}

// From <linux/fs.h> and <linux/loop.h>. `ioctl`'s request is a c_ulong in glibc but a c_int in
// musl (the static build): `libc::Ioctl` is whichever this target has; the bits are the same.
const BLKGETSIZE64: libc::Ioctl = 0x8008_1272_u32 as libc::Ioctl;
const LOOP_CTL_GET_FREE: libc::Ioctl = 0x4C82;
const LOOP_SET_FD: libc::Ioctl = 0x4C00;
const LOOP_SET_STATUS64: libc::Ioctl = 0x4C04;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_FLAGS_DIRECT_IO: u32 = 16;

/// `struct loop_info64` from <linux/loop.h>.
#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

fn loop_over_file(
    dir: &Path,
    volume_id: &str,
    timeout: Duration,
) -> Result<AttachedDevice, DeviceError> {
    let file_path = dir.join(format!("volume-{volume_id}"));
    let start = Instant::now();
    while !file_path.exists() {
        if start.elapsed() >= timeout {
            return Err(DeviceError::NotFound {
                volume_id: volume_id.to_string(),
                serial: volume_id.to_string(),
                dir: dir.to_path_buf(),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let backing = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file_path)
        .map_err(io_err("cannot open the volume file", &file_path))?;
    let control_path = Path::new("/dev/loop-control");
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open(control_path)
        .map_err(io_err("cannot open", control_path))?;
    // Another process can take the free device between our two ioctls: try again then.
    for _ in 0..20 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if number < 0 {
            return Err(io_err("cannot get a free loop device from", control_path)(
                std::io::Error::last_os_error(),
            ));
        }
        let path = PathBuf::from(format!("/dev/loop{number}"));
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err("cannot open", &path))?;
        // SAFETY: LOOP_SET_FD takes the backing file's descriptor by value.
        let rc = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_SET_FD, backing.as_raw_fd()) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EBUSY) {
                continue;
            }
            return Err(io_err("cannot attach the volume file to", &path)(err));
        }
        let mut info = LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: LO_FLAGS_AUTOCLEAR,
            lo_file_name: [0; 64],
            lo_crypt_name: [0; 64],
            lo_encrypt_key: [0; 32],
            lo_init: [0; 2],
        };
        let name = file_path.as_os_str().as_encoded_bytes();
        let n = name.len().min(63);
        info.lo_file_name[..n].copy_from_slice(&name[..n]);
        // SAFETY: LOOP_SET_STATUS64 reads one `loop_info64`, which `info` is.
        let rc = unsafe {
            libc::ioctl(
                device.as_raw_fd(),
                LOOP_SET_STATUS64,
                &info as *const LoopInfo64,
            )
        };
        if rc != 0 {
            return Err(io_err("cannot configure", &path)(
                std::io::Error::last_os_error(),
            ));
        }
        // Direct I/O on the loop device keeps the page cache out of the way, as on a real disk;
        // not every filesystem allows it, so it is a wish, not a requirement.
        info.lo_flags |= LO_FLAGS_DIRECT_IO;
        // SAFETY: as above.
        let _ = unsafe {
            libc::ioctl(
                device.as_raw_fd(),
                LOOP_SET_STATUS64,
                &info as *const LoopInfo64,
            )
        };
        let size = block_device_size(&path)?;
        tracing::info!(volume_id, device = %path.display(), file = %file_path.display(), size,
            "set up a loop device over the volume's file (test bed)");
        return Ok(AttachedDevice {
            path,
            size,
            _loop_holder: Some(device),
        });
    }
    Err(io_err("cannot find a free loop device via", control_path)(
        std::io::Error::from_raw_os_error(libc::EBUSY),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_id_names_match_virtio_and_scsi_serials() {
        let dir = tempfile::tempdir().unwrap();
        let id = "5c7e2f1a-93b4-4c1e-8d2f-0a1b2c3d4e5f";
        for name in [
            "virtio-5c7e2f1a-93b4-4c1e-8",
            "virtio-5c7e2f1a-93b4-4c1e-8-part1",
            "scsi-0QEMU_QEMU_HARDDISK_5c7e2f1a-93b4-4c1e-8d2f-0a1b2c3d4e5f",
            "virtio-ffffffff-93b4-4c1e-8",
            "ata-SOMETHING",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let serial: String = id.chars().take(VIRTIO_SERIAL_LEN).collect();
        assert_eq!(
            matching_entries(dir.path(), &serial),
            [
                "scsi-0QEMU_QEMU_HARDDISK_5c7e2f1a-93b4-4c1e-8d2f-0a1b2c3d4e5f",
                "virtio-5c7e2f1a-93b4-4c1e-8"
            ]
        );
    }

    #[test]
    fn a_missing_device_times_out_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let resolver = Resolver::ById {
            dir: dir.path().to_path_buf(),
        };
        let err = resolver
            .resolve("0123456789abcdef0123456789", 1, Duration::from_millis(50))
            .unwrap_err();
        assert!(err.to_string().contains("is the volume attached"), "{err}");
    }

    #[test]
    fn by_id_links_to_two_devices_are_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"").unwrap();
        std::fs::write(&b, b"").unwrap();
        std::os::unix::fs::symlink(&a, dir.path().join("virtio-0123456789abcdef0123")).unwrap();
        std::os::unix::fs::symlink(
            &b,
            dir.path()
                .join("scsi-0QEMU_QEMU_HARDDISK_0123456789abcdef0123xx"),
        )
        .unwrap();
        let resolver = Resolver::ById {
            dir: dir.path().to_path_buf(),
        };
        let err = resolver
            .resolve("0123456789abcdef0123456789", 1, Duration::from_millis(10))
            .unwrap_err();
        assert!(matches!(err, DeviceError::Ambiguous { .. }), "{err}");
    }

    #[test]
    fn a_regular_file_is_not_a_block_device() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk");
        std::fs::write(&file, b"").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("virtio-0123456789abcdef0123")).unwrap();
        let resolver = Resolver::ById {
            dir: dir.path().to_path_buf(),
        };
        let err = resolver
            .resolve("0123456789abcdef0123456789", 1, Duration::from_millis(10))
            .unwrap_err();
        assert!(matches!(err, DeviceError::NotBlockDevice { .. }), "{err}");
    }
}
