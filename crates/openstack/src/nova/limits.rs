//! Nova's absolute limits of the token's project: `/limits` (readable by every member, unlike
//! the quota sets).

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::service::ServiceType::Compute;

/// A maximum of -1 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbsoluteLimits {
    pub max_total_instances: i64,
    pub total_instances_used: i64,
    pub max_total_cores: i64,
    pub total_cores_used: i64,
    #[serde(rename = "maxTotalRAMSize")]
    pub max_total_ram_size: i64,
    #[serde(rename = "totalRAMUsed")]
    pub total_ram_used: i64,
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
    let envelope: LimitsEnvelope = client.send_json(Request::get(Compute, &["limits"])).await?;
    Ok(envelope.limits.absolute)
}
