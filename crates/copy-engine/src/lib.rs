//! The disk copy engine: from a [`Source`] (an NBD export) to a [`Sink`] (a regular file, a
//! block device or another NBD export), copying only what is allocated, in parallel, with
//! bounded memory, retries, progress and clean cancellation.
//!
//! Shaped after libnbd's nbdcopy: sources and sinks behind one small interface; the disk cut
//! into large ranges taken by one worker per connection (each worker owns its connection, so
//! the I/O path takes no locks); block status asked lazily per range; zero runs merged into one
//! zeroing call and data read in scanned for zero blocks before writing. It knows nothing of
//! where the disk comes from (vSphere) or who asked for the copy.

pub mod area;
pub mod buffer;
mod engine;
mod error;
pub mod progress;
mod read_window;
mod signals;
pub mod sink;
pub mod source;

pub use area::Area;
pub use engine::{CopyOptions, CopyReport, copy, default_connections};
pub use error::{CopyError, Failure, FailureKind};
pub use nbd::ConnectOptions;
pub use progress::{Event, JsonLines, Progress};
pub use signals::{Cancel, cancel_on_signals};
pub use sink::{FileSink, NbdSink, Sink, SinkWriter};
pub use source::{Completion, Extent, NbdSource, Source, SourceReader};

use std::path::Path;

/// Opens a destination named on a command line: an NBD URI (`nbd://`, `nbd+unix://`) or a
/// path to a regular file or block device.
pub fn open_destination(
    target: &str,
    source_size: u64,
    known_zero: bool,
) -> Result<Box<dyn Sink>, CopyError> {
    open_destination_with(
        target,
        source_size,
        known_zero,
        false,
        &nbd::ConnectOptions::default(),
    )
}

/// Like [`open_destination`]; an NBD destination is reached with `options`, and a file or
/// block device is written through the page cache when `buffered` (see [`FileSink::buffered`]).
pub fn open_destination_with(
    target: &str,
    source_size: u64,
    known_zero: bool,
    buffered: bool,
    options: &nbd::ConnectOptions,
) -> Result<Box<dyn Sink>, CopyError> {
    if target.starts_with("nbd://") || target.starts_with("nbd+unix://") {
        let uri = nbd::NbdUri::parse(target).map_err(|e| CopyError::OpenDestination {
            what: target.to_owned(),
            cause: e.to_string(),
        })?;
        Ok(Box::new(NbdSink::connect(
            &uri,
            source_size,
            known_zero,
            options,
        )?))
    } else {
        let sink = FileSink::open(Path::new(target), source_size)?;
        Ok(Box::new(if buffered { sink.buffered() } else { sink }))
    }
}

/// Opens an NBD source from its URI.
pub fn open_source(uri: &str) -> Result<NbdSource, CopyError> {
    open_source_with(uri, &nbd::ConnectOptions::default())
}

/// Like [`open_source`]; every connection to the source is made with `options`.
pub fn open_source_with(uri: &str, options: &nbd::ConnectOptions) -> Result<NbdSource, CopyError> {
    let what = uri.to_owned();
    let parsed = nbd::NbdUri::parse(uri).map_err(|e| CopyError::OpenSource {
        what: what.clone(),
        cause: Failure::permanent(e.to_string()),
    })?;
    NbdSource::connect(&parsed, options).map_err(|cause| CopyError::OpenSource { what, cause })
}
