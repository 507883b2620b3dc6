//! Nova flavors: `/flavors`, `/flavors/detail`, `/flavors/{id}/os-extra_specs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

use crate::cinder::volumes::null_as_default;
use crate::client::{Client, Request};
use crate::error::{Error, Result};
use crate::service::ServiceType::Compute;

/// 2.61: extra specs inside the flavor; 2.55: description.
pub const MICROVERSION: &str = "2.61";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    /// MiB.
    pub ram: u64,
    /// Root disk, GiB (0: the size of the image or boot volume).
    pub disk: u64,
    /// GiB.
    #[serde(default, rename = "OS-FLV-EXT-DATA:ephemeral")]
    pub ephemeral: u64,
    /// MiB; Nova writes "" for none before 2.75.
    #[serde(default, deserialize_with = "number_or_empty")]
    pub swap: u64,
    #[serde(default = "one")]
    pub rxtx_factor: f64,
    #[serde(default = "yes", rename = "os-flavor-access:is_public")]
    pub is_public: bool,
    #[serde(default, rename = "OS-FLV-DISABLED:disabled")]
    pub disabled: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Only shown to those the policy lets read extra specs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub extra_specs: BTreeMap<String, String>,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

fn number_or_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<u64, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct CreateOpts {
    pub name: String,
    /// Nova picks a UUID when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub vcpus: u32,
    /// MiB.
    pub ram: u64,
    /// GiB.
    pub disk: u64,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral")]
    pub ephemeral: u64,
    /// MiB.
    pub swap: u64,
    pub rxtx_factor: f64,
    #[serde(rename = "os-flavor-access:is_public")]
    pub is_public: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Default for CreateOpts {
    fn default() -> CreateOpts {
        CreateOpts {
            name: String::new(),
            id: None,
            vcpus: 1,
            ram: 512,
            disk: 0,
            ephemeral: 0,
            swap: 0,
            rxtx_factor: 1.0,
            is_public: true,
            description: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// Administrators also see private flavors (`is_public=None`).
    pub include_private: bool,
}

#[derive(Deserialize)]
struct FlavorEnvelope {
    flavor: Flavor,
}

pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<Flavor>> {
    let mut request = Request::get(Compute, &["flavors", "detail"]).microversion(MICROVERSION);
    if opts.include_private {
        request = request.query("is_public", "None");
    }
    client.list_all(request, "flavors").await
}

pub async fn get(client: &Client, id: &str) -> Result<Flavor> {
    let request = Request::get(Compute, &["flavors", id]).microversion(MICROVERSION);
    let envelope: FlavorEnvelope = client.send_json(request).await?;
    Ok(envelope.flavor)
}

/// The flavor with this id, else the only one with this name.
pub async fn find(client: &Client, name_or_id: &str) -> Result<Flavor> {
    match get(client, name_or_id).await {
        Ok(flavor) => return Ok(flavor),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let flavors = list(
        client,
        &ListOpts {
            include_private: true,
        },
    )
    .await?;
    let mut named: Vec<Flavor> = flavors
        .into_iter()
        .filter(|f| f.name == name_or_id)
        .collect();
    match named.len() {
        0 => Err(Error::NotFound {
            kind: "flavor",
            name: name_or_id.to_owned(),
        }),
        1 => Ok(named.remove(0)),
        count => Err(Error::Ambiguous {
            kind: "flavor",
            name: name_or_id.to_owned(),
            count,
        }),
    }
}

/// Creates a flavor (administrators only, by default policy).
pub async fn create(client: &Client, opts: &CreateOpts) -> Result<Flavor> {
    let request =
        Request::post(Compute, &["flavors"], json!({ "flavor": opts })).microversion(MICROVERSION);
    let envelope: FlavorEnvelope = client.send_json(request).await?;
    Ok(envelope.flavor)
}

/// Adds or updates extra specs, leaving the others as they are.
pub async fn set_extra_specs(
    client: &Client,
    id: &str,
    extra_specs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Envelope {
        extra_specs: BTreeMap<String, String>,
    }
    let request = Request::post(
        Compute,
        &["flavors", id, "os-extra_specs"],
        json!({ "extra_specs": extra_specs }),
    )
    .microversion(MICROVERSION);
    let envelope: Envelope = client.send_json(request).await?;
    Ok(envelope.extra_specs)
}

pub async fn delete(client: &Client, id: &str) -> Result<()> {
    client
        .send(Request::delete(Compute, &["flavors", id]).microversion(MICROVERSION))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_list_fixture_reads_units_and_extra_specs() {
        #[derive(Deserialize)]
        struct Envelope {
            flavors: Vec<Flavor>,
        }
        let envelope: Envelope =
            serde_json::from_str(include_str!("../../fixtures/nova_flavors.json"))
                .expect("fixture");
        let medium = envelope
            .flavors
            .iter()
            .find(|f| f.name == "m1.medium")
            .expect("m1.medium");
        assert_eq!((medium.vcpus, medium.ram, medium.disk), (2, 4096, 40));
        assert_eq!(medium.swap, 0, "\"\" swap reads as none");
        assert_eq!(medium.extra_specs["hw:cpu_policy"], "shared");
        let private = envelope
            .flavors
            .iter()
            .find(|f| f.name == "private.big")
            .expect("private.big");
        assert!(!private.is_public);
        assert_eq!(private.swap, 1024);
    }

    #[test]
    fn create_body_uses_nova_field_names() {
        let opts = CreateOpts {
            name: "osm-2-4096".into(),
            vcpus: 2,
            ram: 4096,
            disk: 20,
            ..CreateOpts::default()
        };
        assert_eq!(
            json!({ "flavor": opts }),
            json!({"flavor": {"name": "osm-2-4096", "vcpus": 2, "ram": 4096, "disk": 20,
                "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
                "os-flavor-access:is_public": true}})
        );
    }
}
