//! The SOAP transport: envelopes over HTTP POST to `/sdk`, the session cookie
//! (`vmware_soap_session`) kept by the cookie store, and faults turned into errors.
//! Knows nothing of particular methods.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};

use tracing::debug;

use crate::error::Error;
use crate::fault::Fault;
use crate::tls::{self, TlsMode};
use crate::xml::{self, Element};

/// Most vSphere calls answer in milliseconds (`WaitForUpdatesEx` within its 60 s wait).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// QueryChangedDiskAreas on a big disk or a retrieve over a large inventory can take minutes.
const LONG_REQUEST_TIMEOUT: Duration = Duration::from_secs(900);
/// Limit on how much of a non-SOAP error body ends up in an error message.
const BODY_EXCERPT: usize = 512;
/// The largest answer read. The biggest legitimate ones are property-collector pages (at most
/// `PAGE_SIZE` objects) and `QueryChangedDiskAreas` over a fragmented disk: a few MiB. A
/// hostile or broken server streaming gigabytes is cut off here instead of filling memory.
pub const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// The name of vSphere's session cookie.
const SESSION_COOKIE: &str = "vmware_soap_session";

#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    cookies: Arc<Jar>,
    url: url::Url,
    soap_action: String,
    peer: Arc<tls::PeerCertificate>,
}

impl Transport {
    pub(crate) fn new(url: url::Url, tls_mode: &TlsMode) -> Result<Self, Error> {
        let cookies = Arc::new(Jar::default());
        let builder = reqwest::Client::builder()
            .cookie_provider(cookies.clone())
            // The password (Login) and the session cookie go to this URL and nowhere else: a
            // redirect is an error, never followed (to another host, or down to plain http).
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .pool_idle_timeout(Duration::from_secs(50))
            .tcp_keepalive(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(30));
        let (builder, peer) = tls::configure(builder, tls_mode)?;
        let http = builder.build().map_err(|e| {
            Error::Tls(format!(
                "cannot build the HTTPS client (is a CA bundle installed, or give a CA file or thumbprint): {}",
                error_chain(&e)
            ))
        })?;
        Ok(Self {
            http,
            cookies,
            url,
            soap_action: soap_action(crate::session::BASE_API_VERSION),
            peer,
        })
    }

    pub(crate) fn set_api_version(&mut self, version: &str) {
        self.soap_action = soap_action(version);
    }

    pub(crate) fn url(&self) -> &url::Url {
        &self.url
    }

    /// The certificate this connection's TLS check accepted (see [`tls::PeerCertificate`]).
    pub(crate) fn server_certificate(&self) -> Option<tls::ServerCertificate> {
        self.peer.get()
    }

    /// The current `vmware_soap_session` cookie, as `name=value`.
    pub(crate) fn session_cookie(&self) -> Option<SessionCookie> {
        let header = self.cookies.cookies(&self.url)?;
        let header = header.to_str().ok()?;
        header
            .split(';')
            .map(str::trim)
            .find(|pair| {
                pair.split_once('=')
                    .is_some_and(|(name, _)| name == SESSION_COOKIE)
            })
            .map(|pair| SessionCookie(pair.to_owned()))
    }

    /// Sends one method body (`<Method xmlns="urn:vim25">…</Method>`) and returns the element
    /// inside `<Body>` (the `…Response`). A SOAP fault becomes [`Error::Fault`].
    pub(crate) async fn call(&self, method: &str, body: &str) -> Result<Element, Error> {
        debug!(method, "vSphere call");
        let envelope = format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/""#,
                r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
                r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">"#,
                "<soapenv:Body>{}</soapenv:Body></soapenv:Envelope>"
            ),
            body
        );
        let response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", &self.soap_action)
            .timeout(timeout_for(method))
            .body(envelope)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| excerpt(l.as_bytes()))
                .unwrap_or_default();
            return Err(Error::Redirected {
                url: self.url.to_string(),
                status: status.as_u16(),
                location,
            });
        }
        let bytes = read_limited(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                ReadError::Transport(e) => self.transport_error(&e),
                ReadError::TooLarge => Error::TooLarge {
                    url: self.url.to_string(),
                    limit: MAX_RESPONSE_BYTES,
                },
            })?;
        match decode_response(&bytes) {
            Err(Error::Fault(fault)) => Err(Error::Fault(fault)),
            result if status.is_success() => result,
            _ => Err(Error::HttpStatus {
                url: self.url.to_string(),
                status: status.as_u16(),
                body: excerpt(&bytes),
            }),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> Error {
        let mut message = error_chain(e);
        if let Some(hint) = tls_hint(&message) {
            message.push_str(" (");
            message.push_str(hint);
            message.push(')');
        }
        Error::Transport {
            url: self.url.to_string(),
            message,
        }
    }
}

enum ReadError {
    Transport(reqwest::Error),
    TooLarge,
}

/// The body, read chunk by chunk and abandoned (the connection dropped) as soon as it exceeds
/// `limit`; a `Content-Length` over the limit is refused before reading.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What to do about the certificate refusals users meet most with vCenter and ESXi.
fn tls_hint(message: &str) -> Option<&'static str> {
    if message.contains("CaUsedAsEndEntity") {
        Some(
            "the server's certificate is its own CA, which cannot be trusted as a CA file: pin its thumbprint instead",
        )
    } else if message.contains("UnknownIssuer") {
        Some(
            "the certificate is not signed by a trusted CA: give the CA file, pin the certificate's thumbprint, or disable verification",
        )
    } else if message.contains("NotValidForName") {
        Some(
            "the certificate does not name this server: connect by the name it holds, or pin its thumbprint",
        )
    } else {
        None
    }
}

/// The session cookie (`vmware_soap_session=…`): it authenticates like the password does, so its
/// `Debug` hides it. Other HTTP clients of the same host take it (e.g. for `/folder` downloads).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCookie(String);

impl SessionCookie {
    /// `vmware_soap_session=…`, for a `Cookie:` header.
    pub fn as_header(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("vmware_soap_session=***")
    }
}

fn timeout_for(method: &str) -> Duration {
    match method {
        "QueryChangedDiskAreas" | "RetrievePropertiesEx" | "ContinueRetrievePropertiesEx" => {
            LONG_REQUEST_TIMEOUT
        }
        _ => REQUEST_TIMEOUT,
    }
}

fn soap_action(version: &str) -> String {
    format!("urn:vim25/{version}")
}

/// Decodes a response envelope: the `<Body>`'s element, or its `<Fault>` as an error.
pub fn decode_response(bytes: &[u8]) -> Result<Element, Error> {
    let mut root = xml::parse(bytes)?;
    if root.name != "Envelope" {
        return Err(Error::decode(format!(
            "expected a SOAP Envelope, got <{}>",
            root.name
        )));
    }
    let body_index = root
        .children
        .iter()
        .position(|c| c.name == "Body")
        .ok_or_else(|| Error::decode("SOAP envelope without Body"))?;
    let mut body = root.children.swap_remove(body_index);
    let Some(first) = body.children.drain(..).next() else {
        return Err(Error::decode("empty SOAP Body"));
    };
    if first.name == "Fault" {
        return Err(Error::from(Fault::from_soap_fault(&first)));
    }
    Ok(first)
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// An error and its sources, joined: reqwest's top-level message alone hides the TLS reason.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
