//! Where bytes go: a regular file, a block device or an NBD export.

mod file;
mod nbd;

pub use self::nbd::NbdSink;
pub use file::FileSink;

use crate::error::Failure;

pub trait Sink: Send + Sync {
    fn size(&self) -> u64;
    /// True when every byte already reads as zero, so zero runs need no writing.
    fn is_zeroed(&self) -> bool;
    /// Largest single write, if the sink has a limit.
    fn max_request(&self) -> Option<u32>;
    fn open_writer(&self) -> Result<Box<dyn SinkWriter>, Failure>;
    /// Makes everything written durable (fsync, NBD flush).
    fn flush(&self) -> Result<(), Failure>;
}

pub trait SinkWriter: Send {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Failure>;
    /// Makes `[offset, offset+length)` read as zeroes, deallocating it where possible.
    fn zero(&mut self, offset: u64, length: u64) -> Result<(), Failure>;
    /// Waits for every write and zeroing sent: a writer may keep some in flight and report
    /// their failure only here (or at a later call).
    fn finish(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}
