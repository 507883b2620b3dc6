//! A pure-Rust NBD client.
//!
//! - [`protocol`] and [`handshake`] are the sans-I/O core: request encoding, reply and chunk
//!   decoding, and fixed-newstyle negotiation as a state machine. They are tested on byte
//!   fixtures and with arbitrary bytes; every length read from the wire is bounded before use.
//! - [`Connection`] is the I/O driver: blocking sockets (Unix or TCP), requests written by the
//!   submitting thread with one `writev`, and a reader thread per connection that matches
//!   replies to requests by handle (servers such as nbdkit answer out of order) and reads data
//!   straight into the caller's buffer.
//! - Every wait is bounded ([`ConnectOptions`]): connecting, the whole negotiation, and each
//!   request from submission to its last reply byte; a [`Teardown`] ends connections from
//!   another thread (SIGTERM) so nothing stays blocked in a read or write.
//!
//! Why threads and not tokio: a copy keeps a handful of connections busy with large requests;
//! one reader thread per connection costs nothing next to the bytes moved, needs no runtime,
//! keeps the hot path free of wakers and task allocations, and lets completion callbacks write
//! to files with plain `pwrite`. Callers that live in tokio use `spawn_blocking`.

mod connection;
pub mod error;
pub mod handshake;
mod options;
pub mod protocol;
mod uri;

pub use connection::{Connection, MAX_NON_PAYLOAD_REQUEST};
pub use error::{Error, ProtocolError};
pub use handshake::{BlockSize, ExportInfo};
pub use options::{
    ConnectOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    Teardown,
};
pub use protocol::{Command, Extent, TransmissionFlags};
pub use uri::{Endpoint, NbdUri};
