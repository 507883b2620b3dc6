//! Neutron subnets: `/subnets`.

use serde::Deserialize;

use crate::client::{Client, Request};
use crate::error::Result;
use crate::neutron::{get_one, pick_one};
use crate::service::ServiceType::Network;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subnet {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub network_id: String,
    pub cidr: String,
    pub ip_version: u8,
    #[serde(default)]
    pub gateway_ip: Option<String>,
    #[serde(default)]
    pub enable_dhcp: bool,
    #[serde(default)]
    pub ipv6_address_mode: Option<String>,
    #[serde(default)]
    pub ipv6_ra_mode: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub network_id: Option<String>,
    pub name: Option<String>,
    pub ip_version: Option<u8>,
}

pub async fn get(client: &Client, id: &str) -> Result<Subnet> {
    get_one(client, "subnets", "subnet", id).await
}

pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<Subnet>> {
    let mut request = Request::get(Network, &["subnets"]);
    if let Some(network) = &opts.network_id {
        request = request.query("network_id", network.as_str());
    }
    if let Some(name) = &opts.name {
        request = request.query("name", name.as_str());
    }
    if let Some(version) = opts.ip_version {
        request = request.query("ip_version", version.to_string());
    }
    client.list_all(request, "subnets").await
}

/// The subnet with this id, else the only one with this name (within `network_id` if given).
pub async fn find(client: &Client, name_or_id: &str, network_id: Option<&str>) -> Result<Subnet> {
    match get(client, name_or_id).await {
        Ok(subnet) => return Ok(subnet),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let opts = ListOpts {
        name: Some(name_or_id.to_owned()),
        network_id: network_id.map(str::to_owned),
        ..ListOpts::default()
    };
    pick_one("subnet", name_or_id, list(client, &opts).await?)
}
