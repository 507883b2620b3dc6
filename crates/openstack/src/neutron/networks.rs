//! Neutron networks: `/networks`.

use serde::Deserialize;

use crate::cinder::volumes::null_as_default;
use crate::client::{Client, Request};
use crate::error::Result;
use crate::neutron::{get_one, pick_one};
use crate::service::ServiceType::Network as NetworkService;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Network {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub shared: bool,
    #[serde(default, rename = "router:external")]
    pub external: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub name: Option<String>,
    pub project_id: Option<String>,
}

pub async fn get(client: &Client, id: &str) -> Result<Network> {
    get_one(client, "networks", "network", id).await
}

pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<Network>> {
    let mut request = Request::get(NetworkService, &["networks"]);
    if let Some(name) = &opts.name {
        request = request.query("name", name.as_str());
    }
    if let Some(project) = &opts.project_id {
        request = request.query("project_id", project.as_str());
    }
    client.list_all(request, "networks").await
}

/// The network with this id, else the only one with this name.
pub async fn find(client: &Client, name_or_id: &str) -> Result<Network> {
    match get(client, name_or_id).await {
        Ok(network) => return Ok(network),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let opts = ListOpts {
        name: Some(name_or_id.to_owned()),
        ..ListOpts::default()
    };
    pick_one("network", name_or_id, list(client, &opts).await?)
}
