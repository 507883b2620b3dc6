//! Servers that stall, written here on loopback: every wait of the client ends within its
//! timeout, and a teardown ends a blocked request at once.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nbd::protocol::{
    CHUNK_OFFSET_DATA, CHUNK_OFFSET_HOLE, IHAVEOPT, NBD_MAGIC, OPTION_REPLY_MAGIC,
    STRUCTURED_REPLY_MAGIC,
};
use nbd::{ConnectOptions, Connection, Error, NbdUri, Teardown};

const SHORT: Duration = Duration::from_millis(400);
/// Far above `SHORT`, far below anything a hang would take.
const BOUND: Duration = Duration::from_secs(5);

fn short_options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: SHORT,
        handshake_timeout: SHORT,
        request_timeout: SHORT,
        teardown: Teardown::default(),
    }
}

fn option_reply(out: &mut Vec<u8>, option: u32, kind: u32, payload: &[u8]) {
    out.extend_from_slice(&OPTION_REPLY_MAGIC.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// A whole correct negotiation of a 1 MiB read-only export with structured replies.
fn negotiation() -> Vec<u8> {
    let mut out = NBD_MAGIC.to_be_bytes().to_vec();
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&3u16.to_be_bytes());
    option_reply(&mut out, 8, 1, &[]);
    let mut ctx = 1u32.to_be_bytes().to_vec();
    ctx.extend_from_slice(b"base:allocation");
    option_reply(&mut out, 10, 4, &ctx);
    option_reply(&mut out, 10, 1, &[]);
    let mut export = vec![0, 0];
    export.extend_from_slice(&(1u64 << 20).to_be_bytes());
    export.extend_from_slice(&0x0003u16.to_be_bytes());
    option_reply(&mut out, 7, 3, &export);
    option_reply(&mut out, 7, 1, &[]);
    out
}

/// What the client sends for export "" before its first request: flags, STRUCTURED_REPLY,
/// SET_META_CONTEXT base:allocation, GO with one info request.
const CLIENT_NEGOTIATION: usize = 4 + 16 + (16 + 4 + 4 + 4 + 15) + (16 + 4 + 2 + 2);
const REQUEST: usize = 28;

fn chunk(flags: u16, kind: u16, handle: u64, payload: &[u8], claimed: u32) -> Vec<u8> {
    let mut out = STRUCTURED_REPLY_MAGIC.to_be_bytes().to_vec();
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&handle.to_be_bytes());
    out.extend_from_slice(&claimed.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Serves one TCP connection with `behave`, which must return within `BOUND`-ish time or when
/// the client hangs up.
fn tcp_server(behave: impl FnOnce(TcpStream) + Send + 'static) -> (NbdUri, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(BOUND * 2)).unwrap();
        behave(sock);
    });
    (
        NbdUri::parse(&format!("nbd://127.0.0.1:{port}/")).unwrap(),
        handle,
    )
}

/// Waits (bounded) until the client hangs up.
fn until_hangup(mut sock: impl Read) {
    let _ = std::io::copy(&mut sock, &mut std::io::sink());
}

/// Negotiates, reads the first request, then does `then`.
fn after_first_request(
    then: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> (NbdUri, JoinHandle<()>) {
    tcp_server(move |mut sock| {
        sock.write_all(&negotiation()).unwrap();
        let mut seen = vec![0u8; CLIENT_NEGOTIATION + REQUEST];
        sock.read_exact(&mut seen).unwrap();
        then(&mut sock);
        until_hangup(sock);
    })
}

fn read_4k(c: &Connection) -> Result<(), Error> {
    let mut buf = vec![0u8; 4096];
    c.read(0, &mut buf)
}

fn assert_bounded(started: Instant, what: &str) {
    let took = started.elapsed();
    assert!(took >= SHORT / 2 && took < BOUND, "{what} took {took:?}");
}

#[test]
fn a_server_silent_during_the_handshake_times_out() {
    let (uri, server) = tcp_server(until_hangup);
    let started = Instant::now();
    let err = Connection::connect_with(&uri, &short_options())
        .err()
        .unwrap();
    assert_bounded(started, "the silent handshake");
    assert!(matches!(err, Error::HandshakeTimeout(_)), "{err}");
    assert!(
        err.to_string().contains("did not finish negotiating"),
        "{err}"
    );
    server.join().unwrap();
}

#[test]
fn a_silent_unix_socket_server_times_out_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(BOUND * 2)).unwrap();
        until_hangup(sock);
    });
    let started = Instant::now();
    let err = Connection::connect_with(&NbdUri::unix(&path, ""), &short_options())
        .err()
        .unwrap();
    assert_bounded(started, "the silent Unix handshake");
    assert!(matches!(err, Error::HandshakeTimeout(_)), "{err}");
    server.join().unwrap();
}

#[test]
fn a_trickling_handshake_is_bounded_as_a_whole() {
    // One byte of the greeting every 50 ms: each read succeeds, the handshake never ends.
    let (uri, server) = tcp_server(|mut sock| {
        for byte in negotiation().into_iter().take(100) {
            if sock.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        until_hangup(sock);
    });
    let started = Instant::now();
    let err = Connection::connect_with(&uri, &short_options())
        .err()
        .unwrap();
    assert_bounded(started, "the trickling handshake");
    assert!(matches!(err, Error::HandshakeTimeout(_)), "{err}");
    server.join().unwrap();
}

#[test]
fn a_reply_that_stalls_halfway_fails_the_request_and_the_connection() {
    let (uri, server) = after_first_request(|sock| {
        // 4096 bytes of data announced, 100 sent.
        let mut payload = 0u64.to_be_bytes().to_vec();
        payload.extend_from_slice(&[7u8; 100]);
        sock.write_all(&chunk(1, CHUNK_OFFSET_DATA, 1, &payload, 8 + 4096))
            .unwrap();
    });
    let c = Connection::connect_with(&uri, &short_options()).unwrap();
    let started = Instant::now();
    let err = read_4k(&c).unwrap_err();
    assert_bounded(started, "the stalled read");
    assert!(err.is_disconnected(), "{err}");
    assert!(
        err.to_string().contains("no complete reply to read"),
        "{err}"
    );
    assert!(c.closed_reason().is_some(), "the connection is torn down");
    // Anything sent after fails at once rather than waiting on a dead connection.
    let again = Instant::now();
    assert!(read_4k(&c).is_err());
    assert!(again.elapsed() < Duration::from_millis(100));
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_structured_reply_that_never_sets_done_times_out_though_chunks_keep_coming() {
    let (uri, server) = after_first_request(|sock| {
        // The same hole over and over, never DONE; the server is not silent.
        let mut hole = 0u64.to_be_bytes().to_vec();
        hole.extend_from_slice(&512u32.to_be_bytes());
        let started = Instant::now();
        while started.elapsed() < BOUND * 2 {
            if sock
                .write_all(&chunk(0, CHUNK_OFFSET_HOLE, 1, &hole, 12))
                .is_err()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let c = Connection::connect_with(&uri, &short_options()).unwrap();
    let started = Instant::now();
    let err = read_4k(&c).unwrap_err();
    assert_bounded(started, "the never-done read");
    assert!(err.to_string().contains("within"), "{err}");
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_teardown_ends_a_blocked_request_at_once_even_with_long_timeouts() {
    let (uri, server) = after_first_request(|_| {});
    let options = ConnectOptions::default();
    let c = Connection::connect_with(&uri, &options).unwrap();
    let (tx, rx) = mpsc::channel();
    c.submit_read(0, vec![0u8; 4096], move |_, r| tx.send(r).unwrap());
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the server never answers"
    );
    let started = Instant::now();
    options.teardown.fire();
    let err = rx.recv_timeout(BOUND).unwrap().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("cancelled"), "{err}");
    // A fired teardown refuses new connections.
    assert!(matches!(
        Connection::connect_with(&uri, &options),
        Err(Error::Cancelled)
    ));
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_teardown_ends_a_handshake_blocked_on_a_silent_server() {
    let (uri, server) = tcp_server(|sock| {
        until_hangup(&sock);
        let _ = sock.shutdown(Shutdown::Both);
    });
    let options = ConnectOptions::default();
    let teardown = options.teardown.clone();
    let client = std::thread::spawn(move || Connection::connect_with(&uri, &options).err());
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    teardown.fire();
    let err = client.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, Error::Cancelled), "{err}");
    server.join().unwrap();
}
