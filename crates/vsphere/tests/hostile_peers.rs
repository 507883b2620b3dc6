//! Hostile SOAP peers on 127.0.0.1: a server that redirects `Login` elsewhere, one that answers
//! gigabytes, and a TLS relay that swaps the certificate on every connection after the first.
//! The relay needs the test bed's simulator (`scripts/testbed up vsphere`); the others need
//! nothing.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use testbed::hostile::{Recorder, peak_rss, read_request};
use vsphere::{Client, ConnectOptions, Error, Password, TlsMode};

const PASSWORD: &str = "P4ss-S3NTINEL-soap";
const COOKIE: &str = "C00KIE-S3NTINEL";

/// `RetrieveServiceContent`'s answer, enough for `Client::connect` to go on to `Login`.
const SERVICE_CONTENT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>
<rootFolder type="Folder">group-d1</rootFolder>
<propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>
<about><name>VMware vCenter Server</name><apiType>VirtualCenter</apiType><apiVersion>7.0</apiVersion></about>
<sessionManager type="SessionManager">SessionManager</sessionManager>
<searchIndex type="SearchIndex">SearchIndex</searchIndex>
</returnval></RetrieveServiceContentResponse></soapenv:Body></soapenv:Envelope>"#;

/// A SOAP server that answers `RetrieveServiceContent` (with a session cookie) and
/// `answer(request)` to everything else; serves `max` connections.
fn soap_server(
    max: usize,
    answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static,
) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    let handle = std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                while let Some(request) = read_request(&mut stream) {
                    if request.contains("<RetrieveServiceContent") {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nSet-Cookie: vmware_soap_session={COOKIE}; Path=/\r\nContent-Length: {}\r\n\r\n",
                            SERVICE_CONTENT.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        let _ = stream.write_all(SERVICE_CONTENT.as_bytes());
                    } else {
                        answer(&request, &mut stream);
                        return;
                    }
                }
            });
        }
    });
    (port, handle)
}

fn options(server: String, tls: TlsMode) -> ConnectOptions {
    ConnectOptions {
        server,
        user: "administrator@vsphere.local".into(),
        password: Password::new(PASSWORD),
        tls,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_redirected_login_is_an_error_and_sends_nothing_elsewhere() {
    for status in [
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let elsewhere = Recorder::start();
        let location = format!("http://127.0.0.1:{}/sdk", elsewhere.port);
        let (port, _server) = soap_server(4, move |_, stream| {
            let answer =
                format!("HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
        });
        let result = runtime().block_on(Client::connect(&options(
            format!("http://127.0.0.1:{port}"),
            TlsMode::Insecure,
        )));
        let error = result.expect_err("a redirected Login must fail");
        assert!(
            matches!(error, Error::Redirected { .. }),
            "{status}: {error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("not followed") && message.contains(&elsewhere.port.to_string()),
            "{message}"
        );
        assert!(!message.contains(PASSWORD), "{message}");
        let received = elsewhere.received();
        assert!(
            !received.contains(PASSWORD) && !received.contains(COOKIE),
            "{status}: the other port received the credentials: {received}"
        );
        assert_eq!(elsewhere.connections(), 0, "{status}: {received}");
    }
}

const HUGE: u64 = 400 << 20;

/// Tests that allocate tens of MiB take turns, so one's peak memory is not another's.
static MEMORY: Mutex<()> = Mutex::new(());

/// Streams `HUGE` bytes of XML, lazily, to whoever calls after `RetrieveServiceContent`;
/// returns how many bytes it managed to send before the client hung up.
fn huge_answer(declare_length: bool) -> (u16, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let (port, _server) = soap_server(4, move |_, stream| {
        let length = if declare_length {
            format!("Content-Length: {HUGE}\r\n")
        } else {
            "Connection: close\r\n".to_owned()
        };
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n{length}\r\n");
        let _ = stream.write_all(head.as_bytes());
        let chunk = "<b/>".repeat(16 << 10);
        let mut total = 0u64;
        while total < HUGE {
            if stream.write_all(chunk.as_bytes()).is_err() {
                break;
            }
            total += chunk.len() as u64;
            counter.fetch_add(chunk.len(), Ordering::SeqCst);
        }
        let _ = stream.shutdown(Shutdown::Both);
    });
    (port, sent)
}

#[test]
fn a_gigantic_answer_is_cut_off_at_the_limit_with_bounded_memory() {
    let _turn = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    for declare_length in [false, true] {
        let (port, sent) = huge_answer(declare_length);
        let before = peak_rss();
        let result = runtime().block_on(Client::connect(&options(
            format!("http://127.0.0.1:{port}"),
            TlsMode::Insecure,
        )));
        let error = result.expect_err("a 400 MiB answer must be refused");
        let grown = peak_rss().saturating_sub(before);
        let sent = sent.load(Ordering::SeqCst) as u64;
        eprintln!(
            "declared length {declare_length}: server sent {} MiB, peak RSS grew {} MiB",
            sent >> 20,
            grown >> 20
        );
        assert!(matches!(error, Error::TooLarge { .. }), "{error}");
        assert!(error.to_string().contains("64 MiB"), "{error}");
        assert!(sent < HUGE, "the whole answer was read ({sent} bytes)");
        assert!(
            grown < 200 << 20,
            "peak memory grew by {} MiB reading a capped answer",
            grown >> 20
        );
    }
}

#[test]
fn a_huge_fault_string_is_cut_in_the_message() {
    let _turn = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    let fault_text = "x".repeat(20 << 20);
    let (port, _server) = soap_server(4, move |_, stream| {
        let body = format!(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{fault_text}</faultstring><detail><InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"></InvalidLoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#
        );
        let head = format!(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body.as_bytes());
    });
    let error = runtime()
        .block_on(Client::connect(&options(
            format!("http://127.0.0.1:{port}"),
            TlsMode::Insecure,
        )))
        .expect_err("a fault");
    let message = error.to_string();
    assert!(error.fault().is_some(), "{message}");
    assert!(message.len() < 2048, "{} bytes of message", message.len());
    assert!(
        message.contains("more bytes"),
        "says it was cut: {}",
        &message[..200.min(message.len())]
    );
}

/// A certificate and key of our own (not the simulator's), made by `openssl`.
fn other_certificate(dir: &std::path::Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let certs = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    Arc::new(config)
}

/// Relays the first connection to `target` untouched; every later one is answered by a TLS
/// server with another certificate (as a machine in the middle that lets the checked connection
/// through and swaps the certificate on the next).
fn swapping_relay(target: String, swap: Arc<rustls::ServerConfig>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let swapped = Arc::new(AtomicUsize::new(0));
    let counter = swapped.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().take(16).enumerate() {
            let Ok(client) = stream else { return };
            if n == 0 {
                let Ok(server) = TcpStream::connect(&target) else {
                    return;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    })
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
                continue;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let swap = swap.clone();
            std::thread::spawn(move || {
                let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(connection) = rustls::ServerConnection::new(swap) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(connection, client);
                let mut buf = [0u8; 4096];
                if tls.read(&mut buf).is_ok() {
                    let _ = tls.write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                    );
                }
            });
        }
    });
    (port, swapped)
}

#[test]
fn the_thumbprint_for_vddk_is_the_one_the_session_checked_not_a_later_connections() {
    let sim = testbed::vsphere::Simulator::from_env();
    let dir = tempfile::tempdir().unwrap();
    let (port, swapped) = swapping_relay(sim.host.clone(), other_certificate(dir.path()));
    let runtime = runtime();
    let pinned = TlsMode::Thumbprint(sim.thumbprint_sha256.parse().unwrap());
    let mut options = options(format!("127.0.0.1:{port}"), pinned);
    options.user = sim.user.clone();
    options.password = Password::new(&sim.password);
    let client = runtime
        .block_on(Client::connect(&options))
        .expect("the first connection reaches the simulator");
    let certificate = client.server_certificate().unwrap();
    assert_eq!(certificate.sha1.to_string(), sim.thumbprint_sha1);
    assert_eq!(certificate.sha256.to_string(), sim.thumbprint_sha256);

    // The relay does swap: a second connection meets the other certificate, and the pin
    // refuses it. A thumbprint read on such a connection is what VDDK used to be given.
    let error = runtime.block_on(Client::connect(&options)).unwrap_err();
    assert!(
        error.to_string().contains("does not match the pinned"),
        "{error}"
    );
    assert!(swapped.load(Ordering::SeqCst) >= 1);
    let again = client.server_certificate().unwrap();
    assert_eq!(
        again.sha1.to_string(),
        sim.thumbprint_sha1,
        "unchanged by the refused one"
    );
}
