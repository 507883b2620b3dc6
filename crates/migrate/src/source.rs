//! Where nbdkit reads one frozen disk from, for each transport.

use std::path::PathBuf;

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
