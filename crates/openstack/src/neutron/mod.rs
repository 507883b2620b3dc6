//! Networking v2.0.

pub mod networks;
pub mod ports;
pub mod quotas;
pub mod security_groups;
pub mod subnets;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Client, Request};
use crate::error::{Error, Result};
use crate::service::ServiceType::Network;

/// `GET /{collection}/{id}`, answered inside `{"<singular>": ...}`.
pub(crate) async fn get_one<T: DeserializeOwned>(
    client: &Client,
    collection: &str,
    singular: &str,
    id: &str,
) -> Result<T> {
    let response = client
        .send(Request::get(Network, &[collection, id]))
        .await?;
    let mut envelope: Value = response.json()?;
    let item = envelope
        .get_mut(singular)
        .map(Value::take)
        .ok_or_else(|| Error::Decode {
            method: response.method.clone(),
            url: response.url.clone(),
            message: format!("no {singular:?} in the answer"),
        })?;
    serde_json::from_value(item).map_err(|e| Error::Decode {
        method: response.method,
        url: response.url,
        message: e.to_string(),
    })
}

/// The resource with this id, else the only one with this name among `named`'s results.
pub(crate) fn pick_one<T>(kind: &'static str, name: &str, mut named: Vec<T>) -> Result<T> {
    match named.len() {
        0 => Err(Error::NotFound {
            kind,
            name: name.to_owned(),
        }),
        1 => Ok(named.remove(0)),
        count => Err(Error::Ambiguous {
            kind,
            name: name.to_owned(),
            count,
        }),
    }
}
