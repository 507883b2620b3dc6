//! Hostile OpenStack endpoints on 127.0.0.1: a Keystone and a Cinder that redirect to another
//! port (which records what reaches it), and endpoints that answer hundreds of MiB. No test bed.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use openstack::cinder::volumes;
use openstack::{Client, ClientOptions, CloudConfig, Error};
use serde_json::json;
use testbed::hostile::{Recorder, peak_rss, read_request};

const PASSWORD: &str = "P4ss-S3NTINEL-keystone";
const TOKEN: &str = "T0KEN-S3NTINEL";

/// Serves up to 8 connections, each answered by `answer` per request.
fn server(answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                while let Some(request) = read_request(&mut stream) {
                    answer(&request, &mut stream);
                }
            });
        }
    });
    port
}

/// The port a redirect pointed to got no connection, let alone a credential.
fn assert_nothing_received(elsewhere: &Recorder, what: &str) {
    let received = elsewhere.received();
    assert!(
        !received.contains(PASSWORD) && !received.contains(TOKEN),
        "{what}: the other port received a credential: {received}"
    );
    assert_eq!(elsewhere.connections(), 0, "{what}: {received}");
}

fn config(keystone: u16) -> CloudConfig {
    CloudConfig::from_value(
        "hostile",
        &json!({"auth": {
            "auth_url": format!("http://127.0.0.1:{keystone}/v3"),
            "username": "migrator",
            "password": PASSWORD,
            "project_name": "migration",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }}),
    )
    .unwrap()
}

fn options() -> ClientOptions {
    ClientOptions {
        attempts: 1,
        ..ClientOptions::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let answer = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
}

/// A Keystone that issues `TOKEN` with a catalog whose block-storage endpoint is `cinder`.
fn keystone(cinder: u16) -> u16 {
    server(move |_, stream| {
        let body = json!({"token": {
            "expires_at": "2099-01-01T00:00:00.000000Z",
            "project": {"id": "p1"},
            "catalog": [{"type": "block-storage", "endpoints": [
                {"interface": "public", "region_id": "RegionOne",
                 "url": format!("http://127.0.0.1:{cinder}/v3/p1")}]}],
        }});
        respond(
            stream,
            "201 Created",
            &format!("X-Subject-Token: {TOKEN}\r\nContent-Type: application/json\r\n"),
            &body.to_string(),
        );
    })
}

#[test]
fn a_keystone_redirect_does_not_carry_the_password_elsewhere() {
    for status in [
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let elsewhere = Recorder::start();
        let location = format!("http://127.0.0.1:{}/v3/auth/tokens", elsewhere.port);
        let port = server(move |_, stream| {
            respond(stream, status, &format!("Location: {location}\r\n"), "");
        });
        let error = runtime()
            .block_on(Client::connect_with(config(port), options()))
            .expect_err("a redirecting Keystone");
        assert!(
            matches!(error, Error::Redirected { .. }),
            "{status}: {error}"
        );
        assert!(error.to_string().contains("not followed"), "{error}");
        assert_nothing_received(&elsewhere, status);
    }
}

#[test]
fn a_service_redirect_does_not_carry_the_token_elsewhere() {
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
    ] {
        let elsewhere = Recorder::start();
        let location = format!("http://127.0.0.1:{}/v3/p1/volumes/v1", elsewhere.port);
        let cinder = server(move |_, stream| {
            respond(stream, status, &format!("Location: {location}\r\n"), "");
        });
        let runtime = runtime();
        let client = runtime
            .block_on(Client::connect_with(config(keystone(cinder)), options()))
            .unwrap();
        let error = runtime
            .block_on(volumes::get(&client, "v1"))
            .expect_err("a redirecting Cinder");
        assert!(
            matches!(error, Error::Redirected { .. }),
            "{status}: {error}"
        );
        assert!(!error.to_string().contains(TOKEN), "{error}");
        assert_nothing_received(&elsewhere, status);
    }
}

const HUGE: usize = 400 << 20;

/// Answers every request with `status` and `HUGE` bytes of JSON-ish text, written lazily;
/// counts what it could send before the client hung up.
fn huge(status: &'static str, extra_headers: &'static str) -> (u16, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let port = server(move |_, stream| {
        let head = format!(
            "HTTP/1.1 {status}\r\n{extra_headers}Content-Type: application/json\r\nConnection: close\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(b"[");
        let chunk = "[],".repeat(32 << 10);
        while counter.load(Ordering::SeqCst) < HUGE {
            if stream.write_all(chunk.as_bytes()).is_err() {
                break;
            }
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
        }
        let _ = stream.shutdown(Shutdown::Both);
    });
    (port, sent)
}

#[test]
fn gigantic_answers_are_cut_off_with_bounded_memory() {
    let runtime = runtime();
    // Keystone: a success with a huge token body, then a huge error body.
    for (status, headers) in [
        ("201 Created", "X-Subject-Token: t\r\n"),
        ("401 Unauthorized", ""),
        ("500 Internal Server Error", ""),
    ] {
        let (port, sent) = huge(status, headers);
        let before = peak_rss();
        let error = runtime
            .block_on(Client::connect_with(config(port), options()))
            .expect_err("a 400 MiB answer");
        let grown = peak_rss().saturating_sub(before);
        let sent = sent.load(Ordering::SeqCst);
        eprintln!(
            "Keystone {status}: server sent {} MiB, peak RSS grew {} MiB: {error}",
            sent >> 20,
            grown >> 20
        );
        assert!(sent < HUGE, "{status}: the whole answer was read");
        assert!(
            grown < 100 << 20,
            "{status}: peak memory grew by {} MiB",
            grown >> 20
        );
        assert!(
            error.to_string().len() < 2048,
            "{status}: {} bytes of error",
            error.to_string().len()
        );
        if status.starts_with("201") {
            assert!(matches!(error, Error::TooLarge { .. }), "{error}");
        }
    }
    // A service: a huge list after a good token.
    let (cinder, sent) = huge("200 OK", "");
    let client = runtime
        .block_on(Client::connect_with(config(keystone(cinder)), options()))
        .unwrap();
    let before = peak_rss();
    let error = runtime
        .block_on(volumes::list(&client, &volumes::ListOpts::default()))
        .expect_err("a 400 MiB list");
    let grown = peak_rss().saturating_sub(before);
    eprintln!(
        "Cinder list: server sent {} MiB, peak RSS grew {} MiB",
        sent.load(Ordering::SeqCst) >> 20,
        grown >> 20
    );
    assert!(matches!(error, Error::TooLarge { .. }), "{error}");
    assert!(sent.load(Ordering::SeqCst) < HUGE);
    assert!(grown < 100 << 20, "peak memory grew by {} MiB", grown >> 20);
}
