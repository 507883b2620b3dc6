//! Errors that say which call failed and what the service answered.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::service::ServiceType;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cloud configuration is missing or contradicts itself; the text says what to fix.
    #[error("OpenStack cloud configuration: {0}")]
    Config(String),

    /// Keystone refused the credentials (or the scope) of the cloud.
    #[error(
        "Keystone refused to authenticate cloud {cloud:?} (POST {url} -> {status}): {message}; check the credentials, project and domains of that cloud"
    )]
    Authentication {
        cloud: String,
        url: String,
        status: u16,
        message: String,
    },

    /// A service answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// The request never got an HTTP answer (connection refused, TLS failure, timeout).
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },

    /// A redirect answer: never followed, so that the token or password sent with the call
    /// reaches no other host and never goes over plain http.
    #[error(
        "{method} {url} answered {status} redirecting to {location:?}; redirects are not followed \
         (the token or password must not leave the endpoint it was sent to): give the final \
         address (auth_url, or the endpoint in the service catalog)"
    )]
    Redirected {
        method: String,
        url: String,
        status: u16,
        location: String,
    },

    /// An answer larger than this client reads.
    #[error("{method} {url}: the answer is larger than {} MiB; it was not read further", limit >> 20)]
    TooLarge {
        method: String,
        url: String,
        limit: usize,
    },

    /// The service answered with a success status but a body we cannot read.
    #[error("{method} {url}: unexpected response: {message}")]
    Decode {
        method: String,
        url: String,
        message: String,
    },

    /// A resource did not reach the awaited state in time.
    #[error("timed out after {}s waiting for {what} (last seen: {last_seen})", waited.as_secs())]
    Timeout {
        what: String,
        waited: Duration,
        last_seen: String,
    },

    /// A resource went to an error state while we waited for it.
    #[error("{what} went to status {status}{}", fault.as_deref().map(|f| format!(": {f}")).unwrap_or_default())]
    ResourceFailed {
        what: String,
        status: String,
        fault: Option<String>,
    },

    /// A lookup by name or id found nothing.
    #[error("no {kind} named or with id {name:?} is visible to this project")]
    NotFound { kind: &'static str, name: String },

    /// A lookup by name found several resources.
    #[error("{count} {kind}s are named {name:?}; give the id instead")]
    Ambiguous {
        kind: &'static str,
        name: String,
        count: usize,
    },
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Error {
        Error::Api(Box::new(error))
    }
}

impl Error {
    /// True for a 404 from a service or a failed lookup by name.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Api(api) => api.status == 404,
            Error::NotFound { .. } => true,
            _ => false,
        }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api(api) if api.status == 409 && !api.is_quota_exceeded())
    }

    pub fn is_quota_exceeded(&self) -> bool {
        matches!(self, Error::Api(api) if api.is_quota_exceeded())
    }

    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(api) => Some(api.as_ref()),
            _ => None,
        }
    }
}

/// An error status from a service, with the service's own explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub service: ServiceType,
    pub method: String,
    pub url: String,
    pub status: u16,
    /// The error class the service named (`itemNotFound`, `OverQuota`, ...), if it named one.
    pub kind: Option<String>,
    /// The service's message, or the start of its body when it sent no structured error.
    pub message: String,
    pub request_id: Option<String>,
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn from_response(
        service: ServiceType,
        method: &str,
        url: &str,
        status: u16,
        request_id: Option<String>,
        body: &[u8],
    ) -> ApiError {
        let (kind, message) = parse_error_body(body);
        ApiError {
            service,
            method: method.to_owned(),
            url: url.to_owned(),
            status,
            kind,
            message,
            request_id,
        }
    }

    /// Nova says 403, Cinder 413 (`overLimit`), Neutron 409 (`OverQuota`); all say "quota".
    pub fn is_quota_exceeded(&self) -> bool {
        matches!(self.status, 403 | 409 | 413)
            && (self.message.to_ascii_lowercase().contains("quota")
                || matches!(self.kind.as_deref(), Some("overLimit" | "OverQuota")))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = self.service.display_name();
        if self.is_quota_exceeded() {
            write!(
                f,
                "{service} quota exceeded: {} ({} {} -> {}); free resources or ask the cloud's administrator to raise the project's quota",
                self.message, self.method, self.url, self.status
            )?;
        } else {
            write!(
                f,
                "{service} answered {} {} with {}",
                self.method, self.url, self.status
            )?;
            if let Some(kind) = &self.kind {
                write!(f, " {kind}")?;
            }
            if !self.message.is_empty() {
                write!(f, ": {}", self.message)?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

const MAX_MESSAGE_CHARS: usize = 600;
/// Error class names are short words (`itemNotFound`, `OverQuota`).
const MAX_KIND_CHARS: usize = 100;

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// Reads the error shapes of the services we call:
/// Nova/Cinder `{"itemNotFound": {"message": .., "code": 404}}`,
/// Neutron `{"NeutronError": {"type": .., "message": .., "detail": ..}}`,
/// Keystone `{"error": {"message": .., "title": ..}}`, Placement-style `{"errors": [{"detail": ..}]}`,
/// and plain text or HTML from a proxy or webob.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
    if let Ok(value) = serde_json::from_slice::<Value>(body)
        && let Some((kind, message)) = parse_error_json(&value)
    {
        return (
            kind.map(|k| cut(&k, MAX_KIND_CHARS)),
            cut(&message, MAX_MESSAGE_CHARS),
        );
    }
    (None, plain_text_excerpt(&String::from_utf8_lossy(body)))
}

fn parse_error_json(value: &Value) -> Option<(Option<String>, String)> {
    let object = value.as_object()?;
    if let Some(message) = object.get("message").and_then(Value::as_str) {
        return Some((None, message.trim().to_owned()));
    }
    if let Some(errors) = object.get("errors").and_then(Value::as_array) {
        let messages: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                e.get("detail")
                    .or_else(|| e.get("title"))
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_owned())
            })
            .collect();
        if !messages.is_empty() {
            return Some((None, messages.join("; ")));
        }
    }
    if object.len() == 1 {
        let (key, inner) = object.iter().next()?;
        let inner = inner.as_object()?;
        let message = inner
            .get("message")
            .or_else(|| inner.get("explanation"))
            .and_then(Value::as_str)?
            .trim()
            .to_owned();
        let kind = match key.as_str() {
            "NeutronError" => inner.get("type").and_then(Value::as_str).map(str::to_owned),
            "error" => inner
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            other => Some(other.to_owned()),
        };
        let detail = inner
            .get("detail")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty());
        let message = match detail {
            Some(detail) => format!("{message} ({detail})"),
            None => message,
        };
        return Some((kind, message));
    }
    None
}

fn plain_text_excerpt(body: &str) -> String {
    let mut text = String::with_capacity(body.len().min(MAX_MESSAGE_CHARS));
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    cut(&collapsed, MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(service: ServiceType, status: u16, body: &[u8]) -> ApiError {
        ApiError::from_response(
            service,
            "POST",
            "http://127.0.0.1:8776/v3/p/volumes",
            status,
            Some("req-1".into()),
            body,
        )
    }

    #[test]
    fn nova_and_cinder_bodies_give_kind_and_message() {
        let e = api(
            ServiceType::BlockStorage,
            404,
            include_bytes!("../fixtures/errors/cinder_not_found.json"),
        );
        assert_eq!(e.kind.as_deref(), Some("itemNotFound"));
        assert!(e.message.starts_with("Volume 6edbc2f4"), "{}", e.message);
        assert!(Error::from(e.clone()).is_not_found());
        let text = e.to_string();
        assert!(
            text.contains("Cinder answered POST http://127.0.0.1:8776/v3/p/volumes with 404"),
            "{text}"
        );
        assert!(text.contains("[request req-1]"), "{text}");

        let e = api(
            ServiceType::Compute,
            400,
            include_bytes!("../fixtures/errors/nova_bad_request.json"),
        );
        assert_eq!(e.message, "Invalid key_name provided.");
    }

    #[test]
    fn conflict_is_a_conflict_not_a_quota() {
        let e = Error::from(api(
            ServiceType::BlockStorage,
            409,
            include_bytes!("../fixtures/errors/cinder_conflict.json"),
        ));
        assert!(e.is_conflict());
        assert!(!e.is_quota_exceeded());
        assert!(e.to_string().contains("Detach volume from instance"), "{e}");
    }

    #[test]
    fn quota_errors_of_each_service_are_said_as_such() {
        for (service, status, body) in [
            (
                ServiceType::BlockStorage,
                413,
                &include_bytes!("../fixtures/errors/cinder_quota.json")[..],
            ),
            (
                ServiceType::Compute,
                403,
                &include_bytes!("../fixtures/errors/nova_quota.json")[..],
            ),
            (
                ServiceType::Network,
                409,
                &include_bytes!("../fixtures/errors/neutron_quota.json")[..],
            ),
        ] {
            let e = Error::from(api(service, status, body));
            assert!(e.is_quota_exceeded(), "{e}");
            assert!(!e.is_conflict());
            let text = e.to_string();
            assert!(text.contains("quota exceeded"), "{text}");
            assert!(text.contains("raise the project's quota"), "{text}");
        }
    }

    #[test]
    fn neutron_and_keystone_bodies() {
        let e = api(
            ServiceType::Network,
            409,
            include_bytes!("../fixtures/errors/neutron_mac_in_use.json"),
        );
        assert_eq!(e.kind.as_deref(), Some("MacAddressInUse"));
        assert!(e.message.contains("00:50:56:aa:bb:cc is in use"));
        let e = api(
            ServiceType::Identity,
            401,
            include_bytes!("../fixtures/errors/keystone_unauthorized.json"),
        );
        assert_eq!(e.kind.as_deref(), Some("Unauthorized"));
    }

    #[test]
    fn plain_text_and_html_are_reduced_to_their_words() {
        let e = api(
            ServiceType::Compute,
            404,
            include_bytes!("../fixtures/errors/nova_plain_404.txt"),
        );
        assert_eq!(e.message, "404 Not Found The resource could not be found.");
        let e = api(
            ServiceType::Compute,
            502,
            include_bytes!("../fixtures/errors/proxy_502.html"),
        );
        assert_eq!(
            e.message,
            "502 Bad Gateway Bad Gateway The proxy server received an invalid response."
        );
        assert_eq!(e.kind, None);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x ".repeat(5000);
        let e = api(ServiceType::Compute, 500, body.as_bytes());
        assert!(e.message.len() < 700);
        assert!(e.message.ends_with("..."));
    }
}
