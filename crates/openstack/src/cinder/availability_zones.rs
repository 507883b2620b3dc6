//! Cinder availability zones: `/os-availability-zone` (the same shape as Nova's).

use crate::client::{Client, Request};
use crate::error::Result;
pub use crate::nova::availability_zones::AvailabilityZone;
use crate::nova::availability_zones::ZonesEnvelope;
use crate::service::ServiceType::BlockStorage;

pub async fn list(client: &Client) -> Result<Vec<AvailabilityZone>> {
    let envelope: ZonesEnvelope = client
        .send_json(Request::get(BlockStorage, &["os-availability-zone"]))
        .await?;
    Ok(envelope.availability_zone_info)
}
