//! Making the copied guest boot on KVM: `virt-v2v-in-place` on the attached volumes (virtio
//! drivers, initramfs, bootloader, guest tools removal).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use conversion_host::private_files::{self, Open};

use crate::error::{Error, Result};
use crate::request::ConversionOptions;

pub const PROGRAM: &str = "virt-v2v-in-place";

/// The program on PATH, or where Red Hat's packaging leaves it (`/usr/libexec`).
pub fn find_program() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(PROGRAM))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let libexec = PathBuf::from("/usr/libexec").join(PROGRAM);
        libexec.is_file().then_some(libexec)
    })
}

/// Checks before anything is changed that a conversion can run.
pub fn preflight(options: &ConversionOptions) -> Result<PathBuf> {
    let program = find_program().ok_or_else(|| {
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
    Ok(program)
}

/// A disk for the conversion: its device and the bus the guest knew it on.
pub struct ConvertDisk {
    pub device: PathBuf,
    /// `scsi`, `sata`, `ide`, `virtio` (NVMe and unknown controllers become virtio).
    pub bus: &'static str,
}

pub fn convert(
    program: &Path,
    vm_name: &str,
    linux_guest: bool,
    disks: &[ConvertDisk],
    options: &ConversionOptions,
    work_dir: &Path,
    log: &Path,
) -> Result<()> {
    let mut command = Command::new(program);
    conversion_host::child_env::restrict(&mut command).env("LIBGUESTFS_BACKEND", "direct");
    if options.debug {
        command
            .env("LIBGUESTFS_DEBUG", "1")
            .env("LIBGUESTFS_TRACE", "1");
    }
    if linux_guest && let Some(script) = &options.run_script {
        command.arg("--run").arg(script);
    }
    if let Some(script) = &options.firstboot_script {
        command.arg("--firstboot").arg(script);
    }
    command.args(&options.extra_args);
    let xml_path = work_dir.join("virt-v2v-domain.xml");
    if options.multi_disk {
        private_files::open_private(&xml_path, Open::Truncate)
            .and_then(|mut file| file.write_all(libvirt_xml(vm_name, disks).as_bytes()))
            .map_err(|cause| Error::Io {
                what: format!("cannot write {}", xml_path.display()),
                cause,
            })?;
        command.arg("-i").arg("libvirtxml").arg(&xml_path);
    } else {
        let boot = disks
            .first()
            .ok_or_else(|| Error::Conversion("no disk to convert".into()))?;
        command.arg("-i").arg("disk").arg(&boot.device);
    }
    let log_file = private_files::open_private(log, Open::Append).map_err(|cause| Error::Io {
        what: format!("cannot open {}", log.display()),
        cause,
    })?;
    let log_err = log_file.try_clone().map_err(|cause| Error::Io {
        what: "cannot duplicate the log descriptor".into(),
        cause,
    })?;
    tracing::info!(?command, "converting the guest");
    let status = command
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .status()
        .map_err(|cause| Error::Io {
            what: format!("cannot run {}", program.display()),
            cause,
        })?;
    let _ = std::fs::remove_file(&xml_path);
    if !status.success() {
        return Err(Error::Conversion(format!(
            "{PROGRAM} failed ({status}); its output is in {}",
            log.display()
        )));
    }
    Ok(())
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
