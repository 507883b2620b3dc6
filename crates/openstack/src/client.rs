//! The authenticated session: picks endpoints from the catalog, re-authenticates once per 401,
//! backs off on 429/502/503/504 and turns error answers into [`ApiError`]s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::auth::{self, Token};
use crate::config::CloudConfig;
use crate::error::{ApiError, Error, Result};
use crate::region::RegionChoice;
use crate::secret::Secret;
use crate::service::ServiceType;

/// The largest answer read: a page of 1000 detailed Nova servers or Cinder volumes (the
/// services' default page limit) is a few MiB, a Keystone token with a large catalog well under
/// one. A broken or hostile endpoint streaming gigabytes is cut off here.
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// How much of an error answer is read: its message is cut to a few hundred characters anyway.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// How hard to try before giving up on a call.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Attempts per call for retryable answers (429, 503; 502 and 504 for idempotent methods)
    /// and transport failures (any for idempotent methods, refused connections for all).
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// A token this close to its expiry is replaced before use.
    pub refresh_before_expiry: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            attempts: 6,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(300),
            refresh_before_expiry: Duration::from_secs(120),
        }
    }
}

/// A cheap-to-clone handle on one authenticated cloud.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: CloudConfig,
    identity_url: Url,
    options: ClientOptions,
    token: Mutex<Option<CurrentToken>>,
    authentications: AtomicU64,
    /// Decided from the first token's catalog, so a later token cannot move the calls elsewhere.
    region: OnceLock<RegionChoice>,
}

#[derive(Clone)]
struct CurrentToken {
    token: Arc<Token>,
    generation: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("cloud", &self.inner.config.name)
            .field("identity_url", &self.inner.identity_url.as_str())
            .finish_non_exhaustive()
    }
}

/// One call to a service: path segments below the service's endpoint, query, body, microversion.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: ServiceType,
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub microversion: Option<&'static str>,
}

impl Request {
    pub fn new(service: ServiceType, method: Method, segments: &[&str]) -> Request {
        Request {
            service,
            method,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            body: None,
            microversion: None,
        }
    }

    pub fn get(service: ServiceType, segments: &[&str]) -> Request {
        Request::new(service, Method::GET, segments)
    }

    pub fn post(service: ServiceType, segments: &[&str], body: Value) -> Request {
        Request::new(service, Method::POST, segments).json(body)
    }

    pub fn put(service: ServiceType, segments: &[&str], body: Value) -> Request {
        Request::new(service, Method::PUT, segments).json(body)
    }

    pub fn delete(service: ServiceType, segments: &[&str]) -> Request {
        Request::new(service, Method::DELETE, segments)
    }

    pub fn query(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Request {
        self.body = Some(body);
        self
    }

    pub fn microversion(mut self, version: &'static str) -> Request {
        self.microversion = Some(version);
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            method: self.method.clone(),
            url: self.url.clone(),
            message: e.to_string(),
        })
    }
}

impl Client {
    /// Authenticates once, so bad credentials or an unreachable Keystone fail here.
    pub async fn connect(config: CloudConfig) -> Result<Client> {
        Client::connect_with(config, ClientOptions::default()).await
    }

    pub async fn connect_with(config: CloudConfig, options: ClientOptions) -> Result<Client> {
        let http = build_http_client(&config, &options)?;
        let identity_url = auth::identity_url(&config.auth_url)?;
        let client = Client {
            inner: Arc::new(Inner {
                http,
                config,
                identity_url,
                options,
                token: Mutex::new(None),
                authentications: AtomicU64::new(0),
                region: OnceLock::new(),
            }),
        };
        let current = client.current_token().await?;
        let choice = current
            .token
            .catalog
            .choose_region(client.inner.config.region_name.as_deref());
        if let Some(warning) = &choice.warning {
            tracing::warn!(cloud = %client.inner.config.name, "{warning}");
        }
        client.inner.region.get_or_init(|| choice);
        Ok(client)
    }

    /// Set when the configured region_name is not the catalog's name of the region used.
    pub fn region_warning(&self) -> Option<&str> {
        self.inner.region.get()?.warning.as_deref()
    }

    pub fn config(&self) -> &CloudConfig {
        &self.inner.config
    }

    /// How many tokens this client has obtained from Keystone so far.
    pub fn authentication_count(&self) -> u64 {
        self.inner.authentications.load(Ordering::SeqCst)
    }

    /// The project the token is scoped to.
    pub async fn project_id(&self) -> Result<String> {
        let current = self.current_token().await?;
        current.token.project_id.clone().ok_or_else(|| {
            Error::Config(format!(
                "cloud {:?}: the token is not scoped to a project",
                self.inner.config.name
            ))
        })
    }

    /// The names of the roles the current token carries (`admin`, `member`, `reader`, …).
    pub async fn roles(&self) -> Result<Vec<String>> {
        Ok(self.current_token().await?.token.roles.clone())
    }

    /// The endpoint a service's calls go to (with our API version in the path).
    pub async fn endpoint(&self, service: ServiceType) -> Result<Url> {
        let current = self.current_token().await?;
        self.endpoint_for(&current.token, service)
    }

    /// Revokes the current token at Keystone (a logout); the next call authenticates again.
    pub async fn revoke_token(&self) -> Result<()> {
        let current = self.current_token().await?;
        let value = current.token.value.expose();
        let mut url = self.inner.identity_url.clone();
        push_segments(&mut url, &["auth".to_owned(), "tokens".to_owned()]);
        let response = self
            .execute(ServiceType::Identity, &Method::DELETE, &url, || {
                self.inner
                    .http
                    .delete(url.clone())
                    .header("X-Auth-Token", value)
                    .header("X-Subject-Token", value)
            })
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(self
            .api_error(ServiceType::Identity, &Method::DELETE, &url, response)
            .await)
    }

    /// Sends a call and returns the answer when its status is a success.
    pub async fn send(&self, request: Request) -> Result<Response> {
        let mut current = self.current_token().await?;
        let mut reauthenticated = false;
        loop {
            let base = self.endpoint_for(&current.token, request.service)?;
            let mut url = base;
            push_segments(&mut url, &request.segments);
            if !request.query.is_empty() {
                url.query_pairs_mut().extend_pairs(&request.query);
            }
            let token = current.token.value.clone();
            let response = self
                .execute(request.service, &request.method, &url, || {
                    self.build(&request, &url, &token)
                })
                .await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                tracing::info!(
                    service = request.service.display_name(),
                    method = %request.method,
                    url = %url,
                    "token refused (401); authenticating again, once"
                );
                current = self.reauthenticate(current.generation).await?;
                reauthenticated = true;
                continue;
            }
            if !status.is_success() {
                return Err(self
                    .api_error(request.service, &request.method, &url, response)
                    .await);
            }
            let headers = response.headers().clone();
            let body = read_body(response, &request.method, &url).await?;
            tracing::debug!(method = %request.method, url = %url, status = status.as_u16(), "OpenStack call");
            return Ok(Response {
                method: request.method.to_string(),
                url: url.to_string(),
                status: status.as_u16(),
                headers,
                body,
            });
        }
    }

    /// Sends a call and reads its JSON answer.
    pub async fn send_json<T: DeserializeOwned>(&self, request: Request) -> Result<T> {
        self.send(request).await?.json()
    }

    /// Follows `<collection>_links` "next" pages (Cinder, Nova, Neutron all page with `marker`).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        request: Request,
        collection: &str,
    ) -> Result<Vec<T>> {
        let links_key = format!("{collection}_links");
        let mut items = Vec::new();
        let mut request = request;
        let mut seen_markers = Vec::new();
        loop {
            let response = self.send(request.clone()).await?;
            let mut page: Value = response.json()?;
            let decode_error = |message: String| Error::Decode {
                method: response.method.clone(),
                url: response.url.clone(),
                message,
            };
            let list = page
                .get_mut(collection)
                .map(Value::take)
                .ok_or_else(|| decode_error(format!("no {collection:?} in the answer")))?;
            let mut page_items: Vec<T> =
                serde_json::from_value(list).map_err(|e| decode_error(e.to_string()))?;
            items.append(&mut page_items);
            let Some((marker, limit)) = next_page(&page, &links_key) else {
                return Ok(items);
            };
            if seen_markers.contains(&marker) {
                return Ok(items);
            }
            seen_markers.push(marker.clone());
            request
                .query
                .retain(|(k, _)| k.as_str() != "marker" && k.as_str() != "limit");
            request.query.push(("marker".to_owned(), marker));
            if let Some(limit) = limit {
                request.query.push(("limit".to_owned(), limit));
            }
        }
    }

    fn build(&self, request: &Request, url: &Url, token: &Secret) -> reqwest::RequestBuilder {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url.clone())
            .header("X-Auth-Token", token.expose())
            .header("Accept", "application/json");
        if let Some(version) = request.microversion {
            let service = request.service.microversion_name();
            builder = builder.header("OpenStack-API-Version", format!("{service} {version}"));
            if request.service == ServiceType::Compute {
                builder = builder.header("X-OpenStack-Nova-API-Version", version);
            }
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        builder
    }

    fn endpoint_for(&self, token: &Token, service: ServiceType) -> Result<Url> {
        if service == ServiceType::Identity {
            return Ok(self.inner.identity_url.clone());
        }
        let region = match self.inner.region.get() {
            Some(choice) => choice.region.as_deref(),
            None => self.inner.config.region_name.as_deref(),
        };
        token.catalog.endpoint(
            service,
            self.inner.config.interface,
            region,
            token.project_id.as_deref(),
        )
    }

    /// The token to use now, obtaining a new one when there is none or it is about to expire.
    async fn current_token(&self) -> Result<CurrentToken> {
        let mut guard = self.inner.token.lock().await;
        if let Some(current) = guard.as_ref() {
            let fresh = match current.token.expires_at {
                Some(expires_at) => {
                    SystemTime::now() + self.inner.options.refresh_before_expiry < expires_at
                }
                None => true,
            };
            if fresh {
                return Ok(current.clone());
            }
        }
        let generation = guard.as_ref().map_or(0, |c| c.generation + 1);
        let current = CurrentToken {
            token: Arc::new(self.authenticate().await?),
            generation,
        };
        *guard = Some(current.clone());
        Ok(current)
    }

    /// Replaces the token that drew a 401, unless a concurrent call has already replaced it.
    async fn reauthenticate(&self, refused_generation: u64) -> Result<CurrentToken> {
        let mut guard = self.inner.token.lock().await;
        if let Some(current) = guard.as_ref()
            && current.generation != refused_generation
        {
            return Ok(current.clone());
        }
        let current = CurrentToken {
            token: Arc::new(self.authenticate().await?),
            generation: refused_generation + 1,
        };
        *guard = Some(current.clone());
        Ok(current)
    }

    async fn authenticate(&self) -> Result<Token> {
        let config = &self.inner.config;
        let body = auth::token_request_body(config)?;
        let mut url = self.inner.identity_url.clone();
        push_segments(&mut url, &["auth".to_owned(), "tokens".to_owned()]);
        let response = self
            .execute(ServiceType::Identity, &Method::POST, &url, || {
                self.inner.http.post(url.clone()).json(&body)
            })
            .await?;
        let status = response.status();
        if matches!(status.as_u16(), 400 | 401 | 403 | 404) {
            let body = read_error_body(response).await;
            let (_, message) = crate::error::parse_error_body(&body);
            return Err(Error::Authentication {
                cloud: config.name.clone(),
                url: url.to_string(),
                status: status.as_u16(),
                message,
            });
        }
        if !status.is_success() {
            return Err(self
                .api_error(ServiceType::Identity, &Method::POST, &url, response)
                .await);
        }
        let subject = response
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(Secret::new);
        let body = read_body(response, &Method::POST, &url).await?;
        let decode_error = |message: String| Error::Decode {
            method: "POST".to_owned(),
            url: url.to_string(),
            message,
        };
        let subject = subject.ok_or_else(|| decode_error("no X-Subject-Token header".into()))?;
        let token = auth::parse_token_response(subject, &body).map_err(decode_error)?;
        let count = self.inner.authentications.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::debug!(cloud = %config.name, authentications = count, "obtained a Keystone token");
        Ok(token)
    }

    /// Sends with backoff: retries connections that could not be opened, 429 and 503 always;
    /// other transport failures and 502/504 only when the method is idempotent (a POST whose
    /// answer was lost, or behind a timed-out proxy, may have created something already).
    async fn execute(
        &self,
        service: ServiceType,
        method: &Method,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let options = &self.inner.options;
        let attempts = options.attempts.max(1);
        let idempotent = !matches!(*method, Method::POST | Method::PATCH);
        let mut attempt = 1;
        loop {
            let outcome = build().send().await;
            let last = attempt >= attempts;
            let delay = match outcome {
                Err(e) if !last && (e.is_connect() || idempotent) => {
                    tracing::warn!(service = service.display_name(), method = %method, url = %url, attempt, "no connection ({e}); retrying");
                    backoff(options, attempt)
                }
                Err(e) => return Err(transport_error(method, url, &e)),
                Ok(response) if response.status().is_redirection() => {
                    return Err(redirected(method, url, &response));
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retryable =
                        matches!(status, 429 | 503) || (idempotent && matches!(status, 502 | 504));
                    if last || !retryable {
                        return Ok(response);
                    }
                    tracing::warn!(service = service.display_name(), method = %method, url = %url, status, attempt, "service busy; retrying");
                    retry_after(response.headers(), options)
                        .unwrap_or_else(|| backoff(options, attempt))
                }
            };
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn api_error(
        &self,
        service: ServiceType,
        method: &Method,
        url: &Url,
        response: reqwest::Response,
    ) -> Error {
        let status = response.status().as_u16();
        let request_id = ["x-openstack-request-id", "x-compute-request-id"]
            .iter()
            .find_map(|h| response.headers().get(*h))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_error_body(response).await;
        let error = ApiError::from_response(
            service,
            method.as_str(),
            url.as_str(),
            status,
            request_id,
            &body,
        );
        tracing::debug!(%error, "OpenStack call failed");
        Error::from(error)
    }
}

fn redirected(method: &Method, url: &Url, response: &reqwest::Response) -> Error {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| {
            String::from_utf8_lossy(l.as_bytes())
                .chars()
                .take(512)
                .collect()
        })
        .unwrap_or_default();
    Error::Redirected {
        method: method.to_string(),
        url: without_query(url),
        status: response.status().as_u16(),
        location,
    }
}

/// A success body, read chunk by chunk and abandoned (the connection dropped) past
/// [`MAX_BODY_BYTES`]; a `Content-Length` over it is refused before reading.
async fn read_body(mut response: reqwest::Response, method: &Method, url: &Url) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        method: method.to_string(),
        url: without_query(url),
        limit: MAX_BODY_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(method, url, &e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of an error answer (whatever could be read of it): enough for its message.
async fn read_error_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ERROR_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY_BYTES {
            break;
        }
    }
    body
}

fn push_segments(url: &mut Url, segments: &[String]) {
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
}

fn backoff(options: &ClientOptions, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    options
        .first_backoff
        .saturating_mul(factor)
        .min(options.max_backoff)
}

fn retry_after(headers: &HeaderMap, options: &ClientOptions) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(options.max_backoff))
}

fn transport_error(method: &Method, url: &Url, error: &reqwest::Error) -> Error {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Transport {
        method: method.to_string(),
        url: without_query(url),
        message,
    }
}

fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// The marker (and limit) of the "next" link of a paged answer.
fn next_page(page: &Value, links_key: &str) -> Option<(String, Option<String>)> {
    let next = page
        .get(links_key)?
        .as_array()?
        .iter()
        .find(|link| link.get("rel").and_then(Value::as_str) == Some("next"))?;
    let href = Url::parse(next.get("href")?.as_str()?).ok()?;
    let mut marker = None;
    let mut limit = None;
    for (key, value) in href.query_pairs() {
        match key.as_ref() {
            "marker" => marker = Some(value.into_owned()),
            "limit" => limit = Some(value.into_owned()),
            _ => {}
        }
    }
    Some((marker?, limit))
}

fn build_http_client(config: &CloudConfig, options: &ClientOptions) -> Result<reqwest::Client> {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing this race to another thread installs the same provider, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut builder = reqwest::Client::builder()
        // Tokens and passwords go to the URL they were meant for only: a redirect is an error
        // (reqwest would keep `X-Auth-Token` on a redirect to another host, and re-post the
        // password body on a 307).
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .user_agent(concat!(
            "vmware-migration-kit-openstack/",
            env!("CARGO_PKG_VERSION")
        ));
    if !config.verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some(path) = &config.cacert {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read cacert {}: {e}", path.display())))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::Config(format!(
                "cacert {} is not a PEM bundle: {e}",
                path.display()
            ))
        })?;
        builder = builder.tls_certs_only(certificates);
    }
    builder.build().map_err(|e| {
        Error::Config(format!(
            "cannot set up the HTTPS client ({e}); without a system CA bundle install ca-certificates or give cacert"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_page_reads_marker_and_limit() {
        let page = json!({
            "volumes": [],
            "volumes_links": [{"rel": "next", "href": "http://127.0.0.1:8776/v3/p/volumes/detail?limit=2&marker=abc&name=x"}]
        });
        assert_eq!(
            next_page(&page, "volumes_links"),
            Some(("abc".to_owned(), Some("2".to_owned())))
        );
        assert_eq!(next_page(&json!({"volumes": []}), "volumes_links"), None);
    }

    #[test]
    fn unreadable_cacert_says_which_file() {
        let config = crate::config::CloudConfig::from_value(
            "t",
            &json!({"auth": {"auth_url": "https://127.0.0.1:5000", "token": "t", "project_id": "p"},
                "cacert": "/nonexistent/ca.pem"}),
        )
        .expect("config");
        let err = build_http_client(&config, &ClientOptions::default()).expect_err("no file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn retry_after_is_read_and_capped() {
        let options = ClientOptions::default();
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().expect("value"));
        assert_eq!(
            retry_after(&headers, &options),
            Some(Duration::from_secs(7))
        );
        headers.insert(reqwest::header::RETRY_AFTER, "3600".parse().expect("value"));
        assert_eq!(retry_after(&headers, &options), Some(options.max_backoff));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().expect("value"),
        );
        assert_eq!(retry_after(&headers, &options), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = ClientOptions::default();
        assert_eq!(backoff(&options, 1), Duration::from_secs(1));
        assert_eq!(backoff(&options, 3), Duration::from_secs(4));
        assert_eq!(backoff(&options, 20), Duration::from_secs(30));
    }

    #[test]
    fn microversion_goes_in_both_compute_headers() {
        let config = crate::config::CloudConfig::from_value(
            "t",
            &json!({"auth": {"auth_url": "http://127.0.0.1:5000", "token": "t", "project_id": "p"}}),
        )
        .expect("config");
        let client = Client {
            inner: Arc::new(Inner {
                http: build_http_client(&config, &ClientOptions::default()).expect("http"),
                identity_url: auth::identity_url(&config.auth_url).expect("url"),
                config,
                options: ClientOptions::default(),
                token: Mutex::new(None),
                authentications: AtomicU64::new(0),
                region: OnceLock::new(),
            }),
        };
        let request = Request::get(ServiceType::Compute, &["servers", "a b"]).microversion("2.67");
        let url = Url::parse("http://127.0.0.1:8774/v2.1/servers/a%20b").expect("url");
        let built = client
            .build(&request, &url, &Secret::new("tok"))
            .build()
            .expect("request");
        assert_eq!(built.headers()["X-OpenStack-Nova-API-Version"], "2.67");
        assert_eq!(built.headers()["OpenStack-API-Version"], "compute 2.67");
        assert_eq!(built.headers()["X-Auth-Token"], "tok");
    }
}
