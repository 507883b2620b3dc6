//! A regular file or a block device as the destination.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::{Sink, SinkWriter};
use crate::buffer::{self, Buffer};
use crate::error::{CopyError, Failure};

const ZERO_CHUNK: usize = 1 << 20;

/// Which zeroing method still works on this target, tried in order: deallocate
/// (`fallocate(PUNCH_HOLE)`, a discard on a block device), `BLKZEROOUT` or
/// `fallocate(ZERO_RANGE)`, then writing zeroes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum ZeroMethod {
    Punch = 0,
    Offload = 1,
    Write = 2,
}

/// A regular file or a block device.
///
/// Data goes through a second descriptor opened with `O_DIRECT` wherever the target takes it:
/// from our buffers to the device with no copy into the page cache. Measured on this machine
/// kind (scripts/bench-copy, 4 GiB dense to ext4 on virtio): buffered writes cost 2.2x the
/// system CPU of nbdcopy, most of it the kernel copying into fresh page-cache pages and
/// writers spinning on the inode lock (ext4 takes it exclusively for every buffered write);
/// direct writes took two thirds of nbdcopy's CPU and ran at the disk's raw rate. What cannot
/// go direct (a tail that is not a whole block, or a target that refuses `O_DIRECT`) is written
/// through the page cache with write-behind and eviction, as nbdcopy does for all its writes.
pub struct FileSink {
    path: PathBuf,
    file: Arc<File>,
    direct: Option<Arc<Direct>>,
    size: u64,
    zeroed: bool,
    block_device: bool,
    zero_method: Arc<AtomicU8>,
}

impl FileSink {
    /// Opens `path` for a copy of `source_size` bytes. A missing file is created (and known to
    /// be zero); a shorter regular file is extended; a block device must be large enough.
    pub fn open(path: &Path, source_size: u64) -> Result<Self, CopyError> {
        let failed = |e: io::Error| CopyError::OpenDestination {
            what: path.display().to_string(),
            cause: e.to_string(),
        };
        let existed = path.exists();
        let file = OpenOptions::new()
            .write(true)
            .create(!existed)
            .open(path)
            .map_err(failed)?;
        let meta = file.metadata().map_err(failed)?;
        let block_device = meta.file_type().is_block_device();
        let (size, zeroed) = if block_device {
            let size = (&file).seek(SeekFrom::End(0)).map_err(failed)?;
            (size, false)
        } else if meta.is_file() {
            let was_empty = meta.len() == 0;
            if meta.len() < source_size {
                file.set_len(source_size).map_err(failed)?;
            }
            (meta.len().max(source_size), !existed || was_empty)
        } else {
            return Err(CopyError::OpenDestination {
                what: path.display().to_string(),
                cause: "neither a regular file nor a block device".into(),
            });
        };
        if size < source_size {
            return Err(CopyError::DestinationTooSmall {
                destination: size,
                source_size,
            });
        }
        let direct = Direct::open(path).map(Arc::new);
        tracing::debug!(
            path = %path.display(),
            direct = direct.is_some(),
            "destination opened"
        );
        Ok(FileSink {
            path: path.to_owned(),
            file: Arc::new(file),
            direct,
            size,
            zeroed,
            block_device,
            zero_method: Arc::new(AtomicU8::new(ZeroMethod::Punch as u8)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything through the page cache, never `O_DIRECT`: for a target whose direct
    /// I/O is slow or broken although it accepts it.
    pub fn buffered(mut self) -> Self {
        self.direct = None;
        self
    }

    /// True while writes go around the page cache (`O_DIRECT`).
    pub fn is_direct(&self) -> bool {
        self.direct.as_ref().is_some_and(|d| d.usable())
    }
}

/// Offsets, lengths and buffer addresses of direct writes are multiples of this. Our buffers
/// are page-aligned, and a page covers the logical block sizes in use (512 and 4096; Linux has
/// none larger). A target wanting more refuses the first direct write, and buffered writes
/// take over.
const DIRECT_ALIGN: u64 = buffer::ALIGN as u64;

/// The `O_DIRECT` descriptor of a destination.
struct Direct {
    file: File,
    /// Cleared for good at the first direct write the target refuses.
    usable: AtomicBool,
}

impl Direct {
    /// `None` when the target does not take `O_DIRECT` (e.g. tmpfs before Linux 6.6, some
    /// network filesystems): then every write is buffered.
    fn open(path: &Path) -> Option<Direct> {
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .map_err(
                |e| tracing::debug!(error = %e, "O_DIRECT refused; writing through the page cache"),
            )
            .ok()?;
        Some(Direct {
            file,
            usable: AtomicBool::new(true),
        })
    }

    fn usable(&self) -> bool {
        self.usable.load(Ordering::Relaxed)
    }

    fn fits(&self, offset: u64, data: &[u8]) -> bool {
        self.usable()
            && offset % DIRECT_ALIGN == 0
            && data.len() as u64 % DIRECT_ALIGN == 0
            && data.as_ptr() as u64 % DIRECT_ALIGN == 0
    }

    /// Writes `data` at `offset` directly; `Ok(false)` when the target refused the direct
    /// write (nothing was written, and no direct write will be tried again).
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<bool> {
        match self.file.write_all_at(data, offset) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                if self.usable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "the destination refused a direct write; writing through the page cache"
                    );
                }
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

impl Sink for FileSink {
    fn size(&self) -> u64 {
        self.size
    }
    fn is_zeroed(&self) -> bool {
        self.zeroed
    }
    fn max_request(&self) -> Option<u32> {
        None
    }
    fn open_writer(&self) -> Result<Box<dyn SinkWriter>, Failure> {
        Ok(Box::new(FileWriter {
            file: Arc::clone(&self.file),
            direct: self.direct.clone(),
            block_device: self.block_device,
            zero_method: Arc::clone(&self.zero_method),
            zeroes: None,
            unkicked: None,
            in_writeback: VecDeque::new(),
        }))
    }
    fn flush(&self) -> Result<(), Failure> {
        self.file.sync_all().map_err(Failure::from)
    }
}

struct FileWriter {
    file: Arc<File>,
    direct: Option<Arc<Direct>>,
    block_device: bool,
    zero_method: Arc<AtomicU8>,
    /// A page-aligned chunk of zeroes, made on first need, for targets that can only be
    /// zeroed by writing.
    zeroes: Option<Buffer>,
    /// Written data whose writeback has not been started yet.
    unkicked: Option<Window>,
    /// Spans whose writeback was started, oldest first, still in the page cache.
    in_writeback: VecDeque<(u64, u64)>,
}

/// The span `[start, end)` covering a writer's recent writes, and the bytes written in it: a
/// changed-block delta writes areas with gaps between them, which one span still covers.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    end: u64,
    bytes: u64,
}

/// Buffered writes only (what cannot go direct): dirty bytes a writer collects before asking
/// the kernel to start writing them back.
const WRITE_BEHIND: u64 = 8 << 20;

/// Windows of `WRITE_BEHIND` written bytes a writer leaves in writeback before it waits for
/// the oldest and drops it from the page cache. The copy never reads what it wrote, and a page cache
/// that grows by the whole disk costs more than the disk: measured on this machine kind (a
/// VM), the kernel's copy into never-used page-cache pages took 5.4 of 7.9 system CPU seconds
/// of a 4 GiB copy, against 0.4 s for nbdcopy, which evicts its writes the same way.
const WRITEBACK_WINDOWS: usize = 4;

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some(window) = self.unkicked.take() {
            self.start_writeback(window.start, window.end - window.start);
        }
    }
}

// `libc::Ioctl`: a c_ulong in glibc, a c_int in musl (the static build).
const BLKZEROOUT: libc::Ioctl = 0x127f;

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY) | Some(libc::EINVAL) | Some(libc::ENODEV)
    )
}

impl FileWriter {
    /// Starts writeback of a written span without waiting for it. Left alone, the kernel
    /// starts writing only when gigabytes are dirty and the final fsync then waits for all of
    /// it; kicked early, the disk works while the copy goes on and the fsync finds little left.
    fn start_writeback(&self, offset: u64, length: u64) {
        // SAFETY: sync_file_range on an fd we own, with plain integer arguments. A failure
        // only loses the head start: the final fsync still makes everything durable.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset as libc::off64_t,
                length as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }

    /// Waits for the span's writeback and drops its pages from the page cache.
    fn evict(&self, offset: u64, length: u64) {
        // SAFETY: sync_file_range and posix_fadvise on an fd we own, with plain integer
        // arguments. A failure only leaves the pages cached: the final fsync still makes
        // everything durable.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset as libc::off64_t,
                length as libc::off64_t,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            );
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                length as libc::off_t,
                libc::POSIX_FADV_DONTNEED,
            );
        }
    }

    fn kick(&mut self, offset: u64, length: u64) {
        self.start_writeback(offset, length);
        self.in_writeback.push_back((offset, length));
        if self.in_writeback.len() > WRITEBACK_WINDOWS {
            if let Some((oldest, len)) = self.in_writeback.pop_front() {
                self.evict(oldest, len);
            }
        }
    }

    fn written(&mut self, offset: u64, length: u64) {
        let end = offset + length;
        let window = match self.unkicked {
            Some(w) => Window {
                start: w.start.min(offset),
                end: w.end.max(end),
                bytes: w.bytes + length,
            },
            None => Window {
                start: offset,
                end,
                bytes: length,
            },
        };
        if window.bytes >= WRITE_BEHIND {
            self.kick(window.start, window.end - window.start);
            self.unkicked = None;
        } else {
            self.unkicked = Some(window);
        }
    }

    fn fallocate(&self, mode: libc::c_int, offset: u64, length: u64) -> io::Result<()> {
        // SAFETY: fallocate on an fd we own, with plain integer arguments.
        let rc = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                mode,
                offset as libc::off_t,
                length as libc::off_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn offload_zero(&self, offset: u64, length: u64) -> io::Result<()> {
        if self.block_device {
            let range = [offset, length];
            // SAFETY: BLKZEROOUT reads a [u64; 2] we own for the duration of the call.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), BLKZEROOUT, range.as_ptr()) };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        } else {
            self.fallocate(libc::FALLOC_FL_ZERO_RANGE, offset, length)
        }
    }

    fn write_zeroes(&mut self, offset: u64, length: u64) -> io::Result<()> {
        let zeroes = self
            .zeroes
            .take()
            .unwrap_or_else(|| Buffer::new(ZERO_CHUNK));
        let mut done = 0;
        let mut result = Ok(());
        while done < length && result.is_ok() {
            let n = (length - done).min(ZERO_CHUNK as u64) as usize;
            result = self.write_at(offset + done, &zeroes.as_slice()[..n]);
            done += n as u64;
        }
        self.zeroes = Some(zeroes);
        result
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        if let Some(direct) = &self.direct
            && direct.fits(offset, data)
            && direct.write(offset, data)?
        {
            return Ok(());
        }
        self.file.write_all_at(data, offset)?;
        self.written(offset, data.len() as u64);
        Ok(())
    }
}

impl SinkWriter for FileWriter {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Failure> {
        self.write_at(offset, data).map_err(Failure::from)
    }

    fn zero(&mut self, offset: u64, length: u64) -> Result<(), Failure> {
        let mut method = self.zero_method.load(Ordering::Relaxed);
        if method == ZeroMethod::Punch as u8 {
            match self.fallocate(
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                length,
            ) {
                Ok(()) => return Ok(()),
                Err(e) if unsupported(&e) => {
                    method = ZeroMethod::Offload as u8;
                    self.zero_method.store(method, Ordering::Relaxed);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if method == ZeroMethod::Offload as u8 {
            match self.offload_zero(offset, length) {
                Ok(()) => return Ok(()),
                Err(e) if unsupported(&e) => {
                    self.zero_method
                        .store(ZeroMethod::Write as u8, Ordering::Relaxed);
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.write_zeroes(offset, length).map_err(Failure::from)
    }
}
