//! Disk image files with known content for tests, and ways to inspect them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use sha2::{Digest, Sha256};

/// A fast deterministic byte stream (xorshift64*), so tests need no RNG crate and can re-create
/// the same "random" disk from a seed.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `buf` with non-zero-looking bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// A value in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// Creates (or truncates) `path` as a sparse file of `size` bytes with random data only in
/// `runs` (offset, length). Everything else is a hole.
pub fn sparse_file(path: &Path, size: u64, runs: &[(u64, u64)], seed: u64) -> io::Result<()> {
    let file = File::create(path)?;
    file.set_len(size)?;
    let mut noise = Noise::new(seed);
    let mut buf = vec![0u8; 1 << 20];
    for &(offset, length) in runs {
        let mut done = 0;
        while done < length {
            let n = (length - done).min(buf.len() as u64) as usize;
            noise.fill(&mut buf[..n]);
            file.write_all_at(&buf[..n], offset + done)?;
            done += n as u64;
        }
    }
    file.sync_all()
}

/// A fully allocated file of random bytes.
pub fn random_file(path: &Path, size: u64, seed: u64) -> io::Result<()> {
    sparse_file(path, size, &[(0, size)], seed)
}

/// An empty (all-hole) file of `size` bytes.
pub fn empty_file(path: &Path, size: u64) -> io::Result<()> {
    sparse_file(path, size, &[], 0)
}

pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Bytes the file system really allocated for `path`.
pub fn allocated_bytes(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.blocks() * 512)
}

/// The data (non-hole) ranges of a file as SEEK_DATA/SEEK_HOLE report them.
pub fn data_ranges(path: &Path) -> io::Result<Vec<(u64, u64)>> {
    let file = OpenOptions::new().read(true).open(path)?;
    let size = file.metadata()?.len();
    let fd = file.as_raw_fd();
    let mut ranges = Vec::new();
    let mut pos: u64 = 0;
    while pos < size {
        // SAFETY: lseek on an fd we own; it reads no memory.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return Err(e);
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        ranges.push((data as u64, (hole - data) as u64));
        pos = hole as u64;
    }
    Ok(ranges)
}
