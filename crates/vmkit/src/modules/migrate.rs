//! `migrate`: copies a VM's disks into Cinder volumes on this conversion host — cold, a warm
//! (CBT) sync round, or the cutover — and converts the guest. The work is in the `migrate` crate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::{Context as _, anyhow, bail};
use conversion_host::nbdkit::SecretValue;
use migrate::{ConversionHostId, ConversionOptions, Phase, Request, Transport};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cloud::connect;
use super::vsphere_connection::{VsphereConnectionArgs, logout};

pub struct Migrate;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    #[serde(flatten)]
    #[arg(flatten)]
    pub vsphere: VsphereConnectionArgs,
    #[arg(aliases = ["vm_name"])]
    pub vmname: String,
    /// The VM's inventory folder (guest_info's `hw_folder`); the VM is looked up by name when nothing is there.
    #[arg(default = "/ha-datacenter/vm/")]
    pub vddkpath: String,
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    #[arg(aliases = ["cloud"])]
    pub dst_cloud: Option<Value>,
    /// How the conversion host reads the disks.
    #[arg(default = "vddk", choices = ["vddk", "https", "file"])]
    pub transport: String,
    /// VDDK's directory (vddk transport).
    #[arg(default = "/usr/lib/vmware-vix-disklib", type = "path")]
    pub libdir: String,
    /// VDDK transport modes, e.g. `nbdssl` or `file:nbdssl:nbd`.
    pub transports: Option<String>,
    #[arg(default = "fastlz", choices = ["none", "zlib", "fastlz", "skipz"])]
    pub compression: String,
    /// VDDK's settings (vddk transport), for the plugin's `config=` file.
    pub vddk_config: Option<BTreeMap<String, Value>>,
    /// Where the datastores are mounted (file transport): one sub-directory per datastore.
    #[arg(type = "path")]
    pub localdiskpath: Option<String>,
    /// Data directory on the conversion host (made 0700 when absent; refused when another user can write to it); the VM's lock, log and progress file go in `<osmdatadir>/<safe vm name or vm>-<vm uuid>/`.
    #[arg(default = "/var/lib/os-migrate", type = "path", aliases = ["os_migrate_vmw_data_dir"])]
    pub osmdatadir: String,
    #[arg(type = "path")]
    pub progress_file: Option<String>,
    pub volumeaz: Option<String>,
    pub volumetype: Option<String>,
    /// `[{vmware_datastore: ds, openstack_type: type}]` (or a dict datastore → type).
    pub volume_type_mapping: Option<Value>,
    /// New volumes read as zeroes: zero runs are not written.
    #[arg(default = false)]
    pub assumezero: bool,
    /// Warm migration: copy while the VM runs, then only the changes.
    #[arg(default = false)]
    pub cbtsync: bool,
    /// With cbtsync: power the VM off and copy the last changes.
    #[arg(default = false)]
    pub cutover: bool,
    /// Turn changed block tracking on when a warm migration finds it off.
    #[arg(default = false)]
    pub enable_cbt: bool,
    #[arg(default = false)]
    pub skipconversion: bool,
    #[arg(default = false)]
    pub multidiskfs: bool,
    #[arg(type = "path")]
    pub runscript: Option<String>,
    #[arg(type = "path", aliases = ["firstboot"])]
    pub bootscript: Option<String>,
    pub extraopts: Option<String>,
    #[arg(default = false, aliases = ["debug_mode"])]
    pub debug: bool,
    /// The conversion host's Nova server id; else the metadata service, else `convhostname`.
    pub instanceuuid: Option<String>,
    pub convhostname: Option<String>,
    #[arg(default = "http://169.254.169.254/openstack/latest/meta_data.json")]
    pub metadata_url: String,
    #[arg(default = 2)]
    pub disk_parallelism: u32,
    /// Seconds for a guest shutdown before a hard power-off.
    #[arg(default = 300)]
    pub poweroff_timeout: u64,
    /// Seconds to wait for Cinder and Nova (volume available, attached, detached) and for each
    /// vSphere task (snapshot created or removed, power on or off).
    #[arg(default = 3600)]
    pub timeout: u64,
    /// Seconds one NBD wait on the source may take (negotiation, one request) before the copy
    /// reconnects once and then fails.
    #[arg(default = 120)]
    pub nbd_timeout: u64,
    /// Power a VM that was running when the run began on again when the run fails or is
    /// cancelled after powering it off.
    #[arg(default = true)]
    pub restore_source_power_on_failure: bool,
    /// A file the caller keeps touching while it waits (the roles do); the run cancels itself,
    /// cleaning up as on SIGTERM, once it is older than lease_timeout or removed. It must exist
    /// when the run starts; the run writes its process id into it.
    #[arg(type = "path")]
    pub lease_file: Option<String>,
    /// Seconds without a renewal of lease_file before the run cancels itself.
    #[arg(default = 20)]
    pub lease_timeout: u64,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(
        default = false,
        unused = "nbdkit always listens on a private Unix socket"
    )]
    pub usesocks: bool,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(unused = "the module always waits for the migration to end")]
    pub wait: Option<bool>,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(
        default = false,
        unused = "importing existing backend volumes (Cinder manage) is not supported"
    )]
    pub externalvolume: bool,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(unused = "importing existing backend volumes (Cinder manage) is not supported")]
    pub volumename: Option<String>,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(unused = "importing existing backend volumes (Cinder manage) is not supported")]
    pub hostpool: Option<String>,
}

impl Module for Migrate {
    const NAME: &'static str = "migrate";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        if args.cutover && !args.cbtsync {
            ctx.warn(
                "cutover: true without cbtsync: true is a cold migration (the VM is powered off and \
                 copied whole); set cbtsync: true for the cutover of a warm migration",
            );
        }
        if args.vddk_config.as_ref().is_some_and(|c| !c.is_empty()) && args.transport != "vddk" {
            ctx.warn(format!(
                "vddk_config is for the vddk transport; transport {} does not use it",
                args.transport
            ));
        }
        if args.nbd_timeout == 0 {
            bail!(
                "argument 'nbd_timeout': 0 would let a stalled source hang the run; give seconds (default 120)"
            );
        }
        if args.lease_file.is_some() && args.lease_timeout == 0 {
            bail!(
                "argument 'lease_timeout': 0 would cancel the run at once; give seconds (default 20)"
            );
        }
        let connection = args.vsphere.connection()?;
        let tls = connection.tls_mode()?;
        let mut request = Request {
            vm_name: args.vmname.clone(),
            folder: Some(args.vddkpath.clone()),
            phase: Phase::from_flags(args.cbtsync, args.cutover),
            enable_cbt: args.enable_cbt,
            transport: Transport::File {
                root: PathBuf::new(),
            },
            conversion: (!args.skipconversion)
                .then(|| -> anyhow::Result<ConversionOptions> {
                    Ok(ConversionOptions {
                        run_script: args.runscript.as_ref().map(PathBuf::from),
                        firstboot_script: args.bootscript.as_ref().map(PathBuf::from),
                        extra_args: migrate::conversion::split_args(
                            args.extraopts.as_deref().unwrap_or(""),
                        )
                        .map_err(|e| anyhow!("argument 'extraopts' {e}"))?,
                        multi_disk: args.multidiskfs,
                        debug: args.debug,
                    })
                })
                .transpose()?,
            conversion_host: match args
                .instanceuuid
                .as_deref()
                .filter(|u| !u.trim().is_empty())
            {
                Some(uuid) => ConversionHostId::Uuid(uuid.trim().to_owned()),
                None => ConversionHostId::Discover {
                    metadata_url: args.metadata_url.clone(),
                    server_name: args.convhostname.clone().filter(|n| !n.trim().is_empty()),
                },
            },
            volume_type: args.volumetype.clone().filter(|t| !t.is_empty()),
            volume_type_mapping: volume_type_mapping(args.volume_type_mapping.as_ref())?,
            availability_zone: args.volumeaz.clone().filter(|z| !z.is_empty()),
            assume_zero: args.assumezero,
            disk_parallelism: args.disk_parallelism.clamp(1, 16) as usize,
            poweroff_timeout: Duration::from_secs(args.poweroff_timeout),
            data_root: PathBuf::from(&args.osmdatadir),
            progress_file: args.progress_file.as_ref().map(PathBuf::from),
            nbdkit_verbose: args.debug,
            cloud_timeout: Duration::from_secs(args.timeout),
            nbd_timeout: Duration::from_secs(args.nbd_timeout),
            check_mode: ctx.check_mode,
            restore_source_power: args.restore_source_power_on_failure,
            lease: args.lease_file.as_ref().map(|path| migrate::lease::Lease {
                path: PathBuf::from(path),
                timeout: Duration::from_secs(args.lease_timeout),
            }),
        };
        let cancel = copy_engine::cancel_on_signals().context("cannot watch for SIGTERM")?;
        let report = super::block_on(async {
            let client = connection.connect().await?;
            request.transport = transport(&args, &tls, &client).await?;
            let cloud = connect(ctx, "dst_cloud", args.dst_cloud.as_ref()).await?;
            let password = SecretValue::new(args.vsphere.password.expose());
            let vsphere = migrate::Vsphere {
                client: &client,
                server: client.url().host_str().unwrap_or(&args.vsphere.server),
                user: &args.vsphere.user,
                password: &password,
            };
            let report = migrate::migrate(&vsphere, &cloud, &request, cancel).await;
            logout(&client).await;
            Ok::<_, anyhow::Error>(report)
        })??;
        let source_power_restored = report.source_power_restored();
        let files = report.files;
        let timeline = json!(report.timeline);
        let outcome = match report.result {
            Ok(outcome) => outcome,
            // The role fetches the log named here and shows its end. A run refused before it
            // began wrote nothing: then there is no log to name.
            Err(e) => {
                let log = files.as_ref().map(|f| &f.log_file).filter(|l| l.exists());
                let mut response = Response::failed(match log {
                    Some(log) => format!(
                        "migrating VM {:?} failed: {e:#}; the log is {}",
                        args.vmname,
                        log.display()
                    ),
                    None => format!("migrating VM {:?} failed: {e:#}", args.vmname),
                })
                .with("source_power_restored", json!(source_power_restored))
                .with("timeline", timeline);
                if let Some(log) = log {
                    response = response.with("log_file", json!(log));
                }
                if let Some(progress) = files
                    .as_ref()
                    .map(|f| &f.progress_file)
                    .filter(|p| p.exists())
                {
                    response = response.with("progress_file", json!(progress));
                }
                return Ok(response);
            }
        };
        for note in &outcome.notes {
            ctx.warn(note.clone());
        }
        let msg = match (outcome.changed, ctx.check_mode) {
            (false, _) => format!(
                "VM {:?}: the volumes already hold the final disks",
                outcome.vm
            ),
            (true, true) => format!(
                "VM {:?}: would migrate {} disk(s)",
                outcome.vm,
                outcome.disks.len()
            ),
            (true, false) => format!(
                "VM {:?}: {:?} done, {} disk(s), {} bytes copied in {:.1} s",
                outcome.vm,
                outcome.phase,
                outcome.disks.len(),
                outcome.disks.iter().map(|d| d.bytes_copied).sum::<u64>(),
                outcome.seconds
            ),
        };
        Ok(Response::new()
            .changed(outcome.changed)
            .msg(msg)
            .with("id", json!(outcome.volume_ids))
            .with("disks", json!(outcome.disks))
            .with("converted", json!(outcome.converted))
            .with("conversion_ran", json!(outcome.conversion_ran))
            .with("vm", json!(outcome.vm_moref))
            .with("phase", json!(outcome.phase))
            .with("power_off", json!(outcome.power_off))
            .with("source_power_restored", json!(false))
            .with("seconds", json!(outcome.seconds))
            .with("timeline", timeline)
            .with(
                "progress_file",
                json!(files.as_ref().map(|f| &f.progress_file)),
            )
            .with("log_file", json!(files.as_ref().map(|f| &f.log_file))))
    }
}

async fn transport(
    args: &Args,
    tls: &vsphere::TlsMode,
    client: &vsphere::Client,
) -> anyhow::Result<Transport> {
    use conversion_host::nbdkit::CurlTls;
    Ok(match args.transport.as_str() {
        "vddk" => Transport::Vddk {
            libdir: PathBuf::from(&args.libdir),
            // The certificate the vSphere session has just accepted (pin, CA or, when asked,
            // none): VDDK logs in with the password only to a server that shows the same one.
            thumbprint: client.server_certificate()?.sha1.to_string(),
            transports: args.transports.clone(),
            compression: Some(args.compression.clone()),
            config: vddk_config(args.vddk_config.as_ref())?,
        },
        "https" => Transport::Https {
            tls: match tls {
                vsphere::TlsMode::Verify => CurlTls::SystemCas,
                vsphere::TlsMode::CaFile(path) => CurlTls::CaFile(path.clone()),
                vsphere::TlsMode::Insecure => CurlTls::Off,
                vsphere::TlsMode::Thumbprint(_) => {
                    let certificate = client.server_certificate()?;
                    let host = client.url().host_str().unwrap_or_default();
                    // curl (nbdkit 1.32) always checks the name and cannot be told otherwise.
                    if !certificate.names_host(host) {
                        bail!(
                            "argument 'transport': the https transport checks the pinned certificate \
                             ({}) with curl, which also requires it to name the server, and it does \
                             not name {host:?}: give 'server' as a name the certificate holds, or use \
                             transport vddk",
                            certificate.sha1
                        );
                    }
                    CurlTls::Certificate(certificate.to_pem())
                }
            },
        },
        "file" => Transport::File {
            root: PathBuf::from(args.localdiskpath.as_deref().context(
                "transport file needs localdiskpath: the directory where the datastores are mounted",
            )?),
        },
        other => bail!("argument 'transport': unknown transport {other:?}"),
    })
}

fn vddk_config(
    value: Option<&BTreeMap<String, Value>>,
) -> anyhow::Result<conversion_host::nbdkit::VddkConfig> {
    let mut settings = BTreeMap::new();
    for (key, value) in value.into_iter().flatten() {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => bail!(
                "argument 'vddk_config': the value of {key} must be a string or a number (VDDK \
                 reads `key=value` lines)"
            ),
        };
        settings.insert(key.clone(), text);
    }
    conversion_host::nbdkit::VddkConfig::new(settings)
        .map_err(|e| anyhow!("argument 'vddk_config': {e}"))
}

pub(crate) fn volume_type_mapping(
    value: Option<&Value>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut mapping = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (datastore, kind) in map {
                let kind = kind.as_str().with_context(|| {
                    format!("argument 'volume_type_mapping': the type of datastore {datastore:?} must be a string")
                })?;
                mapping.insert(datastore.clone(), kind.to_owned());
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = |name: &str| {
                    item.get(name).and_then(Value::as_str).with_context(|| {
                        format!(
                            "argument 'volume_type_mapping': item {i} needs `vmware_datastore` and `openstack_type` strings"
                        )
                    })
                };
                mapping.insert(
                    field("vmware_datastore")?.to_owned(),
                    field("openstack_type")?.to_owned(),
                );
            }
        }
        Some(_) => bail!(
            "argument 'volume_type_mapping' must be a list of {{vmware_datastore, openstack_type}}"
        ),
    }
    Ok(mapping)
}
