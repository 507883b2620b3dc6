//! Making the copied guest boot on KVM: `virt-v2v-in-place` on the attached volumes (virtio
//! drivers, initramfs, bootloader, guest tools removal).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conversion_host::private_files::{self, Open};
use conversion_host::tools::PROBE_TIMEOUT;

use crate::error::{Error, Result};
use crate::request::ConversionOptions;

pub const PROGRAM: &str = "virt-v2v-in-place";

/// `name` on PATH, or where Red Hat's packaging leaves it (`/usr/libexec`).
fn find_program(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let libexec = PathBuf::from("/usr/libexec").join(name);
        libexec.is_file().then_some(libexec)
    })
}

/// The conversion tools this host has, as found before anything changed.
#[derive(Debug, Clone)]
pub struct Converter {
    pub program: PathBuf,
    /// Whether `program` takes `--run`/`--firstboot`: virt-v2v-in-place before 2.3 (Debian 12
    /// ships 2.2) has neither.
    takes_scripts: bool,
    /// `virt-customize`, which runs the scripts after the conversion when `program` cannot.
    customize: Option<PathBuf>,
}

const CUSTOMIZE_PROGRAM: &str = "virt-customize";

/// Checks before anything is changed that a conversion can run, and how the scripts get in.
pub fn preflight(options: &ConversionOptions) -> Result<Converter> {
    let program = find_program(PROGRAM).ok_or_else(|| {
        Error::Refused(format!(
            "{PROGRAM} is not installed on this conversion host (the conversion_host role installs \
             virt-v2v); install it, or set skipconversion: true to copy the disks without converting"
        ))
    })?;
    for (arg, script) in [
        ("runscript", &options.run_script),
        ("bootscript", &options.firstboot_script),
    ] {
        if let Some(script) = script
            && !script.is_file()
        {
            return Err(Error::Refused(format!(
                "argument '{arg}': {} does not exist on the conversion host",
                script.display()
            )));
        }
    }
    let takes_scripts = takes_script_options(&program)?;
    let customize = (!takes_scripts)
        .then(|| find_program(CUSTOMIZE_PROGRAM))
        .flatten();
    let has_scripts = options.run_script.is_some() || options.firstboot_script.is_some();
    if has_scripts && !takes_scripts && customize.is_none() {
        return Err(Error::Refused(format!(
            "argument 'runscript'/'bootscript': this conversion host's {PROGRAM} has no \
             --run/--firstboot (virt-v2v before 2.3) and {CUSTOMIZE_PROGRAM} is not installed; \
             install libguestfs-tools (import_workloads_boot_script_path and \
             import_workloads_run_script_path need one of them), or drop the scripts"
        )));
    }
    Ok(Converter {
        program,
        takes_scripts,
        customize,
    })
}

/// Whether this virt-v2v-in-place takes `--firstboot`/`--run` itself: its `--help` lists them
/// from virt-v2v 2.3 on.
fn takes_script_options(program: &Path) -> Result<bool> {
    let mut command = Command::new(program);
    conversion_host::child_env::restrict(&mut command).arg("--help");
    let help =
        conversion_host::tools::output_within(&mut command, PROBE_TIMEOUT).map_err(|cause| {
            Error::Io {
                what: format!("cannot run {} --help", program.display()),
                cause,
            }
        })?;
    let help = String::from_utf8_lossy(&help.stdout);
    Ok(help.contains("--firstboot"))
}

/// A disk for the conversion: its device and the bus the guest knew it on.
pub struct ConvertDisk {
    pub device: PathBuf,
    /// `scsi`, `sata`, `ide`, `virtio` (NVMe and unknown controllers become virtio).
    pub bus: &'static str,
}

/// The guest being converted.
pub struct Guest<'a> {
    pub vm_name: &'a str,
    pub linux: bool,
    /// For a Linux guest: the script that keeps its interface names (guest_network.rs).
    pub network_script: Option<String>,
}

/// Converts the guest on `disks`; returns a note when the guest's interface names could not be
/// kept. A cancel (signal, or a failure elsewhere) stops the tools within seconds: SIGTERM to
/// their process group (libguestfs's appliance included), SIGKILL after [`STOP_GRACE`].
pub fn convert(
    converter: &Converter,
    cancel: &copy_engine::Cancel,
    guest: &Guest<'_>,
    disks: &[ConvertDisk],
    options: &ConversionOptions,
    work_dir: &Path,
    log: &Path,
) -> Result<Option<String>> {
    let program = &converter.program;
    let mut command = libguestfs_command(program, options);
    let network_path = work_dir.join("keep-nic-names.sh");
    let mut note = None;
    let network_script = match guest.network_script.as_deref().filter(|_| guest.linux) {
        Some(_) if !converter.takes_scripts && converter.customize.is_none() => {
            note = Some(format!(
                "the guest's interface names were not kept: this conversion host's {PROGRAM} \
                 has no --run and {CUSTOMIZE_PROGRAM} is not installed (install libguestfs-tools); \
                 a NIC configured by name may come up unconfigured"
            ));
            None
        }
        Some(text) => {
            private_files::open_private(&network_path, Open::Truncate)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .map_err(|cause| Error::Io {
                    what: format!("cannot write {}", network_path.display()),
                    cause,
                })?;
            Some(network_path.as_path())
        }
        None => None,
    };
    let run_script = options.run_script.as_ref().filter(|_| guest.linux);
    let mut scripts = Vec::new();
    // Ours first: the user's script then sees the names the guest's configuration uses.
    for script in network_script
        .into_iter()
        .chain(run_script.map(PathBuf::as_path))
    {
        scripts.extend([std::ffi::OsStr::new("--run"), script.as_os_str()]);
    }
    if let Some(script) = &options.firstboot_script {
        scripts.extend([std::ffi::OsStr::new("--firstboot"), script.as_os_str()]);
    }
    if converter.takes_scripts {
        command.args(&scripts);
    }
    command.args(&options.extra_args);
    let xml_path = work_dir.join("virt-v2v-domain.xml");
    let converted: &[ConvertDisk] = if options.multi_disk {
        private_files::open_private(&xml_path, Open::Truncate)
            .and_then(|mut file| file.write_all(libvirt_xml(guest.vm_name, disks).as_bytes()))
            .map_err(|cause| Error::Io {
                what: format!("cannot write {}", xml_path.display()),
                cause,
            })?;
        command.arg("-i").arg("libvirtxml").arg(&xml_path);
        disks
    } else {
        let boot = disks
            .first()
            .ok_or_else(|| Error::Conversion("no disk to convert".into()))?;
        command.arg("-i").arg("disk").arg(&boot.device);
        std::slice::from_ref(boot)
    };
    let mut result = run_logged(&mut command, program, log, cancel);
    let _ = std::fs::remove_file(&xml_path);
    if result.is_ok()
        && !converter.takes_scripts
        && let Some(customize) = &converter.customize
        && !scripts.is_empty()
    {
        let mut command = libguestfs_command(customize, options);
        command.args(["--format", "raw"]);
        for disk in converted {
            command.arg("-a").arg(&disk.device);
        }
        command.args(&scripts);
        result = run_logged(&mut command, customize, log, cancel);
    }
    let _ = std::fs::remove_file(&network_path);
    result.map(|()| note)
}

/// A libguestfs tool with an allow-listed environment and the direct backend (no libvirtd on a
/// conversion host).
fn libguestfs_command(program: &Path, options: &ConversionOptions) -> Command {
    let mut command = Command::new(program);
    conversion_host::child_env::restrict(&mut command).env("LIBGUESTFS_BACKEND", "direct");
    if options.debug {
        command
            .env("LIBGUESTFS_DEBUG", "1")
            .env("LIBGUESTFS_TRACE", "1");
    }
    command
}

/// How long a cancelled tool gets to clean up (its appliance, its overlays) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs `command` in its own process group with its output appended to `log`; an exit other
/// than 0 is a conversion error, a cancel stops the whole group.
fn run_logged(
    command: &mut Command,
    program: &Path,
    log: &Path,
    cancel: &copy_engine::Cancel,
) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let log_file = private_files::open_private(log, Open::Append).map_err(|cause| Error::Io {
        what: format!("cannot open {}", log.display()),
        cause,
    })?;
    let log_err = log_file.try_clone().map_err(|cause| Error::Io {
        what: "cannot duplicate the log descriptor".into(),
        cause,
    })?;
    tracing::info!(?command, "converting the guest");
    let spawn_error = |cause| Error::Io {
        what: format!("cannot run {}", program.display()),
        cause,
    };
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(spawn_error)?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(spawn_error)? {
            break status;
        }
        if cancel.is_cancelled() {
            stop_group(&mut child);
            return Err(Error::Cancelled);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        let name = program.file_name().unwrap_or(program.as_os_str());
        return Err(Error::Conversion(format!(
            "{} failed ({status}); its output is in {}",
            name.to_string_lossy(),
            log.display()
        )));
    }
    Ok(())
}

/// SIGTERM to the child's process group, SIGKILL to it after [`STOP_GRACE`]; reaps the child.
fn stop_group(child: &mut std::process::Child) {
    let Ok(group) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the group the child leads (process_group(0));
    // no memory is involved.
    unsafe { libc::kill(-group, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The group may outlive its leader (the appliance's qemu): it goes too.
    // SAFETY: as above.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let _ = child.wait();
}

fn libvirt_xml(vm_name: &str, disks: &[ConvertDisk]) -> String {
    let mut xml = String::new();
    let _ = writeln!(
        xml,
        "<domain type='kvm'>\n  <name>{}</name>\n  <memory unit='GiB'>2</memory>\n  <os><type>hvm</type></os>\n  <devices>",
        escape(vm_name)
    );
    let mut per_bus: std::collections::BTreeMap<&str, u32> = Default::default();
    for disk in disks {
        let index = per_bus.entry(disk.bus).or_default();
        let prefix = match disk.bus {
            "virtio" => "vd",
            "ide" => "hd",
            _ => "sd",
        };
        let dev = format!("{prefix}{}", disk_letters(*index));
        *index += 1;
        let _ = writeln!(
            xml,
            "    <disk type='block' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source dev='{}'/>\n      <target dev='{dev}' bus='{}'/>\n    </disk>",
            escape(&disk.device.display().to_string()),
            disk.bus
        );
    }
    xml.push_str("  </devices>\n</domain>\n");
    xml
}

/// The kernel's disk suffix of the `index`-th disk on a bus: `a`..`z`, `aa`..`zz`, `aaa`…, so
/// every disk of a VM with more than 26 on one bus keeps a distinct name.
fn disk_letters(index: u32) -> String {
    let mut letters = Vec::new();
    let mut n = index;
    loop {
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    letters.iter().rev().map(|&b| b as char).collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// Splits `extraopts` like a shell would, without expansions: quotes group, `\` escapes.
pub fn split_args(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(next) => {
                    current.push(next);
                    in_arg = true;
                }
                None => return Err("ends with a lone backslash".into()),
            },
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_arg = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if quote.is_some() {
        return Err("has an unclosed quote".into());
    }
    if in_arg {
        args.push(current);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in tool that writes its arguments, one per line, to `<dir>/argv`.
    fn recording_tool(dir: &Path) -> PathBuf {
        let program = dir.join("virt-v2v-in-place");
        let text = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}/argv\n",
            dir.display()
        );
        std::fs::write(&program, text).unwrap();
        std::fs::set_permissions(
            &program,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        program
    }

    fn converted_with(linux: bool) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let converter = Converter {
            program: recording_tool(dir.path()),
            takes_scripts: true,
            customize: None,
        };
        let run = dir.path().join("run.sh");
        std::fs::write(&run, "#!/bin/sh\n").unwrap();
        let options = ConversionOptions {
            run_script: Some(run),
            firstboot_script: Some(dir.path().join("firstboot.ps1")),
            extra_args: Vec::new(),
            multi_disk: false,
            debug: false,
        };
        let guest = Guest {
            vm_name: "vm",
            linux,
            network_script: Some("#!/bin/sh\n".into()),
        };
        let disks = [ConvertDisk {
            device: dir.path().join("disk"),
            bus: "scsi",
        }];
        let log = dir.path().join("log");
        convert(
            &converter,
            &copy_engine::Cancel::new(),
            &guest,
            &disks,
            &options,
            dir.path(),
            &log,
        )
        .unwrap();
        let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
        let dir = dir.path().display().to_string();
        argv.lines().map(|l| l.replace(&dir, "D")).collect()
    }

    #[test]
    fn a_windows_guest_gets_its_firstboot_script_but_no_linux_scripts() {
        assert_eq!(
            converted_with(false),
            ["--firstboot", "D/firstboot.ps1", "-i", "disk", "D/disk"]
        );
        assert_eq!(
            converted_with(true),
            [
                "--run",
                "D/keep-nic-names.sh",
                "--run",
                "D/run.sh",
                "--firstboot",
                "D/firstboot.ps1",
                "-i",
                "disk",
                "D/disk"
            ]
        );
    }

    #[test]
    fn extra_options_split_like_a_shell() {
        assert_eq!(
            split_args(r#"--root /dev/sda1 --key "ALL:file:/k y" 'a b'"#).unwrap(),
            ["--root", "/dev/sda1", "--key", "ALL:file:/k y", "a b"]
        );
        assert_eq!(split_args("  ").unwrap(), Vec::<String>::new());
        assert!(split_args("'open").is_err());
    }

    #[test]
    fn multi_disk_xml_names_each_device_on_its_bus() {
        let xml = libvirt_xml(
            "a<b",
            &[
                ConvertDisk {
                    device: "/dev/vdb".into(),
                    bus: "scsi",
                },
                ConvertDisk {
                    device: "/dev/vdc".into(),
                    bus: "scsi",
                },
                ConvertDisk {
                    device: "/dev/vdd".into(),
                    bus: "virtio",
                },
            ],
        );
        assert!(xml.contains("<name>a&lt;b</name>"));
        assert!(xml.contains("<source dev='/dev/vdb'/>\n      <target dev='sda' bus='scsi'/>"));
        assert!(xml.contains("<target dev='sdb' bus='scsi'/>"));
        assert!(xml.contains("<target dev='vda' bus='virtio'/>"));
    }

    #[test]
    fn device_names_stay_distinct_past_26_disks_on_a_bus() {
        for (index, name) in [
            (0, "a"),
            (25, "z"),
            (26, "aa"),
            (27, "ab"),
            (51, "az"),
            (52, "ba"),
        ] {
            assert_eq!(disk_letters(index), name);
        }
        assert_eq!(disk_letters(701), "zz");
        assert_eq!(disk_letters(702), "aaa");
        let disks: Vec<ConvertDisk> = (0..60)
            .map(|i| ConvertDisk {
                device: format!("/dev/disk{i}").into(),
                bus: "scsi",
            })
            .collect();
        let xml = libvirt_xml("many", &disks);
        let targets: std::collections::BTreeSet<&str> = xml
            .match_indices("<target dev='")
            .map(|(at, m)| {
                let rest = &xml[at + m.len()..];
                &rest[..rest.find('\'').unwrap()]
            })
            .collect();
        assert_eq!(targets.len(), 60, "{xml}");
        assert!(
            targets.contains("sdaa") && targets.contains("sdbh"),
            "{xml}"
        );
    }
}
