//! The I/O driver: one socket, a submitting side and a reader thread.
//!
//! Requests are written by whichever thread submits them (one `writev` each, under a mutex) and
//! registered by handle before they hit the wire. A dedicated reader thread parses replies as they
//! come — in any order, chunk by chunk — reads `OFFSET_DATA` straight into the caller's buffer and
//! calls the request's completion. Completions run on the reader thread: they must be short and
//! must not wait for another reply of the same connection (hand the result to a channel instead).

use std::collections::HashMap;
use std::io::{self, BufReader, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, ProtocolError};
use crate::handshake::{ExportInfo, Handshake, Step};
use crate::options::{ConnectOptions, Teardown};
use crate::protocol::{
    CHUNK_BLOCK_STATUS, CHUNK_ERROR_BIT, CHUNK_HEADER_REST, CHUNK_NONE, CHUNK_OFFSET_DATA,
    CHUNK_OFFSET_HOLE, CMD_FLAG_FAST_ZERO, CMD_FLAG_NO_HOLE, ChunkHeader, Command, Extent,
    MAX_METADATA_CHUNK, ReplyKind, Request, SIMPLE_REPLY_REST, SimpleReply, TransmissionFlags,
    decode_block_status, decode_error_chunk, decode_offset_hole, decode_reply_magic,
};
use crate::uri::{Endpoint, NbdUri};

/// Largest write-zeroes/trim/cache/block-status length sent in one request.
pub const MAX_NON_PAYLOAD_REQUEST: u32 = 1 << 30;

/// Small on purpose: it only has to hold reply headers. Read data bigger than the buffer goes
/// straight from the socket into the caller's buffer; a large buffer would pull data in with
/// each header and cost a user-space copy of most of the bytes (measured: 7% of a copy's CPU).
const READER_BUFFER: usize = 4096;

pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        // A zero timeout means "none" to the kernel: never pass it.
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Stream::Unix(s) => s.set_read_timeout(timeout),
            Stream::Tcp(s) => s.set_read_timeout(timeout),
        }
    }
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Stream::Unix(s) => s.set_write_timeout(timeout),
            Stream::Tcp(s) => s.set_write_timeout(timeout),
        }
    }
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }
    pub(crate) fn shutdown(&self, how: Shutdown) {
        // Shutting down an already dead socket fails harmlessly.
        let _ = match self {
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Tcp(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A buffer a read lands in, plus what to do once it is filled.
trait ReadTarget: Send {
    fn buffer(&mut self) -> &mut [u8];
    fn complete(self: Box<Self>, result: Result<(), Error>);
}

struct ReadJob<B, F> {
    buf: B,
    done: F,
}

impl<B, F> ReadTarget for ReadJob<B, F>
where
    B: AsMut<[u8]> + Send,
    F: FnOnce(B, Result<(), Error>) + Send,
{
    fn buffer(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }
    fn complete(self: Box<Self>, result: Result<(), Error>) {
        (self.done)(self.buf, result)
    }
}

type Done<T> = Box<dyn FnOnce(Result<T, Error>) + Send>;

struct Pending {
    command: Command,
    offset: u64,
    length: u32,
    /// When it was registered: its reply must be complete within the request timeout.
    sent: Instant,
    error: Option<Error>,
    kind: PendingKind,
}

enum PendingKind {
    Read {
        target: Box<dyn ReadTarget>,
        /// Byte ranges (relative to the request) filled so far, to prove full coverage.
        covered: Vec<(u32, u32)>,
    },
    BlockStatus {
        done: Done<Vec<Extent>>,
        extents: Vec<Extent>,
    },
    Plain {
        done: Done<()>,
    },
}

impl Pending {
    fn fail(self, error: Error) {
        match self.kind {
            PendingKind::Read { target, .. } => target.complete(Err(error)),
            PendingKind::BlockStatus { done, .. } => done(Err(error)),
            PendingKind::Plain { done } => done(Err(error)),
        }
    }

    fn finish(self) {
        let Pending {
            command,
            offset,
            length,
            sent,
            error,
            kind,
        } = self;
        if let Some(error) = error {
            return Pending {
                command,
                offset,
                length,
                sent,
                error: None,
                kind,
            }
            .fail(error);
        }
        match kind {
            PendingKind::Read {
                target,
                mut covered,
            } => {
                covered.sort_unstable();
                let mut end = 0u32;
                for (start, len) in covered {
                    if start != end {
                        break;
                    }
                    end = start + len;
                }
                if end == length {
                    target.complete(Ok(()))
                } else {
                    target.complete(Err(Error::Protocol(ProtocolError::Unexpected(
                        "read reply did not cover the requested range exactly once",
                    ))))
                }
            }
            PendingKind::BlockStatus { done, extents } => {
                if extents.is_empty() {
                    done(Err(Error::Protocol(ProtocolError::Unexpected(
                        "block status reply without extents",
                    ))))
                } else {
                    done(Ok(extents))
                }
            }
            PendingKind::Plain { done } => done(Ok(())),
        }
    }
}

#[derive(Default)]
struct Inflight {
    pending: HashMap<u64, Pending>,
    closed: Option<String>,
    closing: bool,
}

struct Writer {
    stream: Stream,
    next_handle: u64,
}

/// One NBD connection with many requests in flight.
pub struct Connection {
    info: ExportInfo,
    uri: NbdUri,
    writer: Mutex<Writer>,
    inflight: Arc<Mutex<Inflight>>,
    control: Arc<Stream>,
    reader: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a completion must not wedge every other request of the connection.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Connection {
    /// Connects, negotiates (asking for `base:allocation`) and starts the reader thread, with
    /// the default timeouts.
    pub fn connect(uri: &NbdUri) -> Result<Connection, Error> {
        Connection::connect_with(uri, &ConnectOptions::default())
    }

    /// Like [`Connection::connect`], each wait bounded as `options` says.
    pub fn connect_with(uri: &NbdUri, options: &ConnectOptions) -> Result<Connection, Error> {
        if options.teardown.is_fired() {
            return Err(Error::Cancelled);
        }
        let connect_error = |source| Error::Connect {
            target: uri.endpoint.to_string(),
            source,
        };
        let mut stream = match &uri.endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            Endpoint::Tcp { host, port } => {
                connect_tcp(host, *port, options.connect_timeout).map(|s| {
                    // Requests are small frames followed by replies; never wait for Nagle.
                    let _ = s.set_nodelay(true);
                    Stream::Tcp(s)
                })
            }
        }
        .map_err(connect_error)?;
        let control = Arc::new(stream.try_clone().map_err(Error::HandshakeIo)?);
        if !options.teardown.register(&control) {
            return Err(Error::Cancelled);
        }
        let negotiated = negotiate(&mut stream, &uri.export, options.handshake_timeout);
        let info = match negotiated {
            Ok(info) => info,
            Err(_) if options.teardown.is_fired() => return Err(Error::Cancelled),
            Err(e) => return Err(e),
        };
        tracing::debug!(
            uri = %uri,
            size = info.size,
            flags = format_args!("{:#x}", info.flags.0),
            block_max = info.block_size.maximum,
            block_status = info.can_block_status(),
            "NBD connection negotiated"
        );

        // The reader wakes every `tick` to look for overdue requests; a write blocked longer
        // than a request may take fails and tears the connection down.
        let timeout = options.request_timeout;
        let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        stream.set_read_timeout(tick).map_err(Error::HandshakeIo)?;
        stream
            .set_write_timeout(timeout)
            .map_err(Error::HandshakeIo)?;

        let inflight = Arc::new(Mutex::new(Inflight::default()));
        let read_half = stream.try_clone().map_err(Error::HandshakeIo)?;
        let reader = {
            let inflight = Arc::clone(&inflight);
            let control = Arc::clone(&control);
            let teardown = options.teardown.clone();
            std::thread::Builder::new()
                .name("nbd-reader".into())
                .spawn(move || {
                    let mut reader = ReplyReader {
                        input: BufReader::with_capacity(READER_BUFFER, read_half),
                        inflight,
                        active: HashMap::new(),
                        current: None,
                        info,
                        timeout,
                        tick,
                        last_check: Instant::now(),
                        teardown,
                    };
                    reader.run();
                    control.shutdown(Shutdown::Both);
                })
                .map_err(Error::HandshakeIo)?
        };
        Ok(Connection {
            info,
            uri: uri.clone(),
            writer: Mutex::new(Writer {
                stream,
                next_handle: 1,
            }),
            inflight,
            control,
            reader: Some(reader),
        })
    }

    pub fn info(&self) -> &ExportInfo {
        &self.info
    }

    pub fn uri(&self) -> &NbdUri {
        &self.uri
    }

    pub fn size(&self) -> u64 {
        self.info.size
    }

    /// Largest read or write payload this server accepts.
    pub fn max_payload(&self) -> u32 {
        self.info.block_size.maximum
    }

    /// Why the connection is unusable, if it is.
    pub fn closed_reason(&self) -> Option<String> {
        lock(&self.inflight).closed.clone()
    }

    fn check(&self, command: Command, offset: u64, length: u64) -> Result<(), Error> {
        if offset
            .checked_add(length)
            .is_none_or(|end| end > self.info.size)
        {
            return Err(Error::OutOfRange {
                command,
                offset,
                length,
                size: self.info.size,
            });
        }
        let limit = match command {
            Command::Read | Command::Write => self.max_payload(),
            _ => MAX_NON_PAYLOAD_REQUEST,
        };
        if length > u64::from(limit) {
            return Err(Error::TooLarge {
                command,
                length,
                max: limit,
            });
        }
        let flags = self.info.flags;
        let writes = matches!(
            command,
            Command::Write | Command::WriteZeroes | Command::Trim
        );
        if writes && flags.has(TransmissionFlags::READ_ONLY) {
            return Err(Error::Unsupported("writes (the export is read-only)"));
        }
        let needed = match command {
            Command::Flush => Some((TransmissionFlags::SEND_FLUSH, "flush")),
            Command::Trim => Some((TransmissionFlags::SEND_TRIM, "trim")),
            Command::WriteZeroes => Some((TransmissionFlags::SEND_WRITE_ZEROES, "write zeroes")),
            Command::Cache => Some((TransmissionFlags::SEND_CACHE, "cache")),
            _ => None,
        };
        if let Some((flag, name)) = needed
            && !flags.has(flag)
        {
            return Err(Error::Unsupported(name));
        }
        if command == Command::BlockStatus && self.info.allocation_context.is_none() {
            return Err(Error::Unsupported("base:allocation block status"));
        }
        Ok(())
    }

    /// Registers `pending` and sends its request; a closed connection fails it at once.
    fn send(&self, flags: u16, pending: Pending, payload: Option<&[u8]>) {
        let mut writer = lock(&self.writer);
        let handle = writer.next_handle;
        writer.next_handle = writer.next_handle.wrapping_add(1);
        let request = Request {
            flags,
            command: pending.command,
            handle,
            offset: pending.offset,
            length: pending.length,
        };
        {
            let mut inflight = lock(&self.inflight);
            if let Some(reason) = &inflight.closed {
                let error = Error::Disconnected(reason.clone());
                drop(inflight);
                drop(writer);
                return pending.fail(error);
            }
            let mut pending = pending;
            pending.sent = Instant::now();
            inflight.pending.insert(handle, pending);
        }
        let header = request.encode();
        if let Err(e) = write_request(&mut writer.stream, &header, payload.unwrap_or(&[])) {
            // The stream may hold half a request now: kill it; the reader fails everything
            // registered, this request included.
            tracing::debug!(error = %e, "NBD request write failed");
            writer.stream.shutdown(Shutdown::Both);
        }
    }

    fn submit_checked(&self, flags: u16, pending: Pending, payload: Option<&[u8]>) {
        let checked = self.check(pending.command, pending.offset, u64::from(pending.length));
        match checked {
            Ok(()) => self.send(flags, pending, payload),
            Err(e) => pending.fail(e),
        }
    }

    /// Reads `buf.len()` bytes at `offset` into `buf`; `done` gets the buffer back either way.
    pub fn submit_read<B, F>(&self, offset: u64, mut buf: B, done: F)
    where
        B: AsMut<[u8]> + Send + 'static,
        F: FnOnce(B, Result<(), Error>) + Send + 'static,
    {
        let len = buf.as_mut().len();
        let Ok(length) = u32::try_from(len) else {
            return done(
                buf,
                Err(Error::TooLarge {
                    command: Command::Read,
                    length: len as u64,
                    max: self.max_payload(),
                }),
            );
        };
        let pending = Pending {
            command: Command::Read,
            offset,
            length,
            sent: Instant::now(),
            error: None,
            kind: PendingKind::Read {
                target: Box::new(ReadJob { buf, done }),
                covered: Vec::new(),
            },
        };
        self.submit_checked(0, pending, None);
    }

    /// Writes `data` at `offset`. The bytes are on the wire when this returns.
    pub fn submit_write<F>(&self, offset: u64, data: &[u8], done: F)
    where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        let Ok(length) = u32::try_from(data.len()) else {
            return done(Err(Error::TooLarge {
                command: Command::Write,
                length: data.len() as u64,
                max: self.max_payload(),
            }));
        };
        self.submit_plain(Command::Write, 0, offset, length, Some(data), done);
    }

    /// Writes zeroes; `punch` lets the server deallocate (no `NO_HOLE` flag).
    pub fn submit_write_zeroes<F>(&self, offset: u64, length: u32, punch: bool, done: F)
    where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        let flags = if punch { 0 } else { CMD_FLAG_NO_HOLE };
        self.submit_plain(Command::WriteZeroes, flags, offset, length, None, done);
    }

    /// Like [`Self::submit_write_zeroes`] but fails at once with `ENOTSUP` if zeroing would
    /// not be faster than writing.
    pub fn submit_fast_zero<F>(&self, offset: u64, length: u32, done: F)
    where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        if !self.info.flags.has(TransmissionFlags::SEND_FAST_ZERO) {
            return done(Err(Error::Unsupported("fast zero")));
        }
        self.submit_plain(
            Command::WriteZeroes,
            CMD_FLAG_FAST_ZERO,
            offset,
            length,
            None,
            done,
        );
    }

    pub fn submit_trim<F>(&self, offset: u64, length: u32, done: F)
    where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        self.submit_plain(Command::Trim, 0, offset, length, None, done);
    }

    pub fn submit_cache<F>(&self, offset: u64, length: u32, done: F)
    where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        self.submit_plain(Command::Cache, 0, offset, length, None, done);
    }

    pub fn submit_flush<F>(&self, done: F)
    where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        self.submit_plain(Command::Flush, 0, 0, 0, None, done);
    }

    /// Asks `base:allocation` for `[offset, offset+length)`. The extents returned are clipped to
    /// that range and may cover only its beginning.
    pub fn submit_block_status<F>(&self, offset: u64, length: u32, done: F)
    where
        F: FnOnce(Result<Vec<Extent>, Error>) + Send + 'static,
    {
        let pending = Pending {
            command: Command::BlockStatus,
            offset,
            length,
            sent: Instant::now(),
            error: None,
            kind: PendingKind::BlockStatus {
                done: Box::new(done),
                extents: Vec::new(),
            },
        };
        self.submit_checked(0, pending, None);
    }

    fn submit_plain<F>(
        &self,
        command: Command,
        flags: u16,
        offset: u64,
        length: u32,
        payload: Option<&[u8]>,
        done: F,
    ) where
        F: FnOnce(Result<(), Error>) + Send + 'static,
    {
        let pending = Pending {
            command,
            offset,
            length,
            sent: Instant::now(),
            error: None,
            kind: PendingKind::Plain {
                done: Box::new(done),
            },
        };
        self.submit_checked(flags, pending, payload);
    }

    // Blocking conveniences. Never call them from a completion of the same connection.

    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit_read(offset, vec![0u8; buf.len()], move |b, r| {
            let _ = tx.send((b, r));
        });
        let (data, result) = rx.recv().map_err(|_| lost())?;
        result?;
        buf.copy_from_slice(&data);
        Ok(())
    }

    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Error> {
        wait(|done| self.submit_write(offset, data, done))
    }

    pub fn write_zeroes(&self, offset: u64, length: u32, punch: bool) -> Result<(), Error> {
        wait(|done| self.submit_write_zeroes(offset, length, punch, done))
    }

    pub fn trim(&self, offset: u64, length: u32) -> Result<(), Error> {
        wait(|done| self.submit_trim(offset, length, done))
    }

    pub fn cache(&self, offset: u64, length: u32) -> Result<(), Error> {
        wait(|done| self.submit_cache(offset, length, done))
    }

    pub fn flush(&self) -> Result<(), Error> {
        wait(|done| self.submit_flush(done))
    }

    pub fn block_status(&self, offset: u64, length: u32) -> Result<Vec<Extent>, Error> {
        wait(|done| self.submit_block_status(offset, length, done))
    }
}

/// Tries each address of `host` in turn within what is left of `timeout`.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name resolves to nothing");
    for address in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ));
        }
        match TcpStream::connect_timeout(&address, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// What a socket read or write timeout looks like (`EAGAIN` on Linux, `TimedOut` elsewhere).
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Runs the handshake; the whole of it must be over by `timeout`, however the server trickles.
fn negotiate(stream: &mut Stream, export: &str, timeout: Duration) -> Result<ExportInfo, Error> {
    let deadline = Instant::now() + timeout;
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Error::HandshakeTimeout(timeout))
        } else {
            Ok(left)
        }
    };
    let mut handshake = Handshake::new(export, true)?;
    let mut scratch = Vec::new();
    loop {
        match handshake.next_step()? {
            Step::Send(bytes) => {
                stream
                    .set_write_timeout(left()?)
                    .map_err(Error::HandshakeIo)?;
                match stream.write_all(&bytes) {
                    Ok(()) => {}
                    Err(e) if timed_out(&e) => return Err(Error::HandshakeTimeout(timeout)),
                    Err(e) => return Err(Error::HandshakeIo(e)),
                }
            }
            Step::Receive(n) => {
                scratch.resize(n, 0);
                let mut filled = 0;
                while filled < n {
                    stream
                        .set_read_timeout(left()?)
                        .map_err(Error::HandshakeIo)?;
                    match stream.read(&mut scratch[filled..]) {
                        Ok(0) => {
                            return Err(Error::HandshakeIo(io::ErrorKind::UnexpectedEof.into()));
                        }
                        Ok(k) => filled += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if timed_out(&e) => left().map(|_| ())?,
                        Err(e) => return Err(Error::HandshakeIo(e)),
                    }
                }
                handshake.receive(&scratch)?;
            }
            Step::Done(info) => return Ok(info),
        }
    }
}

fn lost() -> Error {
    Error::Disconnected("completion dropped".into())
}

fn wait<T: Send + 'static>(
    submit: impl FnOnce(Box<dyn FnOnce(Result<T, Error>) + Send>),
) -> Result<T, Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    submit(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.recv().map_err(|_| lost())?
}

fn write_request(stream: &mut Stream, header: &[u8], payload: &[u8]) -> io::Result<()> {
    let mut slices = [IoSlice::new(header), IoSlice::new(payload)];
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match stream.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Drop for Connection {
    fn drop(&mut self) {
        let already_closed = {
            let mut inflight = lock(&self.inflight);
            inflight.closing = true;
            inflight.closed.is_some()
        };
        if !already_closed {
            let mut writer = lock(&self.writer);
            let request = Request {
                flags: 0,
                command: Command::Disconnect,
                handle: 0,
                offset: 0,
                length: 0,
            };
            let _ = write_request(&mut writer.stream, &request.encode(), &[]);
        }
        self.control.shutdown(Shutdown::Write);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

struct ReplyReader {
    input: BufReader<Stream>,
    inflight: Arc<Mutex<Inflight>>,
    /// Requests whose first chunk has arrived; only this thread touches them.
    active: HashMap<u64, Pending>,
    /// The request whose reply is being read (taken out of both maps meanwhile).
    current: Option<Overdue>,
    info: ExportInfo,
    timeout: Duration,
    /// How often overdue requests are looked for, also while bytes keep coming (a server may
    /// trickle a reply, or send chunks forever without DONE).
    tick: Duration,
    last_check: Instant,
    teardown: Teardown,
}

/// What is said about a request whose reply did not come in time.
#[derive(Clone, Copy)]
struct Overdue {
    sent: Instant,
    command: Command,
    offset: u64,
    length: u32,
}

impl Overdue {
    fn of(p: &Pending) -> Overdue {
        Overdue {
            sent: p.sent,
            command: p.command,
            offset: p.offset,
            length: p.length,
        }
    }
}

enum Stop {
    Eof,
    /// Dropped with nothing in flight; the server has not hung up yet.
    Closing,
    Failed(Error),
}

impl ReplyReader {
    fn run(&mut self) {
        let reason = loop {
            match self.next_reply() {
                Ok(()) => {}
                Err(_) if self.teardown.is_fired() => break Error::Cancelled.to_string(),
                Err(Stop::Eof) => break "server closed the connection".to_owned(),
                Err(Stop::Closing) => break "connection closed".to_owned(),
                Err(Stop::Failed(e)) => break e.to_string(),
            }
        };
        let orphans: Vec<Pending> = {
            let mut inflight = lock(&self.inflight);
            if !inflight.closing {
                tracing::warn!(reason = %reason, "NBD connection lost");
            }
            inflight.closed = Some(reason.clone());
            inflight.pending.drain().map(|(_, p)| p).collect()
        };
        for pending in orphans
            .into_iter()
            .chain(self.active.drain().map(|(_, p)| p))
        {
            pending.fail(Error::Disconnected(reason.clone()));
        }
    }

    /// Fills `buf`. The socket's read timeout is a tick: at each, a request older than the
    /// request timeout ends the connection.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Stop> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => return Err(Stop::Eof),
                Ok(n) => {
                    filled += n;
                    if self.last_check.elapsed() >= self.tick {
                        self.check_overdue()?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => self.check_overdue()?,
                Err(e) => return Err(Stop::Failed(Error::Disconnected(e.to_string()))),
            }
        }
        Ok(())
    }

    fn check_overdue(&mut self) -> Result<(), Stop> {
        self.last_check = Instant::now();
        let oldest = {
            let inflight = lock(&self.inflight);
            if inflight.closing && inflight.pending.is_empty() && self.active.is_empty() {
                return Err(Stop::Closing);
            }
            inflight
                .pending
                .values()
                .chain(self.active.values())
                .map(Overdue::of)
                .chain(self.current)
                .min_by_key(|o| o.sent)
        };
        match oldest {
            Some(o) if o.sent.elapsed() > self.timeout => {
                Err(Stop::Failed(Error::Disconnected(format!(
                    "no complete reply to {} at offset {} length {} within {:?}; the connection was torn down",
                    o.command, o.offset, o.length, self.timeout
                ))))
            }
            _ => Ok(()),
        }
    }

    fn take(&mut self, handle: u64) -> Result<Pending, Stop> {
        if let Some(p) = self.active.remove(&handle) {
            return Ok(p);
        }
        lock(&self.inflight)
            .pending
            .remove(&handle)
            .ok_or(Stop::Failed(Error::Protocol(ProtocolError::UnknownHandle(
                handle,
            ))))
    }

    fn next_reply(&mut self) -> Result<(), Stop> {
        let mut magic = [0u8; 4];
        self.read_exact(&mut magic)?;
        let result = match decode_reply_magic(magic).map_err(|e| Stop::Failed(e.into()))? {
            ReplyKind::Simple => self.simple_reply(),
            ReplyKind::Structured => self.structured_chunk(),
        };
        self.current = None;
        result
    }

    fn simple_reply(&mut self) -> Result<(), Stop> {
        let mut rest = [0u8; SIMPLE_REPLY_REST];
        self.read_exact(&mut rest)?;
        let reply = SimpleReply::decode(&rest);
        let mut pending = self.take(reply.handle)?;
        self.current = Some(Overdue::of(&pending));
        if reply.error != 0 {
            pending.error = Some(server_error(&pending, reply.error, String::new()));
            pending.finish();
            return Ok(());
        }
        let structured = self.info.structured_replies;
        let outcome = match &mut pending.kind {
            PendingKind::Read { .. } if structured => {
                Err(protocol_stop("simple reply carrying read data"))
            }
            PendingKind::Read { target, covered } => self.read_exact(target.buffer()).map(|()| {
                covered.push((0, pending.length));
            }),
            PendingKind::BlockStatus { .. } => Err(protocol_stop("simple reply to block status")),
            PendingKind::Plain { .. } => Ok(()),
        };
        match outcome {
            Ok(()) => {
                pending.finish();
                Ok(())
            }
            Err(stop) => {
                self.active.insert(reply.handle, pending);
                Err(stop)
            }
        }
    }

    fn structured_chunk(&mut self) -> Result<(), Stop> {
        let mut rest = [0u8; CHUNK_HEADER_REST];
        self.read_exact(&mut rest)?;
        let header = ChunkHeader::decode(&rest);
        let mut pending = self.take(header.handle)?;
        self.current = Some(Overdue::of(&pending));
        if let Err(stop) = self.apply_chunk(&header, &mut pending) {
            self.active.insert(header.handle, pending);
            return Err(stop);
        }
        if header.is_done() {
            pending.finish();
        } else {
            self.active.insert(header.handle, pending);
        }
        Ok(())
    }

    fn read_metadata(&mut self, length: u32) -> Result<Vec<u8>, Stop> {
        if length > MAX_METADATA_CHUNK {
            return Err(Stop::Failed(Error::Protocol(ProtocolError::TooLong {
                what: "reply chunk",
                length: u64::from(length),
                limit: u64::from(MAX_METADATA_CHUNK),
            })));
        }
        let mut payload = vec![0u8; length as usize];
        self.read_exact(&mut payload)?;
        Ok(payload)
    }

    fn apply_chunk(&mut self, header: &ChunkHeader, pending: &mut Pending) -> Result<(), Stop> {
        match header.kind {
            CHUNK_NONE => {
                if header.length != 0 || !header.is_done() {
                    return Err(protocol_stop("NONE chunk with payload or without DONE"));
                }
            }
            CHUNK_OFFSET_DATA => {
                let (req_offset, req_length) = (pending.offset, pending.length);
                let PendingKind::Read { target, covered } = &mut pending.kind else {
                    return Err(protocol_stop("data chunk for a request that reads nothing"));
                };
                if header.length < 8 {
                    return Err(protocol_stop("data chunk shorter than its offset"));
                }
                let data_len = header.length - 8;
                let mut offset = [0u8; 8];
                self.read_exact(&mut offset)?;
                let relative =
                    within(u64::from_be_bytes(offset), data_len, req_offset, req_length)?;
                let buf = target.buffer();
                let slice = &mut buf[relative as usize..(relative + data_len) as usize];
                self.read_exact(slice)?;
                covered.push((relative, data_len));
            }
            CHUNK_OFFSET_HOLE => {
                let payload = self.read_metadata(header.length)?;
                let (offset, length) =
                    decode_offset_hole(&payload).map_err(|e| Stop::Failed(e.into()))?;
                let (req_offset, req_length) = (pending.offset, pending.length);
                let PendingKind::Read { target, covered } = &mut pending.kind else {
                    return Err(protocol_stop("hole chunk for a request that reads nothing"));
                };
                let relative = within(offset, length, req_offset, req_length)?;
                target.buffer()[relative as usize..(relative + length) as usize].fill(0);
                covered.push((relative, length));
            }
            CHUNK_BLOCK_STATUS => {
                let payload = self.read_metadata(header.length)?;
                let (context, extents) =
                    decode_block_status(&payload).map_err(|e| Stop::Failed(e.into()))?;
                let req_length = pending.length;
                let PendingKind::BlockStatus { extents: got, .. } = &mut pending.kind else {
                    return Err(protocol_stop("block status chunk for another command"));
                };
                if Some(context) != self.info.allocation_context {
                    return Err(protocol_stop("block status for a context never negotiated"));
                }
                if !got.is_empty() {
                    return Err(protocol_stop("second block status chunk for one context"));
                }
                *got = clip_extents(extents, req_length);
                if got.is_empty() {
                    return Err(protocol_stop("block status with an empty extent"));
                }
            }
            kind if kind & CHUNK_ERROR_BIT != 0 => {
                let payload = self.read_metadata(header.length)?;
                let chunk =
                    decode_error_chunk(kind, &payload).map_err(|e| Stop::Failed(e.into()))?;
                if chunk.errno == 0 {
                    return Err(protocol_stop("error chunk with errno 0"));
                }
                if pending.error.is_none() {
                    let mut error = server_error(pending, chunk.errno, chunk.message);
                    if let (Some(at), Error::Server { offset, .. }) = (chunk.offset, &mut error) {
                        *offset = at;
                    }
                    pending.error = Some(error);
                }
            }
            _ => return Err(protocol_stop("unknown structured reply chunk type")),
        }
        Ok(())
    }
}

/// Keeps the extents inside the requested length; zero-length extents are a protocol error
/// (they would stall a caller walking the range).
fn clip_extents(extents: Vec<Extent>, requested: u32) -> Vec<Extent> {
    let mut out = Vec::with_capacity(extents.len());
    let mut covered = 0u32;
    for extent in extents {
        if extent.length == 0 || covered >= requested {
            break;
        }
        let length = extent.length.min(requested - covered);
        covered += length;
        out.push(Extent {
            length,
            flags: extent.flags,
        });
    }
    out
}

/// Position of `[offset, offset+length)` inside the request, if it lies inside.
fn within(offset: u64, length: u32, req_offset: u64, req_length: u32) -> Result<u32, Stop> {
    let relative = offset.wrapping_sub(req_offset);
    if offset < req_offset || relative + u64::from(length) > u64::from(req_length) {
        return Err(protocol_stop("reply chunk outside the requested range"));
    }
    Ok(relative as u32)
}

fn protocol_stop(what: &'static str) -> Stop {
    Stop::Failed(Error::Protocol(ProtocolError::Unexpected(what)))
}

fn server_error(pending: &Pending, errno: u32, message: String) -> Error {
    Error::Server {
        command: pending.command,
        offset: pending.offset,
        length: pending.length,
        errno,
        message,
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Eof => f.write_str("server closed the connection"),
            Stop::Closing => f.write_str("connection closed"),
            Stop::Failed(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clips_extents_to_request() {
        let e = |length, flags| Extent { length, flags };
        assert_eq!(
            clip_extents(vec![e(10, 0), e(100, 3)], 50),
            vec![e(10, 0), e(40, 3)]
        );
        assert_eq!(clip_extents(vec![e(0, 0), e(10, 0)], 50), vec![]);
        assert_eq!(
            clip_extents(vec![e(10, 0), e(0, 0), e(5, 0)], 50),
            vec![e(10, 0)]
        );
    }

    #[test]
    fn within_rejects_chunks_outside_the_request() {
        assert_eq!(within(110, 10, 100, 20).ok(), Some(10));
        assert!(within(99, 1, 100, 20).is_err());
        assert!(within(115, 10, 100, 20).is_err());
        assert!(within(u64::MAX, 10, 100, 20).is_err());
    }

    fn option_reply(out: &mut Vec<u8>, option: u32, kind: u32, payload: &[u8]) {
        out.extend_from_slice(&crate::protocol::OPTION_REPLY_MAGIC.to_be_bytes());
        out.extend_from_slice(&option.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
    }

    /// A server that negotiates correctly, then sends `replies` and hangs up (or, unless
    /// `hang_up`, goes silent). Every request submitted must complete (with data or an error)
    /// within the request timeout and nothing may panic.
    fn against_hostile_replies(replies: Vec<u8>, hang_up: bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut out = crate::protocol::NBD_MAGIC.to_be_bytes().to_vec();
            out.extend_from_slice(&crate::protocol::IHAVEOPT.to_be_bytes());
            out.extend_from_slice(&3u16.to_be_bytes());
            option_reply(&mut out, 8, 1, &[]);
            let mut ctx = 1u32.to_be_bytes().to_vec();
            ctx.extend_from_slice(b"base:allocation");
            option_reply(&mut out, 10, 4, &ctx);
            option_reply(&mut out, 10, 1, &[]);
            let mut export = vec![0, 0];
            export.extend_from_slice(&(1u64 << 20).to_be_bytes());
            export.extend_from_slice(&0x0d6du16.to_be_bytes());
            option_reply(&mut out, 7, 3, &export);
            option_reply(&mut out, 7, 1, &[]);
            let _ = sock.write_all(&out);
            let _ = sock.write_all(&replies);
            if hang_up {
                let _ = sock.shutdown(Shutdown::Write);
            }
            // Drain what the client sends until it hangs up.
            let _ = sock.set_read_timeout(Some(std::time::Duration::from_secs(20)));
            let _ = io::copy(&mut sock, &mut io::sink());
        });
        let options = ConnectOptions {
            request_timeout: Duration::from_millis(100),
            ..ConnectOptions::default()
        };
        let started = Instant::now();
        let c = Connection::connect_with(&NbdUri::unix(&path, ""), &options).unwrap();
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        c.submit_read(0, vec![0u8; 4096], move |_, r| {
            t.send(r.map(|_| ())).unwrap()
        });
        let t = tx.clone();
        c.submit_block_status(0, 65536, move |r| t.send(r.map(|_| ())).unwrap());
        let t = tx.clone();
        c.submit_flush(move |r| t.send(r).unwrap());
        for _ in 0..3 {
            let _ = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        drop(c);
        assert!(started.elapsed() < Duration::from_secs(5));
        server.join().unwrap();
    }

    /// A server that sends `bytes` during negotiation and then goes silent without hanging up:
    /// the handshake ends (either way) within its timeout and nothing panics.
    fn against_hostile_handshake(bytes: Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let _ = sock.write_all(&bytes);
            let _ = sock.set_read_timeout(Some(std::time::Duration::from_secs(20)));
            let _ = io::copy(&mut sock, &mut io::sink());
        });
        let options = ConnectOptions {
            handshake_timeout: Duration::from_millis(100),
            request_timeout: Duration::from_millis(100),
            ..ConnectOptions::default()
        };
        let started = Instant::now();
        let connected = Connection::connect_with(&NbdUri::unix(&path, ""), &options);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(connected);
        server.join().unwrap();
    }

    /// Option replies (well-formed frames of random kinds and payloads, or random bytes)
    /// following a valid greeting.
    fn handshake_stream() -> impl Strategy<Value = Vec<u8>> {
        let reply = (
            prop_oneof![Just(7u32), Just(8u32), Just(10u32), any::<u32>()],
            prop_oneof![
                Just(1u32),
                Just(3u32),
                Just(4u32),
                Just((1u32 << 31) + 1),
                any::<u32>()
            ],
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(option, kind, payload)| {
                let mut out = Vec::new();
                option_reply(&mut out, option, kind, &payload);
                out
            });
        (
            any::<u16>(),
            proptest::collection::vec(reply, 0..6),
            proptest::collection::vec(any::<u8>(), 0..24),
        )
            .prop_map(|(flags, replies, raw)| {
                let mut out = crate::protocol::NBD_MAGIC.to_be_bytes().to_vec();
                out.extend_from_slice(&crate::protocol::IHAVEOPT.to_be_bytes());
                out.extend_from_slice(&flags.to_be_bytes());
                out.extend(replies.concat());
                out.extend(raw);
                out
            })
    }

    fn chunk() -> impl Strategy<Value = Vec<u8>> {
        let kinds = prop_oneof![
            Just(CHUNK_NONE),
            Just(CHUNK_OFFSET_DATA),
            Just(CHUNK_OFFSET_HOLE),
            Just(CHUNK_BLOCK_STATUS),
            Just(crate::protocol::CHUNK_ERROR),
            Just(crate::protocol::CHUNK_ERROR_OFFSET),
            any::<u16>(),
        ];
        (
            any::<bool>(),
            kinds,
            0u64..5,
            proptest::collection::vec(any::<u8>(), 0..48),
            any::<bool>(),
            any::<u32>(),
        )
            .prop_map(|(done, kind, handle, payload, honest_length, length)| {
                let mut out = crate::protocol::STRUCTURED_REPLY_MAGIC
                    .to_be_bytes()
                    .to_vec();
                out.extend_from_slice(&u16::from(done).to_be_bytes());
                out.extend_from_slice(&kind.to_be_bytes());
                out.extend_from_slice(&handle.to_be_bytes());
                let length = if honest_length {
                    payload.len() as u32
                } else {
                    length
                };
                out.extend_from_slice(&length.to_be_bytes());
                out.extend_from_slice(&payload);
                out
            })
    }

    #[test]
    fn hostile_giant_chunk_is_refused_without_allocating() {
        let mut reply = crate::protocol::STRUCTURED_REPLY_MAGIC
            .to_be_bytes()
            .to_vec();
        reply.extend_from_slice(&[0, 1, 0, 5]);
        reply.extend_from_slice(&2u64.to_be_bytes());
        reply.extend_from_slice(&u32::MAX.to_be_bytes());
        against_hostile_replies(reply, true);
    }

    proptest! {
        // Bounded for CI: each case ends within a few hundred milliseconds even when it stalls.
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn hostile_reply_streams_complete_every_request(chunks in proptest::collection::vec(chunk(), 0..6), raw in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut bytes: Vec<u8> = chunks.concat();
            bytes.extend(raw);
            against_hostile_replies(bytes, true);
        }

        #[test]
        fn hostile_reply_streams_then_silence_end_within_the_timeout(chunks in proptest::collection::vec(chunk(), 0..6), raw in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut bytes: Vec<u8> = chunks.concat();
            bytes.extend(raw);
            against_hostile_replies(bytes, false);
        }

        #[test]
        fn hostile_handshakes_then_silence_end_within_the_timeout(bytes in handshake_stream()) {
            against_hostile_handshake(bytes);
        }

        #[test]
        fn clipped_extents_never_exceed_request(lens in proptest::collection::vec(any::<u32>(), 0..20), req in any::<u32>()) {
            let extents = lens.iter().map(|&length| Extent { length, flags: 0 }).collect();
            let total: u64 = clip_extents(extents, req).iter().map(|e| u64::from(e.length)).sum();
            prop_assert!(total <= u64::from(req));
        }
    }
}
