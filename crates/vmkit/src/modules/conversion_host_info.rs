use std::path::{Path, PathBuf};

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::{Context as _, anyhow};
use conversion_host::facts::{FactsRequest, gather};
use serde::Deserialize;

pub struct ConversionHostInfo;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// The migration data directory (every role has one); its free space is reported.
    #[arg(type = "path")]
    pub os_migrate_vmw_data_dir: String,
    /// VDDK directory, as the `migrate` module's `libdir`.
    #[arg(type = "path", default = "/usr/lib/vmware-vix-disklib", aliases = ["conversion_host_vmware_lib_dir"])]
    pub libdir: String,
    /// When given, what this host lacks to migrate over this transport is listed in
    /// `problems` (what migrate would refuse for), as `validate.yml` asks before any migration.
    #[arg(choices = ["vddk", "https", "file"])]
    pub transport: Option<String>,
    /// With O(transport): guests are not converted, so virt-v2v-in-place is not needed.
    #[arg(default = false)]
    pub skipconversion: bool,
}

impl Module for ConversionHostInfo {
    const NAME: &'static str = "conversion_host_info";
    type Args = Args;

    fn run(args: Args, _ctx: &mut Context) -> anyhow::Result<Response> {
        let facts = gather(&FactsRequest {
            data_dir: PathBuf::from(&args.os_migrate_vmw_data_dir),
            vddk_libdir: PathBuf::from(&args.libdir),
        })
        .context("cannot gather the conversion host's facts")?;
        let response = Response::new().msg(summary(&facts));
        let Some(transport) = &args.transport else {
            return Ok(response.with("conversion_host", facts));
        };
        let kind = validation::Transport::parse(transport).ok_or_else(|| {
            anyhow!("argument 'transport': {transport:?} is not one of vddk, https, file")
        })?;
        let mut problems = migrate::preflight::host_problems(
            kind,
            Path::new(&args.libdir),
            Path::new(&args.os_migrate_vmw_data_dir),
        );
        if !args.skipconversion
            && let Err(e) = migrate::conversion::preflight(&migrate::ConversionOptions::default())
        {
            problems.push(e.to_string());
        }
        Ok(response
            .with("conversion_host", facts)
            .with("ready", problems.is_empty())
            .with("problems", problems))
    }
}

fn summary(facts: &conversion_host::HostFacts) -> String {
    let nbdkit = match (&facts.nbdkit.installed, &facts.nbdkit.version) {
        (true, Some(v)) => format!("nbdkit {v}"),
        (true, None) => "nbdkit (version unknown)".into(),
        (false, _) => "no nbdkit".into(),
    };
    let vddk = match (facts.vddk.plugin, facts.vddk.libdir_present) {
        (true, true) => "vddk plugin and library present",
        (true, false) => "vddk plugin present, no VDDK library in libdir",
        (false, _) => "no vddk plugin",
    };
    format!(
        "{nbdkit}; {vddk}; {} CPUs; {} MiB memory available; {} GiB free at {}",
        facts.cpus,
        facts.memory.available_bytes / (1 << 20),
        facts.free_space.free_bytes / (1 << 30),
        facts.free_space.measured_path.display()
    )
}
