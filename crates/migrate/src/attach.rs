//! Attaching a volume to the conversion host and finding its block device; detaching it.

use std::sync::Arc;
use std::time::Duration;

use conversion_host::device::{AttachedDevice, Resolver};
use openstack::Client;
use openstack::nova::volume_attachments::{self, AttachOpts};

use crate::cleanup::{Cleanup, Undo};
use crate::error::{Result, Step};

/// Nova and udev need a moment after Cinder says in-use; the device appears within this.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Attached {
    pub device: AttachedDevice,
    pub undo: Undo,
}

/// Attaches (or finds attached, after a crashed run) and returns the device, checked to hold at
/// least `min_size` bytes. Registered for detaching on every exit path.
pub async fn attach(
    cloud: &Client,
    cleanup: &Arc<Cleanup>,
    server_id: &str,
    volume_id: &str,
    min_size: u64,
    timeout: Duration,
) -> Result<Attached> {
    let volume = openstack::cinder::volumes::get(cloud, volume_id)
        .await
        .step(|| format!("cannot read volume {volume_id}"))?;
    let undo = Undo::Detach {
        server_id: server_id.to_owned(),
        volume_id: volume_id.to_owned(),
    };
    if !volume.attachments.iter().any(|a| a.server_id == server_id) {
        let opts = AttachOpts {
            volume_id: volume_id.to_owned(),
            device: None,
            tag: None,
        };
        volume_attachments::attach(cloud, server_id, &opts)
            .await
            .step(|| {
                format!("cannot attach volume {volume_id} to the conversion host {server_id}")
            })?;
    }
    cleanup.register(undo.clone());
    volume_attachments::wait_attached(cloud, server_id, volume_id, timeout)
        .await
        .step(|| format!("volume {volume_id}"))?;
    let resolver = Resolver::from_env();
    let volume_id_owned = volume_id.to_owned();
    let device = tokio::task::spawn_blocking(move || {
        resolver.resolve(&volume_id_owned, min_size, DEVICE_TIMEOUT)
    })
    .await
    .map_err(|e| crate::error::Error::Refused(format!("device lookup stopped: {e}")))?
    .step(|| format!("cannot find the block device of volume {volume_id}"))?;
    Ok(Attached { device, undo })
}

/// Detaches and waits until Cinder shows the volume free of this server.
pub async fn detach(
    cloud: &Client,
    server_id: &str,
    volume_id: &str,
    timeout: Duration,
) -> Result<()> {
    match volume_attachments::detach(cloud, server_id, volume_id).await {
        Ok(()) => {}
        // Already detached (a retry after a crash): nothing to wait for but the status.
        Err(e) if e.is_not_found() => {}
        Err(e) => {
            return Err(e).step(|| {
                format!("cannot detach volume {volume_id} from the conversion host {server_id}")
            });
        }
    }
    volume_attachments::wait_detached(cloud, server_id, volume_id, timeout)
        .await
        .step(|| format!("volume {volume_id}"))?;
    Ok(())
}
