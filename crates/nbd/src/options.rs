//! How long each wait of a connection may take, and how to tear connections down from another
//! thread (a signal handler's thread, a failing sibling).
//!
//! Defaults fit a slow ESXi behind nbdkit-vddk, where the NBD handshake is also when VDDK logs in
//! and opens the disk (tens of seconds on a loaded host), and where VDDK's own NFC read timeout
//! (60 s by default) should fire first and come back as an error reply we can retry.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::connection::Stream;

/// TCP connect: a reachable host answers a SYN in milliseconds; the kernel would retry for ~2 min.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole negotiation: with nbdkit-vddk it includes VDDK's login and disk open on ESXi.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);
/// One request, from submission to its last reply byte: twice VDDK's default NFC read timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// A request not fully answered within this time fails, and the connection is torn down so
    /// every other waiter wakes too (a server that stalls one request cannot be trusted with more).
    pub request_timeout: Duration,
    /// Connections made with these options are shut down when it fires.
    pub teardown: Teardown,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            teardown: Teardown::default(),
        }
    }
}

impl ConnectOptions {
    /// One bound for every wait: the handshake and each request get `timeout`, connecting the
    /// smaller of it and [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn with_timeout(timeout: Duration) -> Self {
        ConnectOptions {
            connect_timeout: timeout.min(DEFAULT_CONNECT_TIMEOUT),
            handshake_timeout: timeout,
            request_timeout: timeout,
            teardown: Teardown::default(),
        }
    }
}

/// Shuts down (`shutdown(2)`) every socket registered with it, at once and from any thread:
/// blocked reads and writes on them return, every request in flight fails, and connections made
/// after it fired fail to start.
#[derive(Clone, Default)]
pub struct Teardown(Arc<Mutex<TeardownState>>);

#[derive(Default)]
struct TeardownState {
    fired: bool,
    sockets: Vec<Weak<Stream>>,
}

impl fmt::Debug for Teardown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Teardown")
            .field("fired", &self.is_fired())
            .finish()
    }
}

impl Teardown {
    pub fn fire(&self) {
        let sockets = {
            let mut state = self.state();
            state.fired = true;
            std::mem::take(&mut state.sockets)
        };
        for socket in sockets.iter().filter_map(Weak::upgrade) {
            socket.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn is_fired(&self) -> bool {
        self.state().fired
    }

    /// False (and the socket shut down) when it has already fired.
    pub(crate) fn register(&self, socket: &Arc<Stream>) -> bool {
        let mut state = self.state();
        if state.fired {
            drop(state);
            socket.shutdown(std::net::Shutdown::Both);
            return false;
        }
        state.sockets.retain(|s| s.strong_count() > 0);
        state.sockets.push(Arc::downgrade(socket));
        true
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TeardownState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
