//! Nova key pairs: `/os-keypairs`.

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::service::ServiceType::Compute;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Keypair {
    pub name: String,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

#[derive(Deserialize)]
struct KeypairEnvelope {
    keypair: Keypair,
}

/// The token's user's key pair of this name (key pairs belong to users, not projects).
pub async fn get(client: &Client, name: &str) -> Result<Keypair> {
    let envelope: KeypairEnvelope = client
        .send_json(Request::get(Compute, &["os-keypairs", name]))
        .await?;
    Ok(envelope.keypair)
}
