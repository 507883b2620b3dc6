//! Where nbdkit reads one frozen disk from, for each transport.

use std::path::{Component, Path, PathBuf};

use conversion_host::nbdkit::{HttpsSource, SecretValue, Source, VddkSource};
use vsphere::datastore::{DatastorePath, datastore_file_url};
use vsphere::device::Disk;
use vsphere::{Client, MoRef, VirtualMachine};

use crate::error::{Error, Result};
use crate::request::Transport;

/// The vSphere facts a source needs besides the disk; the password only for VDDK.
pub struct SourceContext<'a> {
    pub client: &'a Client,
    pub vm: &'a VirtualMachine,
    pub snapshot: &'a MoRef,
    pub server: &'a str,
    pub user: &'a str,
    pub password: &'a SecretValue,
}

/// The source for `frozen`, the disk as the snapshot's own configuration names it. For
/// VDDK, nbdkit opens it through the snapshot; https and file read its bytes directly: in
/// vSphere that file is the disk as it was at the snapshot (writes go to a new delta since), and
/// the test bed's simulator keeps a frozen copy under that name.
pub fn source_for(ctx: &SourceContext<'_>, transport: &Transport, frozen: &Disk) -> Result<Source> {
    let file = frozen.file_name.clone().ok_or_else(|| {
        Error::Refused(format!(
            "disk {} ({}) has no backing file (an RDM or a disk not on a datastore); it cannot be copied",
            frozen.key, frozen.label
        ))
    })?;
    let parsed = || {
        DatastorePath::parse(&file).ok_or_else(|| {
            Error::Refused(format!(
                "disk {} backing {file:?} is not a datastore path `[datastore] dir/file.vmdk`",
                frozen.key
            ))
        })
    };
    Ok(match transport {
        Transport::Vddk {
            libdir,
            thumbprint,
            transports,
            compression,
            config,
        } => Source::Vddk(VddkSource {
            server: ctx.server.to_owned(),
            port: ctx.client.url().port(),
            user: ctx.user.to_owned(),
            password: ctx.password.clone(),
            thumbprint: thumbprint.clone(),
            libdir: libdir.clone(),
            vm_moref: ctx.vm.moref.value.clone(),
            snapshot_moref: Some(ctx.snapshot.value.clone()),
            transports: transports.clone(),
            compression: compression.clone(),
            file,
            config: config.clone(),
        }),
        Transport::Https { tls } => {
            let flat = parsed()?.flat_file();
            let datacenter = ctx.vm.location.datacenter_path.as_deref().ok_or_else(|| {
                Error::Refused(format!(
                    "VM {} is in no datacenter; the https transport needs one",
                    ctx.vm.name
                ))
            })?;
            let url = datastore_file_url(ctx.client.url(), datacenter, &flat)
                .map_err(|e| Error::Refused(format!("no datastore URL for {flat}: {e}")))?;
            Source::Https(HttpsSource {
                url: url.to_string(),
                cookie: ctx
                    .client
                    .session_cookie()
                    .map(|c| SecretValue::new(c.as_header())),
                tls: tls.clone(),
            })
        }
        Transport::File { root } => {
            let flat = parsed()?.flat_file();
            refuse_escapes(frozen.key, &flat)?;
            let per_datastore: PathBuf = root.join(&flat.datastore).join(&flat.path);
            let path = if per_datastore.exists() {
                per_datastore
            } else {
                root.join(&flat.path)
            };
            if !path.exists() {
                return Err(Error::Refused(format!(
                    "disk {} is not at {} nor {} (localdiskpath: the directory where the \
                     datastores are mounted, one sub-directory per datastore)",
                    frozen.key,
                    root.join(&flat.datastore).join(&flat.path).display(),
                    root.join(&flat.path).display()
                )));
            }
            Source::File { path }
        }
    })
}

/// The file transport joins what vSphere reports to `localdiskpath`: a datastore name or path
/// that is absolute or climbs (`..`) would read a file outside the mounted datastores.
fn refuse_escapes(key: i32, file: &DatastorePath) -> Result<()> {
    let plain = |text: &str| {
        !text.is_empty()
            && !text.contains('\0')
            && Path::new(text)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    };
    let one_name =
        !file.datastore.contains('/') && Path::new(&file.datastore).components().count() == 1;
    if plain(&file.datastore) && one_name && plain(&file.path) {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "disk {key}: vSphere reports the backing file {file}, which is not a plain path inside a \
         datastore (empty, absolute or with `..`); the file transport refuses to read it"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_paths_that_leave_the_datastore_are_refused() {
        for good in [
            "[ds1] vm/vm-flat.vmdk",
            "[ds 1] a/./b.vmdk",
            "[ds1] a..b/c..vmdk",
        ] {
            let path = DatastorePath::parse(good).unwrap();
            assert!(refuse_escapes(2000, &path).is_ok(), "{good}");
        }
        for bad in [
            "[ds1] ../other/x.vmdk",
            "[ds1] vm/../../etc/shadow",
            "[ds1] vm/..",
            "[..] vm/x.vmdk",
            "[ds/../x] vm/x.vmdk",
            "[/etc] shadow",
            "[ds1] ",
        ] {
            let path = DatastorePath::parse(bad).unwrap();
            let err = refuse_escapes(2000, &path).unwrap_err().to_string();
            assert!(
                err.contains("disk 2000") && err.contains("refuses"),
                "{bad}: {err}"
            );
        }
    }
}
