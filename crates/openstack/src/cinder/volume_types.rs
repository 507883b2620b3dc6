//! Cinder volume types: `/types`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cinder::volumes::null_as_default;
use crate::client::{Client, Request};
use crate::error::{Error, Result};
use crate::service::ServiceType::BlockStorage;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VolumeType {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "os-volume-type-access:is_public")]
    pub is_public: Option<bool>,
    /// Shown to administrators only; empty for everyone else.
    #[serde(default, deserialize_with = "null_as_default")]
    pub extra_specs: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct TypesEnvelope {
    volume_types: Vec<VolumeType>,
}

#[derive(Deserialize)]
struct TypeEnvelope {
    volume_type: VolumeType,
}

pub async fn list(client: &Client) -> Result<Vec<VolumeType>> {
    let response: TypesEnvelope = client
        .send_json(Request::get(BlockStorage, &["types"]))
        .await?;
    Ok(response.volume_types)
}

pub async fn get(client: &Client, id: &str) -> Result<VolumeType> {
    let response: TypeEnvelope = client
        .send_json(Request::get(BlockStorage, &["types", id]))
        .await?;
    Ok(response.volume_type)
}

/// The volume type with this name or id (Cinder accepts either as `volume_type` on create, but
/// checking first turns a typo into a message instead of a 404 after the copy started).
pub async fn find(client: &Client, name_or_id: &str) -> Result<VolumeType> {
    let types = list(client).await?;
    if let Some(found) = types.iter().find(|t| t.id == name_or_id) {
        return Ok(found.clone());
    }
    let mut named: Vec<VolumeType> = types.into_iter().filter(|t| t.name == name_or_id).collect();
    match named.len() {
        0 => Err(Error::NotFound {
            kind: "volume type",
            name: name_or_id.to_owned(),
        }),
        1 => Ok(named.remove(0)),
        count => Err(Error::Ambiguous {
            kind: "volume type",
            name: name_or_id.to_owned(),
            count,
        }),
    }
}
