use crate::protocol::{Command, errno_name};

/// The server broke the protocol, or sent something we refuse to handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("bad magic {found:#x} where the {expected} was expected")]
    BadMagic { found: u64, expected: &'static str },
    #[error("server does not offer fixed newstyle negotiation")]
    NotFixedNewstyle,
    #[error("server answered option {found} while option {expected} was pending")]
    WrongOption { found: u32, expected: u32 },
    #[error("{what} of {length} bytes exceeds the limit of {limit}")]
    TooLong {
        what: &'static str,
        length: u64,
        limit: u64,
    },
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("server refused option {option}: {reason} ({code:#x}){}", fmt_message(.message))]
    OptionRefused {
        option: &'static str,
        code: u32,
        reason: &'static str,
        message: String,
    },
    #[error("server ended negotiation without describing the export")]
    NoExportInfo,
    #[error("reply for unknown handle {0}")]
    UnknownHandle(u64),
    #[error("{0}")]
    Unexpected(&'static str),
}

fn fmt_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Everything an NBD operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid NBD URI {uri:?}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("I/O error during negotiation: {0}")]
    HandshakeIo(std::io::Error),
    #[error(
        "the server did not finish negotiating within {0:?} (a stalled source; raise the NBD timeout if it is only slow)"
    )]
    HandshakeTimeout(std::time::Duration),
    #[error("the connection was torn down (cancelled)")]
    Cancelled,
    #[error("NBD protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    #[error(
        "server failed {command} at offset {offset} length {length}: {} ({errno}){}",
        errno_name(*.errno), fmt_message(.message)
    )]
    Server {
        command: Command,
        offset: u64,
        length: u32,
        errno: u32,
        message: String,
    },
    #[error("connection lost: {0}")]
    Disconnected(String),
    #[error("server does not support {0}")]
    Unsupported(&'static str),
    #[error("{command} of {length} bytes exceeds the server's maximum request of {max} bytes")]
    TooLarge {
        command: Command,
        length: u64,
        max: u32,
    },
    #[error("{command} at offset {offset} length {length} is beyond the export size {size}")]
    OutOfRange {
        command: Command,
        offset: u64,
        length: u64,
        size: u64,
    },
}

impl Error {
    /// True when the connection is gone and a new one is needed to go on.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Disconnected(_) | Error::Protocol(_))
    }

    /// True for a failure the server reported for one request; the connection is still usable.
    pub fn is_server_error(&self) -> bool {
        matches!(self, Error::Server { .. })
    }
}
