//! Neutron ports: `/ports`, `/ports/{id}/tags/{tag}`.
//!
//! Ports the migration makes carry a tag (and a description) so a re-run finds them instead
//! of making duplicates whose MAC address would clash.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cinder::volumes::null_as_default;
use crate::client::{Client, Request};
use crate::error::Result;
use crate::neutron::{get_one, pick_one};
use crate::service::ServiceType::Network;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Port {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub network_id: String,
    pub mac_address: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub fixed_ips: Vec<FixedIp>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_groups: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub description: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub device_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub device_owner: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// One requested address: a subnet (Neutron picks the address), an address, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FixedIpRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateOpts {
    pub network_id: String,
    pub name: String,
    /// Keeps the VM's MAC so the guest's network configuration still matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// Empty: Neutron allocates from the network's subnets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixed_ips: Vec<FixedIpRequest>,
    /// None: the project's default group; Some(empty): no group at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sent in the create call (Neutron's `tag-ports-during-bulk-creation`), else added just
    /// after it; give a `description` too, which every cloud takes atomically.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Filters for [`list`]; `tags` must all be present.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub network_id: Option<String>,
    pub name: Option<String>,
    pub mac_address: Option<String>,
    pub device_id: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
struct PortEnvelope {
    port: Port,
}

/// Creates the port; tags the cloud did not take in the create call (no
/// `tag-ports-during-bulk-creation`, which drops them silently) are added right after.
pub async fn create(client: &Client, opts: &CreateOpts) -> Result<Port> {
    let envelope: PortEnvelope = client
        .send_json(Request::post(Network, &["ports"], json!({ "port": opts })))
        .await?;
    let mut port = envelope.port;
    for tag in &opts.tags {
        if !port.tags.contains(tag) {
            add_tag(client, &port.id, tag).await?;
            port.tags.push(tag.clone());
        }
    }
    Ok(port)
}

pub async fn get(client: &Client, id: &str) -> Result<Port> {
    get_one(client, "ports", "port", id).await
}

pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<Port>> {
    let mut request = Request::get(Network, &["ports"]);
    let filters = [
        ("network_id", &opts.network_id),
        ("name", &opts.name),
        ("mac_address", &opts.mac_address),
        ("device_id", &opts.device_id),
        ("description", &opts.description),
    ];
    for (key, value) in filters {
        if let Some(value) = value {
            request = request.query(key, value.as_str());
        }
    }
    if !opts.tags.is_empty() {
        request = request.query("tags", opts.tags.join(","));
    }
    client.list_all(request, "ports").await
}

/// The port with this id, else the only one with this name.
pub async fn find(client: &Client, name_or_id: &str) -> Result<Port> {
    match get(client, name_or_id).await {
        Ok(port) => return Ok(port),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let opts = ListOpts {
        name: Some(name_or_id.to_owned()),
        ..ListOpts::default()
    };
    pick_one("port", name_or_id, list(client, &opts).await?)
}

/// Adds one tag to a port (for ports made before they were tagged at creation).
pub async fn add_tag(client: &Client, id: &str, tag: &str) -> Result<()> {
    client
        .send(Request::new(
            Network,
            reqwest::Method::PUT,
            &["ports", id, "tags", tag],
        ))
        .await?;
    Ok(())
}

pub async fn delete(client: &Client, id: &str) -> Result<()> {
    client
        .send(Request::delete(Network, &["ports", id]))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_keeps_mac_fixed_ips_and_tags() {
        let opts = CreateOpts {
            network_id: "net".into(),
            name: "web01-NIC-0".into(),
            mac_address: Some("00:50:56:aa:bb:cc".into()),
            fixed_ips: vec![
                FixedIpRequest {
                    subnet_id: Some("v4".into()),
                    ip_address: Some("10.20.0.50".into()),
                },
                FixedIpRequest {
                    subnet_id: Some("v6".into()),
                    ip_address: Some("fd00:20::50".into()),
                },
            ],
            security_groups: Some(vec!["sg".into()]),
            description: Some("vmware-migration-kit".into()),
            tags: vec!["osm".into()],
        };
        assert_eq!(
            json!({ "port": opts }),
            json!({"port": {
                "network_id": "net", "name": "web01-NIC-0", "mac_address": "00:50:56:aa:bb:cc",
                "fixed_ips": [
                    {"subnet_id": "v4", "ip_address": "10.20.0.50"},
                    {"subnet_id": "v6", "ip_address": "fd00:20::50"}
                ],
                "security_groups": ["sg"], "description": "vmware-migration-kit", "tags": ["osm"]
            }})
        );
    }

    #[test]
    fn port_fixture_reads_fixed_ips() {
        let envelope: PortEnvelope =
            serde_json::from_str(include_str!("../../fixtures/neutron_port.json"))
                .expect("fixture");
        let port = envelope.port;
        assert_eq!(port.mac_address, "00:50:56:aa:bb:cc");
        assert_eq!(port.fixed_ips.len(), 2);
        assert_eq!(port.fixed_ips[1].ip_address, "fd00:20::50");
        assert_eq!(port.tags, vec!["osm".to_owned()]);
    }
}
