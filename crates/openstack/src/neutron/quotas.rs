//! Neutron quotas with their usage: `/quotas/{project_id}/details`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::service::ServiceType::Network;

/// A limit of -1 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct QuotaDetail {
    pub limit: i64,
    #[serde(default)]
    pub used: i64,
    #[serde(default)]
    pub reserved: i64,
}

#[derive(Deserialize)]
struct QuotaEnvelope {
    quota: BTreeMap<String, QuotaDetail>,
}

/// Every resource's limit and usage (`port`, `network`, …) in the project.
pub async fn details(client: &Client, project_id: &str) -> Result<BTreeMap<String, QuotaDetail>> {
    let envelope: QuotaEnvelope = client
        .send_json(Request::get(Network, &["quotas", project_id, "details"]))
        .await?;
    Ok(envelope.quota)
}
