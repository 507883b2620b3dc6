//! Neutron security groups: `/security-groups`.

use serde::Deserialize;

use crate::cinder::volumes::null_as_default;
use crate::client::{Client, Request};
use crate::error::Result;
use crate::neutron::{get_one, pick_one};
use crate::service::ServiceType::Network;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub name: Option<String>,
    pub project_id: Option<String>,
}

pub async fn get(client: &Client, id: &str) -> Result<SecurityGroup> {
    get_one(client, "security-groups", "security_group", id).await
}

pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<SecurityGroup>> {
    let mut request = Request::get(Network, &["security-groups"]);
    if let Some(name) = &opts.name {
        request = request.query("name", name.as_str());
    }
    if let Some(project) = &opts.project_id {
        request = request.query("project_id", project.as_str());
    }
    client.list_all(request, "security_groups").await
}

/// The group with this id, else the only one with this name; an administrator sees every
/// project's `default`, so a name matching several prefers the token's own project.
pub async fn find(client: &Client, name_or_id: &str) -> Result<SecurityGroup> {
    match get(client, name_or_id).await {
        Ok(group) => return Ok(group),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let opts = ListOpts {
        name: Some(name_or_id.to_owned()),
        ..ListOpts::default()
    };
    let named = list(client, &opts).await?;
    if named.len() > 1 {
        let project = client.project_id().await?;
        let own: Vec<SecurityGroup> = named
            .iter()
            .filter(|g| g.project_id.as_deref() == Some(project.as_str()))
            .cloned()
            .collect();
        if own.len() == 1 {
            return pick_one("security group", name_or_id, own);
        }
    }
    pick_one("security group", name_or_id, named)
}
