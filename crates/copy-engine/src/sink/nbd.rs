//! An NBD export as the destination.

use std::sync::{Arc, Condvar, Mutex};

use nbd::{ConnectOptions, Connection, NbdUri};

use super::{Sink, SinkWriter};
use crate::error::{CopyError, Failure};

/// Zeroes written per request when the server cannot write zeroes itself.
const ZERO_CHUNK: usize = 1 << 20;

/// An NBD export written over one connection per writer when the server allows several,
/// otherwise over one shared connection.
pub struct NbdSink {
    uri: NbdUri,
    options: ConnectOptions,
    first: Arc<Connection>,
    zeroed: bool,
}

impl NbdSink {
    /// `zeroed`: the caller knows the export reads as zeroes (a fresh volume). Every
    /// connection is made with `options`.
    pub fn connect(
        uri: &NbdUri,
        source_size: u64,
        zeroed: bool,
        options: &ConnectOptions,
    ) -> Result<Self, CopyError> {
        let connection =
            Connection::connect_with(uri, options).map_err(|e| CopyError::OpenDestination {
                what: uri.to_string(),
                cause: e.to_string(),
            })?;
        if connection.info().read_only() {
            return Err(CopyError::OpenDestination {
                what: uri.to_string(),
                cause: "the export is read-only".into(),
            });
        }
        if connection.size() < source_size {
            return Err(CopyError::DestinationTooSmall {
                destination: connection.size(),
                source_size,
            });
        }
        Ok(NbdSink {
            uri: uri.clone(),
            options: options.clone(),
            first: Arc::new(connection),
            zeroed,
        })
    }
}

impl Sink for NbdSink {
    fn size(&self) -> u64 {
        self.first.size()
    }
    fn is_zeroed(&self) -> bool {
        self.zeroed
    }
    fn max_request(&self) -> Option<u32> {
        Some(self.first.max_payload())
    }
    fn open_writer(&self) -> Result<Box<dyn SinkWriter>, Failure> {
        let connection = if self.first.info().can_multi_conn() {
            Arc::new(Connection::connect_with(&self.uri, &self.options)?)
        } else {
            Arc::clone(&self.first)
        };
        Ok(Box::new(NbdWriter {
            connection,
            zeroes: Vec::new(),
            replies: Arc::default(),
        }))
    }
    fn flush(&self) -> Result<(), Failure> {
        // With CAN_MULTI_CONN a flush on one connection covers writes completed on all; every
        // writer has had its replies (`finish`) before the engine flushes.
        if self.first.info().can_flush() {
            self.first.flush()?;
        }
        Ok(())
    }
}

/// Writes (and zeroings) one writer keeps in flight before it waits for a reply. Measured
/// against qemu-nbd (scripts/bench-copy, NBD target): waiting for each reply left the copy at
/// 0.7x nbdcopy, which keeps 64 requests in flight per connection.
const WRITES_IN_FLIGHT: usize = 16;

/// Replies a writer still waits for, and the first write that failed.
#[derive(Default)]
struct Replies {
    state: Mutex<RepliesState>,
    arrived: Condvar,
}

#[derive(Default)]
struct RepliesState {
    waiting: usize,
    failed: Option<Failure>,
}

impl Replies {
    /// Waits until fewer than `most` replies are outstanding; then reports a failure of an
    /// earlier request, if any. The wait is bounded by the connection: a request without a
    /// reply within its timeout fails, and so does everything in flight on a lost connection.
    fn wait_below(&self, most: usize) -> Result<(), Failure> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.waiting >= most {
            state = self.arrived.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        match &state.failed {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    /// Waits for room among the `WRITES_IN_FLIGHT` (reporting an earlier failure, if any),
    /// then counts one more request and returns what its reply must call.
    fn reserve(
        self: &Arc<Self>,
        what: &'static str,
        offset: u64,
        length: u64,
    ) -> Result<impl FnOnce(Result<(), nbd::Error>) + Send + 'static, Failure> {
        self.wait_below(WRITES_IN_FLIGHT)?;
        self.state.lock().unwrap_or_else(|p| p.into_inner()).waiting += 1;
        let replies = Arc::clone(self);
        Ok(move |result| {
            let mut state = replies.state.lock().unwrap_or_else(|p| p.into_inner());
            state.waiting -= 1;
            if let Err(e) = result
                && state.failed.is_none()
            {
                // Not retried: the bytes of a pipelined write are no longer at hand, and
                // sending later data again would not bring them back.
                state.failed = Some(Failure::permanent(format!(
                    "{what} of {length} bytes at offset {offset} failed: {e}"
                )));
            }
            drop(state);
            replies.arrived.notify_all();
        })
    }
}

struct NbdWriter {
    connection: Arc<Connection>,
    zeroes: Vec<u8>,
    replies: Arc<Replies>,
}

impl NbdWriter {
    fn send_write(&self, offset: u64, data: &[u8]) -> Result<(), Failure> {
        let done = self.replies.reserve("writing", offset, data.len() as u64)?;
        // The payload is on the wire when this returns; only the reply is awaited later.
        self.connection.submit_write(offset, data, done);
        Ok(())
    }
}

impl SinkWriter for NbdWriter {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), Failure> {
        let max = self.connection.max_payload() as usize;
        for (i, chunk) in data.chunks(max).enumerate() {
            self.send_write(offset + (i * max) as u64, chunk)?;
        }
        Ok(())
    }

    fn zero(&mut self, offset: u64, length: u64) -> Result<(), Failure> {
        let mut done = 0;
        if self.connection.info().can_write_zeroes() {
            while done < length {
                let n = (length - done).min(u64::from(nbd::MAX_NON_PAYLOAD_REQUEST)) as u32;
                let reply = self
                    .replies
                    .reserve("zeroing", offset + done, u64::from(n))?;
                self.connection
                    .submit_write_zeroes(offset + done, n, true, reply);
                done += u64::from(n);
            }
            return Ok(());
        }
        let chunk = (self.connection.max_payload() as usize).min(ZERO_CHUNK);
        if self.zeroes.len() != chunk {
            self.zeroes = vec![0u8; chunk];
        }
        while done < length {
            let n = (length - done).min(chunk as u64) as usize;
            self.send_write(offset + done, &self.zeroes[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Failure> {
        self.replies.wait_below(1)
    }
}
