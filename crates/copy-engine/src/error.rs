use std::io;

/// How a failed operation may be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The peer reported an error for this request (e.g. EIO); the same request may succeed later.
    Transient,
    /// The connection is gone; a new one is needed before retrying.
    Disconnected,
    /// Retrying cannot help (bad request, unsupported operation, ...).
    Permanent,
}

/// A failed source or sink operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn permanent(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }
}

impl From<nbd::Error> for Failure {
    fn from(e: nbd::Error) -> Self {
        let kind = if e.is_disconnected() {
            FailureKind::Disconnected
        } else if e.is_server_error() {
            FailureKind::Transient
        } else {
            FailureKind::Permanent
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        let kind = match e.raw_os_error() {
            Some(libc::EIO) | Some(libc::EAGAIN) | Some(libc::EINTR) => FailureKind::Transient,
            _ => FailureKind::Permanent,
        };
        Failure {
            kind,
            message: e.to_string(),
        }
    }
}

/// Why a copy did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot open the source {what}: {cause}")]
    OpenSource { what: String, cause: Failure },
    #[error("cannot open the destination {what}: {cause}")]
    OpenDestination { what: String, cause: String },
    #[error(
        "the destination ({destination} bytes) is smaller than the source ({source_size} bytes)"
    )]
    DestinationTooSmall { destination: u64, source_size: u64 },
    #[error("invalid changed-area list: {0}")]
    Areas(#[from] crate::area::AreaError),
    #[error(
        "reading {length} bytes at offset {offset} failed after {attempts} attempt(s): {cause}"
    )]
    Read {
        offset: u64,
        length: u64,
        attempts: u32,
        cause: Failure,
    },
    #[error(
        "asking which blocks are allocated at offset {offset} length {length} failed after {attempts} attempt(s): {cause}"
    )]
    Extents {
        offset: u64,
        length: u64,
        attempts: u32,
        cause: Failure,
    },
    #[error("{operation} of {length} bytes at offset {offset} on the destination failed: {cause}")]
    Write {
        operation: &'static str,
        offset: u64,
        length: u64,
        cause: Failure,
    },
    #[error("the destination failed a write sent earlier: {0}")]
    WriteBehind(Failure),
    #[error(
        "reconnecting to the source after losing the connection at offset {offset} failed: {cause}"
    )]
    Reconnect { offset: u64, cause: Failure },
    #[error("flushing the destination failed: {0}")]
    Flush(Failure),
    #[error(
        "interrupted: stopped after {bytes_done} of {bytes_total} bytes; {}",
        match .flush_failed {
            None => "what was written is flushed".to_owned(),
            Some(cause) => format!("flushing what was written failed: {cause}"),
        }
    )]
    Cancelled {
        bytes_done: u64,
        bytes_total: u64,
        flush_failed: Option<Failure>,
    },
    #[error("copy incomplete: {bytes_done} of {bytes_total} bytes done")]
    Incomplete { bytes_done: u64, bytes_total: u64 },
    #[error("cannot start a copy worker: {0}")]
    Thread(io::Error),
}
