//! Nova availability zones: `/os-availability-zone`.

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::service::ServiceType::Compute;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityZone {
    pub zone_name: String,
    pub zone_state: ZoneState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ZoneState {
    pub available: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ZonesEnvelope {
    pub availability_zone_info: Vec<AvailabilityZone>,
}

pub async fn list(client: &Client) -> Result<Vec<AvailabilityZone>> {
    let envelope: ZonesEnvelope = client
        .send_json(Request::get(Compute, &["os-availability-zone"]))
        .await?;
    Ok(envelope.availability_zone_info)
}
