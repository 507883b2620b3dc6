//! Nova key pairs: `/os-keypairs/{name}` (a key pair belongs to the user, not the project).

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::service::ServiceType::Compute;

/// 2.2: `type` (ssh or x509) in the answer.
pub const MICROVERSION: &str = "2.2";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Keypair {
    pub name: String,
    pub fingerprint: String,
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
}

#[derive(Deserialize)]
struct KeypairEnvelope {
    keypair: Keypair,
}

/// The user's key pair of this name; a missing one is a not-found error (`is_not_found`).
pub async fn get(client: &Client, name: &str) -> Result<Keypair> {
    let request = Request::get(Compute, &["os-keypairs", name]).microversion(MICROVERSION);
    let envelope: KeypairEnvelope = client.send_json(request).await?;
    Ok(envelope.keypair)
}
