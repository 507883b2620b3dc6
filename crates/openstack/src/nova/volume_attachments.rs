//! Nova volume attachments: `/servers/{id}/os-volume_attachments`.
//!
//! Attaching goes through Nova (never Cinder's attachment API directly) so the compute host
//! really connects the volume; the wait watches the volume in Cinder.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cinder::volumes::{self, Volume};
use crate::client::{Client, Request};
use crate::error::{Error, Result};
use crate::service::ServiceType::Compute;
use crate::wait::{Check, poll};

/// 2.70: attachments show their tag.
pub const MICROVERSION: &str = "2.70";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VolumeAttachment {
    pub id: String,
    #[serde(rename = "volumeId")]
    pub volume_id: String,
    #[serde(rename = "serverId")]
    pub server_id: String,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AttachOpts {
    #[serde(rename = "volumeId")]
    pub volume_id: String,
    /// Most drivers ignore a requested device name; leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Deserialize)]
struct AttachmentEnvelope {
    #[serde(rename = "volumeAttachment")]
    attachment: VolumeAttachment,
}

#[derive(Deserialize)]
struct AttachmentsEnvelope {
    #[serde(rename = "volumeAttachments")]
    attachments: Vec<VolumeAttachment>,
}

/// Asks Nova to attach; the volume is attached once [`wait_attached`] returns.
pub async fn attach(
    client: &Client,
    server_id: &str,
    opts: &AttachOpts,
) -> Result<VolumeAttachment> {
    let request = Request::post(
        Compute,
        &["servers", server_id, "os-volume_attachments"],
        json!({ "volumeAttachment": opts }),
    )
    .microversion(MICROVERSION);
    let envelope: AttachmentEnvelope = client.send_json(request).await?;
    Ok(envelope.attachment)
}

pub async fn list(client: &Client, server_id: &str) -> Result<Vec<VolumeAttachment>> {
    let request = Request::get(Compute, &["servers", server_id, "os-volume_attachments"])
        .microversion(MICROVERSION);
    let envelope: AttachmentsEnvelope = client.send_json(request).await?;
    Ok(envelope.attachments)
}

pub async fn get(client: &Client, server_id: &str, volume_id: &str) -> Result<VolumeAttachment> {
    let request = Request::get(
        Compute,
        &["servers", server_id, "os-volume_attachments", volume_id],
    )
    .microversion(MICROVERSION);
    let envelope: AttachmentEnvelope = client.send_json(request).await?;
    Ok(envelope.attachment)
}

/// Asks Nova to detach; the volume is free once [`wait_detached`] returns.
pub async fn detach(client: &Client, server_id: &str, volume_id: &str) -> Result<()> {
    let request = Request::delete(
        Compute,
        &["servers", server_id, "os-volume_attachments", volume_id],
    )
    .microversion(MICROVERSION);
    client.send(request).await?;
    Ok(())
}

/// Waits until Cinder shows the volume in-use by this server.
pub async fn wait_attached(
    client: &Client,
    server_id: &str,
    volume_id: &str,
    timeout: Duration,
) -> Result<Volume> {
    let what = format!("volume {volume_id} to be attached to server {server_id}");
    poll(what, timeout, || async {
        let volume = volumes::get(client, volume_id).await?;
        let attached_here = volume.attachments.iter().any(|a| a.server_id == server_id);
        if volume.status == "in-use" && attached_here {
            Ok(Check::Done(volume))
        } else if volume.status.starts_with("error") {
            Err(Error::ResourceFailed {
                what: format!("attaching volume {volume_id} to server {server_id}"),
                status: volume.status,
                fault: None,
            })
        } else {
            Ok(Check::Pending(format!("status {}", volume.status)))
        }
    })
    .await
}

/// Waits until the volume is no longer attached to this server.
pub async fn wait_detached(
    client: &Client,
    server_id: &str,
    volume_id: &str,
    timeout: Duration,
) -> Result<Volume> {
    let what = format!("volume {volume_id} to be detached from server {server_id}");
    poll(what, timeout, || async {
        let volume = volumes::get(client, volume_id).await?;
        let attached_here = volume.attachments.iter().any(|a| a.server_id == server_id);
        let settled = matches!(volume.status.as_str(), "available" | "in-use");
        if settled && !attached_here {
            Ok(Check::Done(volume))
        } else if volume.status.starts_with("error") {
            Err(Error::ResourceFailed {
                what: format!("detaching volume {volume_id} from server {server_id}"),
                status: volume.status,
                fault: None,
            })
        } else {
            Ok(Check::Pending(format!("status {}", volume.status)))
        }
    })
    .await
}
