//! Cinder volumes: `/volumes`, `/volumes/{id}/metadata`, `/volumes/{id}/action`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::client::{Client, Request};
use crate::error::{Error, Result};
use crate::service::ServiceType::BlockStorage;
use crate::wait::{Check, poll};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Volume {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    pub status: String,
    /// GiB.
    pub size: u64,
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    pub bootable: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    /// Glance-style properties Nova reads when booting from the volume.
    #[serde(default, deserialize_with = "null_as_default")]
    pub volume_image_metadata: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Attachment {
    pub server_id: String,
    #[serde(default)]
    pub attachment_id: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub host_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateOpts {
    pub name: String,
    /// GiB; round a disk's bytes up, never down.
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Filters for [`list`]; every given filter must match (metadata: each given key and value).
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub name: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub status: Option<String>,
}

/// Statuses from which a volume will not reach the one we wait for.
const FAILED_STATUSES: [&str; 6] = [
    "error",
    "error_deleting",
    "error_extending",
    "error_restoring",
    "error_managing",
    "error_backing-up",
];

pub async fn create(client: &Client, opts: &CreateOpts) -> Result<Volume> {
    let body = json!({ "volume": opts });
    let response: VolumeEnvelope = client
        .send_json(Request::post(BlockStorage, &["volumes"], body))
        .await?;
    Ok(response.volume)
}

pub async fn get(client: &Client, id: &str) -> Result<Volume> {
    let response: VolumeEnvelope = client
        .send_json(Request::get(BlockStorage, &["volumes", id]))
        .await?;
    Ok(response.volume)
}

/// Lists the project's volumes matching every filter. The filters are sent to Cinder and checked
/// again here, because Cinder drops filters a policy does not allow instead of refusing them.
pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<Volume>> {
    let mut request = Request::get(BlockStorage, &["volumes", "detail"]);
    if let Some(name) = &opts.name {
        request = request.query("name", name.as_str());
    }
    if !opts.metadata.is_empty() {
        request = request.query("metadata", json!(opts.metadata).to_string());
    }
    if let Some(status) = &opts.status {
        request = request.query("status", status.as_str());
    }
    let volumes: Vec<Volume> = client.list_all(request, "volumes").await?;
    Ok(volumes
        .into_iter()
        .filter(|v| opts.name.as_ref().is_none_or(|n| &v.name == n))
        .filter(|v| opts.status.as_ref().is_none_or(|s| &v.status == s))
        .filter(|v| {
            opts.metadata
                .iter()
                .all(|(k, value)| v.metadata.get(k) == Some(value))
        })
        .collect())
}

/// The volume with this id, else the only one with this name.
pub async fn find(client: &Client, name_or_id: &str) -> Result<Volume> {
    match get(client, name_or_id).await {
        Ok(volume) => return Ok(volume),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let opts = ListOpts {
        name: Some(name_or_id.to_owned()),
        ..ListOpts::default()
    };
    let mut found = list(client, &opts).await?;
    match found.len() {
        0 => Err(Error::NotFound {
            kind: "volume",
            name: name_or_id.to_owned(),
        }),
        1 => Ok(found.remove(0)),
        count => Err(Error::Ambiguous {
            kind: "volume",
            name: name_or_id.to_owned(),
            count,
        }),
    }
}

/// Adds or updates the given keys and leaves every other key as it was (`POST .../metadata`;
/// `PUT` would replace the whole set). Returns the volume's metadata after the merge.
pub async fn merge_metadata(
    client: &Client,
    id: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let response: MetadataEnvelope = client
        .send_json(Request::post(
            BlockStorage,
            &["volumes", id, "metadata"],
            json!({ "metadata": metadata }),
        ))
        .await?;
    Ok(response.metadata)
}

/// Removes one metadata key we set ourselves.
pub async fn delete_metadata_key(client: &Client, id: &str, key: &str) -> Result<()> {
    client
        .send(Request::delete(
            BlockStorage,
            &["volumes", id, "metadata", key],
        ))
        .await?;
    Ok(())
}

pub async fn set_bootable(client: &Client, id: &str, bootable: bool) -> Result<()> {
    action(
        client,
        id,
        json!({ "os-set_bootable": { "bootable": bootable } }),
    )
    .await
}

/// Sets (merges) the image properties Nova reads when booting from this volume.
pub async fn set_image_metadata(
    client: &Client,
    id: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    action(
        client,
        id,
        json!({ "os-set_image_metadata": { "metadata": metadata } }),
    )
    .await
}

async fn action(client: &Client, id: &str, body: Value) -> Result<()> {
    client
        .send(Request::post(
            BlockStorage,
            &["volumes", id, "action"],
            body,
        ))
        .await?;
    Ok(())
}

pub async fn delete(client: &Client, id: &str) -> Result<()> {
    client
        .send(Request::delete(BlockStorage, &["volumes", id]))
        .await?;
    Ok(())
}

/// Waits until the volume has `status`; an error status ends the wait with its name.
pub async fn wait_status(
    client: &Client,
    id: &str,
    status: &str,
    timeout: Duration,
) -> Result<Volume> {
    let what = format!("volume {id} to become {status}");
    poll(what.clone(), timeout, || async {
        let volume = get(client, id).await?;
        if volume.status == status {
            Ok(Check::Done(volume))
        } else if FAILED_STATUSES.contains(&volume.status.as_str()) {
            Err(Error::ResourceFailed {
                what: format!("volume {id}"),
                status: volume.status,
                fault: None,
            })
        } else {
            Ok(Check::Pending(format!("status {}", volume.status)))
        }
    })
    .await
}

/// Waits until Cinder no longer knows the volume.
pub async fn wait_deleted(client: &Client, id: &str, timeout: Duration) -> Result<()> {
    poll(format!("volume {id} to be deleted"), timeout, || async {
        match get(client, id).await {
            Err(e) if e.is_not_found() => Ok(Check::Done(())),
            Err(e) => Err(e),
            Ok(volume) if volume.status == "error_deleting" => Err(Error::ResourceFailed {
                what: format!("deleting volume {id}"),
                status: volume.status,
                fault: None,
            }),
            Ok(volume) => Ok(Check::Pending(format!("status {}", volume.status))),
        }
    })
    .await
}

#[derive(Deserialize)]
struct VolumeEnvelope {
    volume: Volume,
}

#[derive(Deserialize)]
struct MetadataEnvelope {
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Cinder writes `bootable` as the string "true"/"false".
fn flexible_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<bool, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Bool(b) => b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    })
}

pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_fixture_reads_bootable_metadata_and_attachments() {
        let envelope: VolumeEnvelope =
            serde_json::from_str(include_str!("../../fixtures/cinder_volume.json"))
                .expect("fixture");
        let volume = envelope.volume;
        assert!(volume.bootable);
        assert_eq!(volume.size, 3);
        assert_eq!(volume.metadata["osm"], "true");
        assert_eq!(volume.metadata["owner"], "backup-tool");
        assert_eq!(volume.volume_image_metadata["hw_firmware_type"], "uefi");
        assert_eq!(
            volume.attachments[0].server_id,
            "f4fd6b8c-5a38-4f0f-8c7b-1c5b0b1b0d11"
        );
        assert_eq!(volume.status, "in-use");
    }

    #[test]
    fn create_body_leaves_out_what_is_not_given() {
        let opts = CreateOpts {
            name: "vm1-2000".into(),
            size: 2,
            metadata: BTreeMap::from([("osm".to_owned(), "true".to_owned())]),
            ..CreateOpts::default()
        };
        assert_eq!(
            json!({ "volume": opts }),
            json!({"volume": {"name": "vm1-2000", "size": 2, "metadata": {"osm": "true"}}})
        );
    }
}
