//! The crate's error type.

use std::time::Duration;

use crate::fault::Fault;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP exchange failed (connection refused, TLS handshake refused, timeout…).
    #[error("cannot reach vSphere at {url}: {message}")]
    Transport { url: String, message: String },

    /// An HTTP status that carries no SOAP fault.
    #[error("vSphere at {url} answered HTTP {status}: {body}")]
    HttpStatus {
        url: String,
        status: u16,
        body: String,
    },

    /// A redirect: never followed, so the password and session cookie reach no other place.
    #[error(
        "vSphere at {url} answered HTTP {status} redirecting to {location:?}; redirects are not \
         followed (credentials must not leave the server named): give the server's own address"
    )]
    Redirected {
        url: String,
        status: u16,
        location: String,
    },

    /// An answer larger than this client reads.
    #[error(
        "vSphere at {url} sent an answer larger than {} MiB; it was not read further", limit >> 20
    )]
    TooLarge { url: String, limit: usize },

    /// A fault raised by vSphere, with its own message.
    #[error("{0}")]
    Fault(Box<Fault>),

    /// A task ended in error.
    #[error("task {task} ({description}) failed: {fault}")]
    TaskFailed {
        task: String,
        description: String,
        fault: Box<Fault>,
    },

    /// A task did not end within the client's task timeout; vSphere may still be running it.
    #[error(
        "task {task} did not finish within {after:?}; it may still be running: see the VM's recent tasks in vCenter"
    )]
    TaskTimedOut { task: String, after: Duration },

    /// The response did not have the expected shape.
    #[error("unexpected vSphere response: {0}")]
    Decode(String),

    /// Bad TLS settings (unreadable CA file, malformed thumbprint…).
    #[error("TLS configuration: {0}")]
    Tls(String),

    /// Bad connection settings or arguments.
    #[error("{0}")]
    Config(String),

    /// No virtual machine matched.
    #[error("virtual machine not found: {0}")]
    VmNotFound(String),

    /// A name matched several virtual machines.
    #[error("{count} virtual machines are named {name:?}: {}; use the inventory path, UUID or moref", matches.join(", "))]
    AmbiguousName {
        name: String,
        count: usize,
        matches: Vec<String>,
    },

    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
}

/// The most of a server-supplied text (fault message, odd value) an error message carries:
/// errors end up in module results and logs, which a hostile server must not fill.
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// `text`, cut to [`MAX_MESSAGE_CHARS`] characters with a note of how much was left out.
pub(crate) fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}… ({} more bytes)", &text[..at], text.len() - at),
        None => text.to_owned(),
    }
}

impl Error {
    pub(crate) fn decode(message: impl Into<String>) -> Self {
        Self::Decode(cut(&message.into()))
    }

    /// The vSphere fault behind this error, if any (also for failed tasks).
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Self::Fault(fault) | Self::TaskFailed { fault, .. } => Some(fault),
            _ => None,
        }
    }

    pub fn is_not_authenticated(&self) -> bool {
        self.fault()
            .is_some_and(|f| matches!(f.kind, crate::fault::FaultKind::NotAuthenticated))
    }
}

impl From<Fault> for Error {
    fn from(fault: Fault) -> Self {
        Self::Fault(Box::new(fault))
    }
}
