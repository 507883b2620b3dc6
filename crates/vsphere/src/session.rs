//! The session: `RetrieveServiceContent`, `Login`, `Logout`, `CurrentTime`, the API version sent
//! as `SOAPAction`, keep-alive, and one automatic re-login when vSphere answers `NotAuthenticated`
//! (long copies outlive sessions; an administrator may also end them).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{info, warn};

use crate::MoRef;
use crate::error::Error;
use crate::secret::Password;
use crate::soap::Transport;
use crate::tls::TlsMode;
use crate::xml::{Element, Writer};

/// Understood by every vCenter and ESXi this client supports; used until the server says more.
pub(crate) const BASE_API_VERSION: &str = "6.5";
/// The newest API version whose types this client decodes.
const NEWEST_API_VERSION: &str = "8.0.3.0";

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `vcenter.example.com`, `host:port`, or a full `https://host/sdk` URL.
    pub server: String,
    pub user: String,
    pub password: Password,
    pub tls: TlsMode,
}

/// `AboutInfo`: what the server is.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct About {
    pub name: String,
    pub full_name: String,
    pub version: String,
    pub build: String,
    /// `VirtualCenter` or `HostAgent` (standalone ESXi).
    pub api_type: String,
    pub api_version: String,
    pub instance_uuid: Option<String>,
}

impl About {
    pub fn is_vcenter(&self) -> bool {
        self.api_type == "VirtualCenter"
    }

    /// A standalone ESXi host (`HostAgent`): one `ha-datacenter`, no folders, no vCenter services.
    pub fn is_standalone_host(&self) -> bool {
        self.api_type == "HostAgent"
    }
}

/// The parts of `ServiceContent` this client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContent {
    pub about: About,
    pub root_folder: MoRef,
    pub property_collector: MoRef,
    pub session_manager: MoRef,
    pub search_index: MoRef,
    pub view_manager: Option<MoRef>,
}

impl ServiceContent {
    fn decode(returnval: &Element) -> Result<Self, Error> {
        let about = returnval.required("about")?;
        let text = |name: &str| about.child_text(name).unwrap_or_default().to_owned();
        let required = |name: &str| {
            MoRef::child(returnval, name)?
                .ok_or_else(|| Error::decode(format!("ServiceContent lacks {name}")))
        };
        Ok(Self {
            about: About {
                name: text("name"),
                full_name: text("fullName"),
                version: text("version"),
                build: text("build"),
                api_type: text("apiType"),
                api_version: text("apiVersion"),
                instance_uuid: about.child_text("instanceUuid").map(str::to_owned),
            },
            root_folder: required("rootFolder")?,
            property_collector: required("propertyCollector")?,
            session_manager: required("sessionManager")?,
            search_index: required("searchIndex")?,
            view_manager: MoRef::child(returnval, "viewManager")?,
        })
    }
}

/// A logged-in connection to vCenter or ESXi. Cheap to clone; clones share the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    content: ServiceContent,
    user: String,
    password: Password,
    /// Bumped at each re-login, so concurrent callers that all saw `NotAuthenticated` log in once.
    generation: AtomicU64,
    /// Bound of each task wait ([`crate::task::wait`]), in milliseconds.
    task_timeout_ms: AtomicU64,
    relogin: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.transport.url().as_str())
            .field("user", &self.inner.user)
            .field("api_version", &self.inner.content.about.api_version)
            .finish_non_exhaustive()
    }
}

/// An hour: longer than vCenter takes to create or remove a snapshot of any disk we copy.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(3600);

/// `https://host[:port]/sdk` from what a user typed.
pub fn sdk_url(server: &str) -> Result<url::Url, Error> {
    let server = server.trim();
    if server.is_empty() {
        return Err(Error::Config("no vSphere server given".into()));
    }
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else {
        format!("https://{server}")
    };
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| Error::Config(format!("bad vSphere server {server:?}: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(Error::Config(format!("bad vSphere server {server:?}")));
    }
    // Credentials travel in Login only, never in the URL (URLs end up in error messages).
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/sdk");
    }
    Ok(url)
}

impl Client {
    /// Reads the service content, picks the API version, and logs in.
    pub async fn connect(options: &ConnectOptions) -> Result<Self, Error> {
        let url = sdk_url(&options.server)?;
        let mut transport = Transport::new(url, &options.tls)?;
        let content = retrieve_service_content(&transport).await?;
        transport.set_api_version(&negotiate_version(&content.about.api_version));
        let client = Self {
            inner: Arc::new(Inner {
                transport,
                content,
                user: options.user.clone(),
                password: options.password.clone(),
                generation: AtomicU64::new(0),
                task_timeout_ms: AtomicU64::new(DEFAULT_TASK_TIMEOUT.as_millis() as u64),
                relogin: tokio::sync::Mutex::new(()),
            }),
        };
        client.login().await?;
        info!(
            server = %client.inner.transport.url(),
            api = %client.inner.content.about.api_version,
            product = %client.inner.content.about.full_name,
            "logged in to vSphere"
        );
        Ok(client)
    }

    /// How long a task may run before a wait for it gives up ([`Error::TaskTimedOut`]): a task
    /// vCenter never ends (a hung host, a snapshot consolidation stuck on a datastore) must not
    /// hold a migration, or its cleanup, forever.
    pub fn task_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.task_timeout_ms.load(Ordering::Relaxed))
    }

    pub fn set_task_timeout(&self, timeout: Duration) {
        self.inner
            .task_timeout_ms
            .store(timeout.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn service_content(&self) -> &ServiceContent {
        &self.inner.content
    }

    pub fn about(&self) -> &About {
        &self.inner.content.about
    }

    /// The SDK URL (`https://host/sdk`).
    pub fn url(&self) -> &url::Url {
        self.inner.transport.url()
    }

    async fn login(&self) -> Result<(), Error> {
        let mut args = Writer::new();
        args.text("userName", &self.inner.user)
            .text("password", self.inner.password.expose());
        let this = &self.inner.content.session_manager;
        self.inner
            .transport
            .call("Login", &method_body("Login", this, &args.finish()))
            .await?;
        Ok(())
    }

    /// The server's certificate as this client's TLS check accepted it (the CA or pin of
    /// [`ConnectOptions::tls`]; anything under [`TlsMode::Insecure`]). Other clients of the same
    /// server must trust this one: VDDK's thumbprint, curl's CA file.
    pub fn server_certificate(&self) -> Result<crate::tls::ServerCertificate, Error> {
        self.inner.transport.server_certificate().ok_or_else(|| {
            Error::Tls(format!(
                "no certificate was recorded for {}",
                self.inner.transport.url()
            ))
        })
    }

    /// The session cookie, for other HTTP clients of the same server (a datastore `/folder`
    /// download on vCenter needs the session). Changes after a re-login.
    pub fn session_cookie(&self) -> Option<crate::soap::SessionCookie> {
        self.inner.transport.session_cookie()
    }

    /// Ends the session on the server.
    pub async fn logout(&self) -> Result<(), Error> {
        let this = &self.inner.content.session_manager;
        self.inner
            .transport
            .call("Logout", &method_body("Logout", this, ""))
            .await?;
        Ok(())
    }

    /// `CurrentTime`: the server's clock; also what keeps a session alive.
    pub async fn current_time(&self) -> Result<String, Error> {
        let this = MoRef::new("ServiceInstance", "ServiceInstance");
        let response = self.invoke("CurrentTime", &this, "").await?;
        Ok(response.required_text("returnval")?.to_owned())
    }

    /// Calls any SOAP method: `args` is the XML of its parameters after `_this` (build it with
    /// [`crate::xml::Writer`]); returns the `…Response` element. On `NotAuthenticated` logs in
    /// again once and repeats the call. The typed functions of this crate are built on it.
    pub async fn invoke(&self, method: &str, this: &MoRef, args: &str) -> Result<Element, Error> {
        self.invoke_checked(method, this, args, |_| Ok(())).await
    }

    /// Like [`Client::invoke`], with `check` run on each answer: a `NotAuthenticated` it returns
    /// (some servers report a lost session inside the answer) also leads to a re-login.
    pub(crate) async fn invoke_checked(
        &self,
        method: &str,
        this: &MoRef,
        args: &str,
        check: impl Fn(&Element) -> Result<(), Error>,
    ) -> Result<Element, Error> {
        let body = method_body(method, this, args);
        let call = || async {
            let response = self.inner.transport.call(method, &body).await?;
            check(&response)?;
            Ok::<Element, Error>(response)
        };
        let generation = self.inner.generation.load(Ordering::Acquire);
        match call().await {
            Err(e) if e.is_not_authenticated() => {
                warn!(method, "vSphere session ended; logging in again");
                self.relogin(generation).await?;
                call().await
            }
            other => other,
        }
    }

    async fn relogin(&self, seen_generation: u64) -> Result<(), Error> {
        let _guard = self.inner.relogin.lock().await;
        if self.inner.generation.load(Ordering::Acquire) != seen_generation {
            return Ok(());
        }
        self.login().await?;
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Calls `CurrentTime` every `interval` until the returned handle is dropped.
    /// Needs a running tokio runtime.
    pub fn spawn_keep_alive(&self, interval: Duration) -> Result<KeepAlive, Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("keep-alive needs a running tokio runtime".into()))?;
        let client = self.clone();
        let task = handle.spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(e) = client.current_time().await {
                    warn!(error = %e, "vSphere keep-alive failed");
                }
            }
        });
        Ok(KeepAlive { task })
    }
}

/// Stops the keep-alive task when dropped.
#[derive(Debug)]
pub struct KeepAlive {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn method_body(method: &str, this: &MoRef, args: &str) -> String {
    let mut w = Writer::new();
    w.moref("_this", this);
    format!(
        r#"<{method} xmlns="urn:vim25">{}{args}</{method}>"#,
        w.finish()
    )
}

async fn retrieve_service_content(transport: &Transport) -> Result<ServiceContent, Error> {
    let this = MoRef::new("ServiceInstance", "ServiceInstance");
    let response = transport
        .call(
            "RetrieveServiceContent",
            &method_body("RetrieveServiceContent", &this, ""),
        )
        .await?;
    ServiceContent::decode(response.required("returnval")?)
}

/// The server's version, capped at the newest this client knows.
fn negotiate_version(server: &str) -> String {
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    if server.is_empty() {
        BASE_API_VERSION.to_owned()
    } else if parse(server) > parse(NEWEST_API_VERSION) {
        NEWEST_API_VERSION.to_owned()
    } else {
        server.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_sdk_urls() {
        assert_eq!(
            sdk_url("vc.example").unwrap().as_str(),
            "https://vc.example/sdk"
        );
        assert_eq!(
            sdk_url("127.0.0.1:8989").unwrap().as_str(),
            "https://127.0.0.1:8989/sdk"
        );
        assert_eq!(
            sdk_url("https://u:p@127.0.0.1:8989/sdk").unwrap().as_str(),
            "https://127.0.0.1:8989/sdk"
        );
        assert!(sdk_url("").is_err());
        assert!(sdk_url("ftp://x").is_err());
    }

    #[test]
    fn negotiates_versions() {
        assert_eq!(negotiate_version("6.5"), "6.5");
        assert_eq!(negotiate_version("7.0.3.0"), "7.0.3.0");
        assert_eq!(negotiate_version("9.0.0.0"), NEWEST_API_VERSION);
        assert_eq!(negotiate_version(""), BASE_API_VERSION);
    }

    #[test]
    fn decodes_service_content() {
        let xml = br#"<soapenv:Envelope xmlns:soapenv="s"><soapenv:Body><RetrieveServiceContentResponse><returnval>
          <rootFolder type="Folder">group-d1</rootFolder>
          <propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>
          <viewManager type="ViewManager">ViewManager</viewManager>
          <about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 6.5.0</fullName>
            <version>6.5.0</version><build>5973321</build><apiType>VirtualCenter</apiType>
            <apiVersion>6.5</apiVersion><instanceUuid>dbed6e0c</instanceUuid></about>
          <sessionManager type="SessionManager">SessionManager</sessionManager>
          <searchIndex type="SearchIndex">SearchIndex</searchIndex>
        </returnval></RetrieveServiceContentResponse></soapenv:Body></soapenv:Envelope>"#;
        let response = crate::soap::decode_response(xml).unwrap();
        let content = ServiceContent::decode(response.required("returnval").unwrap()).unwrap();
        assert!(content.about.is_vcenter());
        assert_eq!(content.root_folder, MoRef::new("Folder", "group-d1"));
        assert_eq!(content.search_index.value, "SearchIndex");
    }
}
