//! NBD servers for tests: nbdkit (any plugin, with filters) and qemu-nbd, each on a Unix socket
//! in a temporary directory, ready when a connection succeeds, killed on drop.
//!
//! ```no_run
//! let server = testbed::nbdkit::Nbdkit::new("memory").arg("size=1M").filter("stats").start().unwrap();
//! let uri = server.uri(); // nbd+unix:///?socket=/tmp/.../nbd.sock
//! ```

use std::ffi::OsString;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const HOW_TO_INSTALL: &str = "the NBD test bed is missing: run `scripts/testbed up nbd` \
     (installs nbdkit, libnbd-bin and qemu-utils with apt)";

/// A running NBD server process.
pub struct NbdServer {
    child: Child,
    socket: PathBuf,
    tcp_port: Option<u16>,
    export: String,
    name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl NbdServer {
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `nbd+unix:///EXPORT?socket=PATH`, or `nbd://127.0.0.1:PORT/EXPORT` for a TCP server.
    pub fn uri(&self) -> String {
        match self.tcp_port {
            Some(port) => format!("nbd://127.0.0.1:{port}/{}", self.export),
            None => format!(
                "nbd+unix:///{}?socket={}",
                self.export,
                self.socket.display()
            ),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash would: no cleanup, no stats written.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: nbdkit writes its `stats` file and closes its `log`.
    pub fn stop(mut self) -> io::Result<()> {
        self.terminate()
    }

    fn terminate(&mut self) -> io::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id())
            .map_err(|_| io::Error::other("pid out of range"))?;
        // SAFETY: plain kill(2) on our own child's pid, which we have not reaped yet.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::other(format!("{} ignored SIGTERM", self.name)));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_and_wait(
    name: &'static str,
    mut command: Command,
    socket: PathBuf,
    tcp_port: Option<u16>,
    export: String,
    dir: Option<tempfile::TempDir>,
) -> io::Result<NbdServer> {
    // A socket left behind by a killed server would make bind fail.
    let _ = std::fs::remove_file(&socket);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = command.spawn().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(e.kind(), format!("{name} not found: {HOW_TO_INSTALL}"))
        } else {
            io::Error::new(e.kind(), format!("cannot start {name}: {e}"))
        }
    })?;
    let mut server = NbdServer {
        child,
        socket,
        tcp_port,
        export,
        name,
        _dir: dir,
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let ready = match tcp_port {
            Some(port) => TcpStream::connect(("127.0.0.1", port)).and_then(read_greeting),
            None => UnixStream::connect(&server.socket).and_then(read_greeting),
        }
        .is_ok();
        if ready {
            return Ok(server);
        }
        if let Some(status) = server.child.try_wait()? {
            return Err(io::Error::other(format!(
                "{name} exited with {status} before serving {} (its stderr is above)",
                server.socket.display()
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{name} did not listen on {} within {READY_TIMEOUT:?}",
                server.socket.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Builder for an nbdkit server: `nbdkit -f --exit-with-parent -U SOCK [--filter=F]... PLUGIN ARGS`.
#[derive(Debug, Clone)]
pub struct Nbdkit {
    plugin: String,
    args: Vec<OsString>,
    filters: Vec<String>,
    options: Vec<OsString>,
    socket: Option<PathBuf>,
    tcp: bool,
}

impl Nbdkit {
    pub fn new(plugin: &str) -> Self {
        Nbdkit {
            plugin: plugin.to_owned(),
            args: Vec::new(),
            filters: Vec::new(),
            options: Vec::new(),
            socket: None,
            tcp: false,
        }
    }

    /// A plugin or filter parameter, `key=value`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds a filter; filters stack in the order given (first is closest to the client).
    pub fn filter(mut self, name: &str) -> Self {
        self.filters.push(name.to_owned());
        self
    }

    /// An nbdkit option such as `-r` (read-only) or `--threads=4`.
    pub fn option(mut self, option: impl Into<OsString>) -> Self {
        self.options.push(option.into());
        self
    }

    /// Serve on this path instead of a fresh temporary directory (to restart a killed server
    /// where a client expects it).
    pub fn socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket = Some(path.into());
        self
    }

    /// Listen on a free TCP port of 127.0.0.1 instead of a Unix socket.
    pub fn tcp(mut self) -> Self {
        self.tcp = true;
        self
    }

    pub fn start(&self) -> io::Result<NbdServer> {
        let (socket, dir) = socket_location(self.socket.as_deref())?;
        let mut command = Command::new("nbdkit");
        command.arg("-f").arg("--exit-with-parent");
        let tcp_port = if self.tcp {
            let port = free_tcp_port()?;
            command
                .arg("-i")
                .arg("127.0.0.1")
                .arg("-p")
                .arg(port.to_string());
            Some(port)
        } else {
            command.arg("-U").arg(&socket);
            None
        };
        command.args(&self.options);
        for filter in &self.filters {
            command.arg(format!("--filter={filter}"));
        }
        command.arg(&self.plugin).args(&self.args);
        spawn_and_wait("nbdkit", command, socket, tcp_port, String::new(), dir)
    }
}

/// Builder for `qemu-nbd` serving a raw file.
#[derive(Debug, Clone)]
pub struct QemuNbd {
    file: PathBuf,
    read_only: bool,
    export: String,
    socket: Option<PathBuf>,
}

impl QemuNbd {
    pub fn new(file: impl Into<PathBuf>) -> Self {
        QemuNbd {
            file: file.into(),
            read_only: false,
            export: String::new(),
            socket: None,
        }
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.socket = Some(path.into());
        self
    }

    pub fn export(mut self, name: &str) -> Self {
        self.export = name.to_owned();
        self
    }

    pub fn start(&self) -> io::Result<NbdServer> {
        let (socket, dir) = socket_location(self.socket.as_deref())?;
        let mut command = Command::new("qemu-nbd");
        command
            .arg("--socket")
            .arg(&socket)
            .arg("--format=raw")
            .arg("--persistent")
            .arg("--shared=16")
            .arg("--discard=unmap")
            .arg("--cache=writeback");
        if !self.export.is_empty() {
            command.arg("--export-name").arg(&self.export);
        }
        if self.read_only {
            command.arg("--read-only");
        }
        command.arg(&self.file);
        // qemu-nbd has no --exit-with-parent; Drop kills it.
        spawn_and_wait("qemu-nbd", command, socket, None, self.export.clone(), dir)
    }
}

fn socket_location(chosen: Option<&Path>) -> io::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match chosen {
        Some(path) => Ok((path.to_owned(), None)),
        None => {
            let dir = tempfile::Builder::new().prefix("testbed-nbd-").tempdir()?;
            Ok((dir.path().join("nbd.sock"), Some(dir)))
        }
    }
}

fn free_tcp_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Reads the server's greeting before hanging up, so the server does not log a broken pipe
/// for the readiness probe.
fn read_greeting(mut stream: impl io::Read) -> io::Result<()> {
    let mut greeting = [0u8; 18];
    stream.read_exact(&mut greeting)
}
