//! Facts about the conversion host, for the `conversion_host_info` module and for pre-flight
//! checks: can this host run a migration, and how many at once?

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::nbdkit_config::{installed_modules, parse_dump_config};
use crate::tools::{find_on_path, is_executable, output_of};

#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("cannot read the free space of {path} (nor of any parent directory): {source}")]
    FreeSpace {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where to look. Defaults match the original collection's.
#[derive(Debug, Clone)]
pub struct FactsRequest {
    /// Directory whose free space matters (the migration data directory).
    pub data_dir: PathBuf,
    /// VDDK directory (`vmware-vix-disklib-distrib`).
    pub vddk_libdir: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    pub nbdkit: NbdkitFacts,
    pub vddk: VddkFacts,
    pub virt_v2v_in_place: ToolFacts,
    pub virtio_win: VirtioWinFacts,
    pub cpus: usize,
    pub memory: MemoryFacts,
    pub free_space: SpaceFacts,
    pub kernel: KernelFacts,
    pub os: OsFacts,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct NbdkitFacts {
    pub installed: bool,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    pub plugindir: Option<PathBuf>,
    pub filterdir: Option<PathBuf>,
    pub plugins: Vec<String>,
    pub filters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VddkFacts {
    /// nbdkit's vddk plugin is installed.
    pub plugin: bool,
    pub libdir: PathBuf,
    /// `libvixDiskLib.so` was found under `libdir/lib64`.
    pub libdir_present: bool,
    pub library: Option<PathBuf>,
    /// From the name of the library file (`libvixDiskLib.so.8.0.3` → `8.0.3`), the one the
    /// plugin loads when it could be asked, when that name has one. NFC AIO buffers
    /// (`vddk_config`) need 7.0.1 or newer.
    pub version: Option<String>,
    /// What `nbdkit vddk --dump-plugin` said: the plugin's version, and the VixDiskLib major
    /// version it loaded from `libdir` (none: it found no library there).
    pub plugin_version: Option<String>,
    pub library_major: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ToolFacts {
    pub installed: bool,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct VirtioWinFacts {
    pub installed: bool,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct MemoryFacts {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpaceFacts {
    /// The directory asked about.
    pub path: PathBuf,
    /// The directory measured: the asked one or its nearest existing parent.
    pub measured_path: PathBuf,
    pub free_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct KernelFacts {
    pub release: String,
    pub machine: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct OsFacts {
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
}

pub fn gather(request: &FactsRequest) -> Result<HostFacts, FactsError> {
    let nbdkit = probe_nbdkit();
    Ok(HostFacts {
        vddk: probe_vddk(&request.vddk_libdir, &nbdkit),
        nbdkit,
        virt_v2v_in_place: probe_virt_v2v_in_place(),
        virtio_win: probe_virtio_win(Path::new("/usr/share/virtio-win")),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory: read_meminfo(),
        free_space: free_space(&request.data_dir)?,
        kernel: kernel(),
        os: read_os_release(Path::new("/etc/os-release")),
    })
}

/// nbdkit on PATH: its version and the plugins and filters it has.
pub fn probe_nbdkit() -> NbdkitFacts {
    let Some(path) = find_on_path("nbdkit") else {
        return NbdkitFacts::default();
    };
    let config = output_of(&path, &["--dump-config"])
        .map(|t| parse_dump_config(&t))
        .unwrap_or_default();
    let version = config.get("version").cloned().or_else(|| {
        // `nbdkit 1.32.5` on older builds that lack `version=` in --dump-config.
        output_of(&path, &["--version"])
            .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
    });
    let plugindir = config.get("plugindir").map(PathBuf::from);
    let filterdir = config.get("filterdir").map(PathBuf::from);
    NbdkitFacts {
        installed: true,
        plugins: plugindir
            .as_deref()
            .map(|d| installed_modules(d, "plugin"))
            .unwrap_or_default(),
        filters: filterdir
            .as_deref()
            .map(|d| installed_modules(d, "filter"))
            .unwrap_or_default(),
        path: Some(path),
        version,
        plugindir,
        filterdir,
    }
}

fn probe_vddk(libdir: &Path, nbdkit: &NbdkitFacts) -> VddkFacts {
    let mut facts = vddk_files(libdir, nbdkit);
    let Some(path) = &nbdkit.path else {
        return facts;
    };
    match crate::vddk_probe::probe(path, libdir) {
        Ok(probe) => {
            facts.plugin = true;
            facts.version = probe.library_version().or(facts.version);
            facts.plugin_version = probe.plugin_version;
            facts.library_major = probe.library_major;
        }
        Err(e) => tracing::debug!("no vddk plugin: {e}"),
    }
    facts
}

fn vddk_files(libdir: &Path, nbdkit: &NbdkitFacts) -> VddkFacts {
    let library = std::fs::read_dir(libdir.join("lib64"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libvixDiskLib.so"))
        })
        // The longest name carries the full version (`.so.8.0.3` over `.so.8` and `.so`).
        .max_by_key(|p| p.as_os_str().len());
    let version = library
        .as_deref()
        .and_then(crate::vddk_probe::version_of_library);
    VddkFacts {
        plugin: nbdkit.plugins.iter().any(|p| p == "vddk"),
        libdir: libdir.to_path_buf(),
        libdir_present: library.is_some(),
        library,
        version,
        plugin_version: None,
        library_major: None,
    }
}

fn probe_virt_v2v_in_place() -> ToolFacts {
    // RHEL ships it in /usr/libexec, off $PATH.
    let path = find_on_path("virt-v2v-in-place").or_else(|| {
        let libexec = PathBuf::from("/usr/libexec/virt-v2v-in-place");
        is_executable(&libexec).then_some(libexec)
    });
    ToolFacts {
        installed: path.is_some(),
        path,
    }
}

fn probe_virtio_win(dir: &Path) -> VirtioWinFacts {
    if !dir.is_dir() {
        return VirtioWinFacts::default();
    }
    // The package links `virtio-win.iso` to `virtio-win-<version>.iso`.
    let version = std::fs::read_link(dir.join("virtio-win.iso"))
        .ok()
        .and_then(|target| {
            let name = target.file_name()?.to_str()?.to_string();
            Some(
                name.strip_prefix("virtio-win-")?
                    .strip_suffix(".iso")?
                    .to_string(),
            )
        });
    VirtioWinFacts {
        installed: true,
        path: Some(dir.to_path_buf()),
        version,
    }
}

fn read_meminfo() -> MemoryFacts {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> MemoryFacts {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    MemoryFacts {
        total_bytes: field("MemTotal"),
        available_bytes: field("MemAvailable"),
    }
}

/// Free space where the data directory is, or will be once created.
/// Free space where `path` is, or its nearest existing parent.
pub fn free_space(path: &Path) -> Result<SpaceFacts, FactsError> {
    let measured = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let stat = rustix::fs::statvfs(measured).map_err(|e| FactsError::FreeSpace {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(SpaceFacts {
        path: path.to_path_buf(),
        measured_path: measured.to_path_buf(),
        free_bytes: stat.f_bavail * stat.f_frsize,
        total_bytes: stat.f_blocks * stat.f_frsize,
    })
}

fn kernel() -> KernelFacts {
    let uname = rustix::system::uname();
    KernelFacts {
        release: uname.release().to_string_lossy().into_owned(),
        machine: uname.machine().to_string_lossy().into_owned(),
    }
}

fn read_os_release(path: &Path) -> OsFacts {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    OsFacts {
        id: field("ID"),
        version_id: field("VERSION_ID"),
        pretty_name: field("PRETTY_NAME"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_in_bytes() {
        let m =
            parse_meminfo("MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   1000 kB\n");
        assert_eq!(m.total_bytes, 24_000_000 * 1024);
        assert_eq!(m.available_bytes, 1000 * 1024);
    }

    #[test]
    fn free_space_of_a_missing_directory_is_its_parents() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not/yet/created");
        let space = free_space(&missing).unwrap();
        assert_eq!(space.measured_path, dir.path());
        assert!(space.total_bytes >= space.free_bytes);
    }

    #[test]
    fn vddk_version_comes_from_the_library_name() {
        let dir = tempfile::tempdir().unwrap();
        let lib64 = dir.path().join("lib64");
        std::fs::create_dir(&lib64).unwrap();
        for f in [
            "libvixDiskLib.so",
            "libvixDiskLib.so.8",
            "libvixDiskLib.so.8.0.3",
        ] {
            std::fs::write(lib64.join(f), b"").unwrap();
        }
        let vddk = probe_vddk(dir.path(), &NbdkitFacts::default());
        assert!(vddk.libdir_present);
        assert_eq!(vddk.version.as_deref(), Some("8.0.3"));
        assert!(!vddk.plugin);
    }

    #[test]
    fn virtio_win_version_comes_from_the_iso_link() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("virtio-win-1.9.40.iso", dir.path().join("virtio-win.iso"))
            .unwrap();
        let v = probe_virtio_win(dir.path());
        assert!(v.installed);
        assert_eq!(v.version.as_deref(), Some("1.9.40"));
    }

    #[test]
    fn os_release_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("os-release");
        std::fs::write(
            &p,
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        let os = read_os_release(&p);
        assert_eq!(os.id.as_deref(), Some("debian"));
        assert_eq!(os.version_id.as_deref(), Some("12"));
    }
}
