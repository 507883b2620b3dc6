//! Cinder's absolute limits of the token's project: `/limits`.

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::service::ServiceType::BlockStorage;

/// A maximum of -1 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbsoluteLimits {
    pub max_total_volumes: i64,
    pub total_volumes_used: i64,
    pub max_total_volume_gigabytes: i64,
    pub total_gigabytes_used: i64,
}

#[derive(Deserialize)]
struct Limits {
    absolute: AbsoluteLimits,
}

#[derive(Deserialize)]
struct LimitsEnvelope {
    limits: Limits,
}

pub async fn get(client: &Client) -> Result<AbsoluteLimits> {
    let envelope: LimitsEnvelope = client
        .send_json(Request::get(BlockStorage, &["limits"]))
        .await?;
    Ok(envelope.limits.absolute)
}
