//! nbdkit, started for one disk and always stopped.
//!
//! The original put the vCenter password on nbdkit's command line (visible in `ps` and in its
//! log), waited for readiness by sleeping, and panicked when nbdkit failed to start. Here:
//! - secrets reach nbdkit as `key=+FILE`: a 0600 file in a private 0700 directory, deleted as
//!   soon as nbdkit has read it (it reads such parameters at start-up, before it listens) and on
//!   every exit path;
//! - nbdkit listens on a Unix socket in that private directory, and is ready when a connection
//!   succeeds; if it exits first, the error carries the end of its log;
//! - `--exit-with-parent` ends it if we die; dropping the server stops it (TERM, then KILL);
//! - it gets an allow-listed environment (`child_env`): none of our credentials.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A value that must not be shown: printed as `********`.
#[derive(Clone)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("********")
    }
}

/// Where the disk's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// VMware's VDDK through nbdkit's vddk plugin: the production path, the only one that reads
    /// a snapshot of a running VM.
    Vddk(VddkSource),
    /// The disk file over the datastore's HTTPS `/folder` URL (VM powered off).
    Https(HttpsSource),
    /// The disk file on a datastore mounted on the conversion host (VM powered off).
    File { path: PathBuf },
}

#[derive(Debug, Clone)]
pub struct VddkSource {
    /// Host name or address only: VDDK takes the port apart.
    pub server: String,
    /// The server's HTTPS port when it is not 443.
    pub port: Option<u16>,
    pub user: String,
    pub password: SecretValue,
    /// SHA-1 thumbprint of the server's certificate, `AA:BB:…`.
    pub thumbprint: String,
    pub libdir: PathBuf,
    /// `vm-123`.
    pub vm_moref: String,
    /// `snapshot-45`: read the disk as of this snapshot.
    pub snapshot_moref: Option<String>,
    /// `file:nbdssl:nbd` by default in VDDK.
    pub transports: Option<String>,
    /// `none`, `zlib`, `fastlz`, `skipz`.
    pub compression: Option<String>,
    /// `[datastore1] vm/vm.vmdk`.
    pub file: String,
    /// VDDK's own settings (`vddk_config`), given to the plugin as its `config=` file.
    pub config: VddkConfig,
}

/// VDDK settings (`vixDiskLib.nfcAio.Session.BufSizeIn64KB` = `16`, …), written as the `key=value`
/// lines of the file VDDK reads at start-up. Shown by its keys only: their values stay out of logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct VddkConfig(BTreeMap<String, String>);

impl VddkConfig {
    /// Refuses what would not be one `key=value` line of VDDK's file, naming the key.
    pub fn new(settings: BTreeMap<String, String>) -> Result<Self, String> {
        for (key, value) in &settings {
            let key_ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !key_ok {
                return Err(format!(
                    "key {key:?} is not a VDDK setting name (letters, digits, `.`, `_`, `-`, \
                     as in vixDiskLib.nfcAio.Session.BufSizeIn64KB)"
                ));
            }
            if value.contains(['\n', '\r', '\0']) {
                return Err(format!(
                    "the value of {key} holds a line break; VDDK reads one `key=value` per line"
                ));
            }
        }
        Ok(Self(settings))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    fn file_content(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }
}

impl std::fmt::Debug for VddkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

#[derive(Debug, Clone)]
pub struct HttpsSource {
    pub url: String,
    /// The vSphere session cookie (`vmware_soap_session=…`).
    pub cookie: Option<SecretValue>,
    pub tls: CurlTls,
}

/// Which server certificates curl accepts: the same as the vSphere session did, so the session
/// cookie goes over TLS checked as the user asked, or over none only when the user said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurlTls {
    /// Signed by a CA of the system's store.
    SystemCas,
    /// Signed by a CA of this PEM file.
    CaFile(PathBuf),
    /// Exactly this certificate (PEM): the one whose pinned thumbprint the vSphere session
    /// checked. curl still checks that it names the URL's host.
    Certificate(String),
    /// No check (`vmware_insecure`).
    Off,
}

/// How to start nbdkit.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub nbdkit: PathBuf,
    /// nbdkit's own log (stderr), kept for the operator; else a file in the private directory.
    pub log_file: Option<PathBuf>,
    pub ready_timeout: Duration,
    /// nbdkit `-v`: plugin and filter debug messages in the log.
    pub verbose: bool,
    /// Asked while waiting for nbdkit to serve: true stops the wait and the server at once.
    /// The vddk plugin may take most of `ready_timeout` to log in, and a cancel must not.
    pub stop: StopWhen,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            nbdkit: PathBuf::from("nbdkit"),
            log_file: None,
            ready_timeout: Duration::from_secs(60),
            verbose: false,
            stop: StopWhen::never(),
        }
    }
}

/// A question asked while waiting: "should the wait end now?" (e.g. a cancel's flag).
#[derive(Clone)]
pub struct StopWhen(std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl StopWhen {
    pub fn new(stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(stop))
    }

    pub fn never() -> Self {
        Self::new(|| false)
    }

    pub fn now(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for StopWhen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopWhen(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NbdkitError {
    #[error(
        "cannot start {nbdkit}: {source} (is nbdkit installed? the conversion_host role installs it)"
    )]
    Spawn {
        nbdkit: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "nbdkit exited ({status}) before serving the disk; the end of its log ({log}):\n{tail}"
    )]
    Exited {
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("nbdkit did not accept connections within {0:?}; see its log {1}")]
    NotReady(Duration, PathBuf),
    #[error("stopped while nbdkit was starting (cancelled)")]
    Stopped,
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running nbdkit serving one disk read-only on a private Unix socket.
#[derive(Debug)]
pub struct NbdkitServer {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    secret_files: Vec<PathBuf>,
    // Holds the socket, secret files and default log; removed on drop.
    _private_dir: tempfile::TempDir,
}

impl NbdkitServer {
    pub fn start(source: &Source, options: &ServerOptions) -> Result<Self, NbdkitError> {
        let private_dir = crate::private_files::private_temp_dir(&format!(
            "{PRIVATE_DIR_PREFIX}{}-",
            std::process::id()
        ))
        .map_err(|source| NbdkitError::Io {
            what: "cannot create a private directory in",
            path: std::env::temp_dir(),
            source,
        })?;
        let socket = private_dir.path().join("nbd.sock");
        let log = options
            .log_file
            .clone()
            .unwrap_or_else(|| private_dir.path().join("nbdkit.log"));
        let mut secret_files = Vec::new();
        let mut write_secret = |name: &str, value: &SecretValue| -> Result<PathBuf, NbdkitError> {
            let path = private_dir.path().join(name);
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| NbdkitError::Io {
                    what: "cannot create",
                    path: path.clone(),
                    source,
                })?;
            file.write_all(value.0.as_bytes())
                .map_err(|source| NbdkitError::Io {
                    what: "cannot write",
                    path: path.clone(),
                    source,
                })?;
            secret_files.push(path.clone());
            Ok(path)
        };
        let secret_paths = SecretPaths {
            password: match source {
                Source::Vddk(v) => Some(write_secret("password", &v.password)?),
                _ => None,
            },
            cookie: match source {
                Source::Https(HttpsSource {
                    cookie: Some(cookie),
                    ..
                }) => Some(write_secret("cookie", cookie)?),
                _ => None,
            },
            certificate: match source {
                Source::Https(HttpsSource {
                    tls: CurlTls::Certificate(pem),
                    ..
                }) => Some(write_certificate(private_dir.path(), pem)?),
                _ => None,
            },
            vddk_config: match source {
                Source::Vddk(v) if !v.config.is_empty() => {
                    Some(write_vddk_config(private_dir.path(), &v.config)?)
                }
                _ => None,
            },
        };
        let args = command_line(source, &socket, &secret_paths, options.verbose);
        let log_out =
            crate::private_files::open_private(&log, crate::private_files::Open::Truncate)
                .map_err(|source| NbdkitError::Io {
                    what: "cannot create the nbdkit log",
                    path: log.clone(),
                    source,
                })?;
        tracing::info!(nbdkit = %options.nbdkit.display(), args = ?args, log = %log.display(), "starting nbdkit");
        let child = crate::child_env::restrict(&mut Command::new(&options.nbdkit))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_out)
            .spawn()
            .map_err(|source| NbdkitError::Spawn {
                nbdkit: options.nbdkit.clone(),
                source,
            })?;
        let mut server = NbdkitServer {
            child,
            socket,
            log,
            secret_files,
            _private_dir: private_dir,
        };
        server.wait_ready(options.ready_timeout, &options.stop)?;
        // nbdkit read its `+FILE` parameters before listening: the secrets need not stay on disk.
        server.remove_secret_files();
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration, stop: &StopWhen) -> Result<(), NbdkitError> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.remove_secret_files();
                return Err(NbdkitError::Exited {
                    status,
                    tail: log_tail(&self.log, 4096),
                    log: self.log.clone(),
                });
            }
            if UnixStream::connect(&self.socket).is_ok() {
                tracing::debug!(socket = %self.socket.display(), waited = ?start.elapsed(), "nbdkit is ready");
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(NbdkitError::NotReady(timeout, self.log.clone()));
            }
            // Dropping the server (the caller's `?`) stops nbdkit and removes its files.
            if stop.now() {
                return Err(NbdkitError::Stopped);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn remove_secret_files(&mut self) {
        for path in self.secret_files.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// `nbd+unix:///?socket=…`, for the NBD client.
    pub fn uri(&self) -> String {
        format!("nbd+unix:///?socket={}", self.socket.display())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for NbdkitServer {
    fn drop(&mut self) {
        self.remove_secret_files();
        let pid = self.child.id() as libc::pid_t;
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: signalling our own child, which we have not reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `<temp dir>/vmkit-nbdkit-<pid of the run>-<random>`: the pid says whose it is.
const PRIVATE_DIR_PREFIX: &str = "vmkit-nbdkit-";

/// Private directories of runs that were killed (SIGKILL leaves no chance to clean up): ours
/// (our user's, a real directory, our name pattern), whose run's process is gone and on whose
/// socket no server listens. Removes them, with any secret file still in them; returns what was
/// removed.
pub fn remove_stale_private_dirs(parent: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let me = crate::private_files::euid();
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PRIVATE_DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let ours =
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir() && m.uid() == me);
        if ours
            && !process_alive(owner)
            && UnixStream::connect(path.join("nbd.sock")).is_err()
            && std::fs::remove_dir_all(&path).is_ok()
        {
            tracing::info!(dir = %path.display(), "removed the private directory of a killed nbdkit");
            removed.push(path);
        }
    }
    removed
}

fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Paths of the files that carry secrets to nbdkit, of the certificate curl trusts, and of
/// VDDK's settings.
#[derive(Debug, Default)]
pub struct SecretPaths {
    pub password: Option<PathBuf>,
    pub cookie: Option<PathBuf>,
    /// `CurlTls::Certificate` written out; beside it an empty directory (`capath`), so that no
    /// CA of the system's default directory is trusted besides.
    pub certificate: Option<PathBuf>,
    /// `vddk_config` written out.
    pub vddk_config: Option<PathBuf>,
}

/// Writes VDDK's settings into the private directory. Unlike the password it stays while nbdkit
/// runs: nbdkit listens before the plugin starts VDDK (after its fork), and VDDK reads the file
/// only then. The private directory, and so the file, goes with the server on every exit path.
fn write_vddk_config(dir: &Path, config: &VddkConfig) -> Result<PathBuf, NbdkitError> {
    let path = dir.join("vddk.conf");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(config.file_content().as_bytes()))
        .map_err(|source| NbdkitError::Io {
            what: "cannot write",
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// Writes the certificate curl is to trust into the private directory. Unlike the secrets it
/// stays while nbdkit runs: curl reads it at each new connection.
fn write_certificate(dir: &Path, pem: &str) -> Result<PathBuf, NbdkitError> {
    let path = dir.join("server-certificate.pem");
    let io = |what: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| NbdkitError::Io { what, path, source }
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(pem.as_bytes()))
        .map_err(io("cannot write", &path))?;
    let no_cas = no_extra_cas(&path);
    std::fs::create_dir(&no_cas).map_err(io("cannot create", &no_cas))?;
    Ok(path)
}

fn no_extra_cas(certificate: &Path) -> PathBuf {
    certificate.with_file_name("no-other-cas")
}

/// nbdkit's arguments. Secrets appear only as `key=+FILE`.
pub fn command_line(
    source: &Source,
    socket: &Path,
    secrets: &SecretPaths,
    verbose: bool,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--foreground".into(),
        "--exit-with-parent".into(),
        "--readonly".into(),
        "--unix".into(),
        socket.into(),
    ];
    if verbose {
        args.push("--verbose".into());
    }
    let param = |key: &str, value: &dyn AsRef<std::ffi::OsStr>| -> OsString {
        let mut p = OsString::from(format!("{key}="));
        p.push(value.as_ref());
        p
    };
    let secret = |key: &str, path: &Option<PathBuf>| -> Option<OsString> {
        path.as_ref().map(|p| {
            let mut s = OsString::from(format!("{key}=+"));
            s.push(p);
            s
        })
    };
    match source {
        Source::Vddk(v) => {
            // As virt-v2v: retry nearest the plugin; requests of at most 2 MiB, because larger
            // ones make the ESXi NFC server fail with "Failed to allocate".
            args.extend(["--filter=blocksize".into(), "--filter=retry".into()]);
            args.push("vddk".into());
            args.push(param("server", &v.server));
            if let Some(port) = v.port {
                args.push(param("port", &port.to_string()));
            }
            args.push(param("user", &v.user));
            args.extend(secret("password", &secrets.password));
            args.push(param("thumbprint", &v.thumbprint));
            args.push(param("libdir", &v.libdir));
            args.push(param("vm", &format!("moref={}", v.vm_moref)));
            if let Some(snapshot) = &v.snapshot_moref {
                args.push(param("snapshot", snapshot));
            }
            if let Some(transports) = &v.transports {
                args.push(param("transports", transports));
            }
            if let Some(compression) = &v.compression {
                args.push(param("compression", compression));
            }
            if let Some(config) = &secrets.vddk_config {
                args.push(param("config", config));
            }
            args.push(param("file", &v.file));
            args.push("minblock=512".into());
            args.push("maxdata=2M".into());
        }
        Source::Https(h) => {
            args.extend(["--filter=retry".into(), "curl".into()]);
            args.push(param("url", &h.url));
            args.extend(secret("cookie", &secrets.cookie));
            // The cookie must reach only the URL's host: no redirect, and never plain http.
            args.push("protocols=https".into());
            args.push("followlocation=false".into());
            match (&h.tls, &secrets.certificate) {
                (CurlTls::SystemCas, _) => {}
                (CurlTls::CaFile(ca), _) => args.push(param("cainfo", ca)),
                (CurlTls::Certificate(_), Some(path)) => {
                    args.push(param("cainfo", path));
                    args.push(param("capath", &no_extra_cas(path)));
                }
                // Not written: an empty CA file makes curl refuse every certificate.
                (CurlTls::Certificate(_), None) => args.push("cainfo=".into()),
                (CurlTls::Off, _) => args.push("sslverify=false".into()),
            }
        }
        Source::File { path } => {
            args.push("file".into());
            args.push(param("file", path));
        }
    }
    args
}

fn log_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_dirs_of_gone_runs_without_a_listener_are_stale() {
        let parent = tempfile::tempdir().unwrap();
        // A pid no process has: above the kernel's limit.
        let gone = i32::MAX;
        let stale = parent.path().join(format!("vmkit-nbdkit-{gone}-dead"));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("password"), "x").unwrap();
        let running = parent
            .path()
            .join(format!("vmkit-nbdkit-{}-run", std::process::id()));
        std::fs::create_dir(&running).unwrap();
        let live = parent.path().join(format!("vmkit-nbdkit-{gone}-live"));
        std::fs::create_dir(&live).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(live.join("nbd.sock")).unwrap();
        let other = parent.path().join("someone-else");
        std::fs::create_dir(&other).unwrap();
        let target = parent.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(
            &target,
            parent.path().join(format!("vmkit-nbdkit-{gone}-link")),
        )
        .unwrap();
        let removed = remove_stale_private_dirs(parent.path());
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists() && running.exists() && live.exists() && other.exists());
        assert!(target.exists());
    }

    #[test]
    fn the_private_directory_is_0700_and_named_for_its_run() {
        use std::os::unix::fs::PermissionsExt;
        let dir = crate::private_files::private_temp_dir(&format!(
            "{PRIVATE_DIR_PREFIX}{}-",
            std::process::id()
        ))
        .unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    use super::*;

    fn vddk() -> Source {
        Source::Vddk(VddkSource {
            server: "vcenter.example.com".into(),
            port: Some(8443),
            user: "administrator@vsphere.local".into(),
            password: SecretValue::new("VDDK-S3CRET-pw"),
            thumbprint: "AA:BB:CC".into(),
            libdir: "/usr/lib/vmware-vix-disklib".into(),
            vm_moref: "vm-42".into(),
            snapshot_moref: Some("snapshot-7".into()),
            transports: Some("file:nbdssl:nbd".into()),
            compression: Some("fastlz".into()),
            file: "[datastore1] web/web.vmdk".into(),
            config: VddkConfig::new(BTreeMap::from([(
                "vixDiskLib.nfcAio.Session.BufCount".to_owned(),
                "4".to_owned(),
            )]))
            .unwrap(),
        })
    }

    #[test]
    fn vddk_command_line_carries_the_password_by_file_only() {
        let secrets = SecretPaths {
            password: Some("/run/x/password".into()),
            vddk_config: Some("/run/x/vddk.conf".into()),
            ..SecretPaths::default()
        };
        let args: Vec<String> =
            command_line(&vddk(), Path::new("/run/x/nbd.sock"), &secrets, false)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect();
        assert_eq!(
            args,
            [
                "--foreground",
                "--exit-with-parent",
                "--readonly",
                "--unix",
                "/run/x/nbd.sock",
                "--filter=blocksize",
                "--filter=retry",
                "vddk",
                "server=vcenter.example.com",
                "port=8443",
                "user=administrator@vsphere.local",
                "password=+/run/x/password",
                "thumbprint=AA:BB:CC",
                "libdir=/usr/lib/vmware-vix-disklib",
                "vm=moref=vm-42",
                "snapshot=snapshot-7",
                "transports=file:nbdssl:nbd",
                "compression=fastlz",
                "config=/run/x/vddk.conf",
                "file=[datastore1] web/web.vmdk",
                "minblock=512",
                "maxdata=2M",
            ]
        );
        let shown = format!("{:?}", vddk());
        assert!(!shown.contains("VDDK-S3CRET-pw"), "{shown}");
        assert!(
            shown.contains("BufCount") && !shown.contains("BufCount=4"),
            "{shown}"
        );
    }

    #[test]
    fn vddk_settings_are_one_line_each_or_refused() {
        let config =
            |k: &str, v: &str| VddkConfig::new(BTreeMap::from([(k.to_owned(), v.to_owned())]));
        let ok = config("vixDiskLib.nfcAio.Session.BufSizeIn64KB", "16").unwrap();
        assert_eq!(
            ok.file_content(),
            "vixDiskLib.nfcAio.Session.BufSizeIn64KB=16\n"
        );
        for bad_key in ["", "a=b", "two words", "line\nbreak"] {
            let err = config(bad_key, "1").unwrap_err();
            assert!(err.contains("is not a VDDK setting"), "{bad_key:?}: {err}");
        }
        let err = config("tmpDirectory", "/tmp\nvixDiskLib.x=1").unwrap_err();
        assert!(err.contains("tmpDirectory"), "{err}");
    }

    #[test]
    fn https_command_line_carries_the_cookie_by_file_only() {
        let source = |tls| {
            Source::Https(HttpsSource {
                url: "https://vc/folder/web/web-flat.vmdk?dcPath=DC&dsName=ds1".into(),
                cookie: Some(SecretValue::new("vmware_soap_session=abc")),
                tls,
            })
        };
        let secrets = SecretPaths {
            cookie: Some("/run/x/cookie".into()),
            certificate: Some("/run/x/server-certificate.pem".into()),
            ..SecretPaths::default()
        };
        let args = |tls| -> Vec<String> {
            command_line(&source(tls), Path::new("/s"), &secrets, false)
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect()
        };
        let off = args(CurlTls::Off);
        assert!(off.contains(&"cookie=+/run/x/cookie".to_string()));
        assert!(off.contains(&"sslverify=false".to_string()));
        assert!(!off.iter().any(|a| a.contains("abc")));
        for tls in [
            CurlTls::SystemCas,
            CurlTls::CaFile("/etc/ca.pem".into()),
            CurlTls::Certificate("PEM".into()),
            CurlTls::Off,
        ] {
            let args = args(tls.clone());
            assert!(args.contains(&"protocols=https".to_string()), "{tls:?}");
            assert!(
                args.contains(&"followlocation=false".to_string()),
                "{tls:?}"
            );
            assert_eq!(
                args.contains(&"sslverify=false".to_string()),
                tls == CurlTls::Off,
                "{tls:?}"
            );
        }
        let pinned = args(CurlTls::Certificate("PEM".into()));
        assert!(pinned.contains(&"cainfo=/run/x/server-certificate.pem".to_string()));
        assert!(pinned.contains(&"capath=/run/x/no-other-cas".to_string()));
        assert!(
            args(CurlTls::CaFile("/etc/ca.pem".into())).contains(&"cainfo=/etc/ca.pem".to_string())
        );
    }
}
