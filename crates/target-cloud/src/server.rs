//! The migrated VM's server: boots from its first disk's volume, the other volumes attached,
//! its ports (kept MACs), key pair, security groups, zone, user data and flavor. A server this
//! migration made before (same name, our tag) is found and reported instead of made again.

use std::collections::BTreeMap;
use std::time::Duration;

use openstack::Client;
use openstack::cinder::volumes;
use openstack::neutron::{networks, ports, security_groups};
use openstack::nova::servers::{self, CreateOpts, ListOpts, Nic, Server};
use openstack::nova::{flavors, keypairs};
use tracing::{info, warn};

use crate::error::{Error, Result};
use crate::marker;

/// Where a NIC comes from, as the caller names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicSource {
    /// Port id or name.
    Port(String),
    /// Network id or name (Nova makes the port).
    Network(String),
}

#[derive(Debug, Clone, Default)]
pub struct ServerRequest {
    pub name: String,
    /// Flavor id or name.
    pub flavor: String,
    /// Volume id or name booted from.
    pub boot_volume: String,
    /// Volume ids or names attached after the boot volume, in order.
    pub data_volumes: Vec<String>,
    pub nics: Vec<NicSource>,
    /// Names or ids.
    pub security_groups: Vec<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// Made by an earlier run (waited for when asked).
    Existing(Server),
    Created(Server),
    /// Check mode: it would be created.
    WouldCreate,
}

/// `wait`: how long to wait for ACTIVE; None returns once Nova accepted the request (the server
/// is then still building). Also returns what the caller should warn about.
pub async fn ensure_server(
    client: &Client,
    request: &ServerRequest,
    check_mode: bool,
    wait: Option<Duration>,
) -> Result<(Outcome, Vec<String>)> {
    if request.name.trim().is_empty() {
        return Err(Error::Invalid("name: a server needs a name".into()));
    }
    if let Some(server) = made_before(client, &request.name).await? {
        if server.status == "ERROR" {
            return Err(Error::Invalid(format!(
                "server {:?} ({}) made by an earlier run is in ERROR{}; delete it (delete_server) and run again",
                server.name,
                server.id,
                server
                    .fault
                    .as_ref()
                    .map(|f| format!(": {}", f.message))
                    .unwrap_or_default()
            )));
        }
        let server = match wait {
            Some(timeout) if server.status != "ACTIVE" && !check_mode => {
                servers::wait_active(client, &server.id, timeout).await?
            }
            _ => server,
        };
        return Ok((Outcome::Existing(server), Vec::new()));
    }
    let mut warnings = Vec::new();
    let opts = resolve(client, request, &mut warnings).await?;
    if check_mode {
        return Ok((Outcome::WouldCreate, warnings));
    }
    let id = servers::create(client, &opts).await?;
    info!(server = %id, name = %request.name, "created server");
    let server = match wait {
        Some(timeout) => servers::wait_active(client, &id, timeout).await?,
        None => servers::get(client, &id).await?,
    };
    Ok((Outcome::Created(server), warnings))
}

/// The server of this name that carries our tag; a same-named server without it is not ours
/// to take over or to shadow with a twin.
async fn made_before(client: &Client, name: &str) -> Result<Option<Server>> {
    let named = servers::list(
        client,
        &ListOpts {
            name: Some(name.to_owned()),
            ..ListOpts::default()
        },
    )
    .await?;
    let (mut ours, foreign): (Vec<Server>, Vec<Server>) = named
        .into_iter()
        .partition(|s| s.tags.iter().any(|t| t == marker::TAG));
    match ours.len() {
        0 if foreign.is_empty() => Ok(None),
        0 => Err(Error::Foreign(format!(
            "a server named {name:?} ({}) exists that this migration did not make; rename or delete it, or choose another name",
            foreign
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        1 => Ok(ours.pop()),
        count => Err(Error::Invalid(format!(
            "{count} servers named {name:?} carry the migration's tag ({}); delete the extra ones",
            ours.iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn not_found(what: String) -> impl FnOnce(openstack::Error) -> Error {
    move |e| {
        if e.is_not_found() {
            Error::Invalid(format!(
                "{what} does not exist or is not visible to this project"
            ))
        } else {
            e.into()
        }
    }
}

/// Turns every name into an id, and checks what Nova would refuse late or vaguely.
async fn resolve(
    client: &Client,
    request: &ServerRequest,
    warnings: &mut Vec<String>,
) -> Result<CreateOpts> {
    let flavor = flavors::find(client, &request.flavor)
        .await
        .map_err(not_found(format!("flavor {:?}", request.flavor)))?;
    let boot = volumes::find(client, &request.boot_volume)
        .await
        .map_err(not_found(format!("boot volume {:?}", request.boot_volume)))?;
    if !boot.bootable {
        return Err(Error::Invalid(format!(
            "boot volume {:?} ({}) is not bootable; the migration marks the first disk bootable once it is copied (or: openstack volume set --bootable {})",
            boot.name, boot.id, boot.id
        )));
    }
    let mut data_volumes = Vec::with_capacity(request.data_volumes.len());
    for name in &request.data_volumes {
        let volume = volumes::find(client, name)
            .await
            .map_err(not_found(format!("data volume {name:?}")))?;
        data_volumes.push(volume.id);
    }
    for volume_id in std::iter::once(&boot.id).chain(&data_volumes) {
        let volume = volumes::get(client, volume_id).await?;
        if let Some(attachment) = volume.attachments.first() {
            return Err(Error::Invalid(format!(
                "volume {:?} ({}) is still attached to server {}; detach it first",
                volume.name, volume.id, attachment.server_id
            )));
        }
    }
    let mut nics = Vec::with_capacity(request.nics.len());
    for nic in &request.nics {
        nics.push(match nic {
            NicSource::Port(name) => {
                let port = ports::find(client, name)
                    .await
                    .map_err(not_found(format!("port {name:?}")))?;
                if !port.device_id.is_empty() {
                    return Err(Error::Invalid(format!(
                        "port {:?} ({}) is already used by {} {}; give a free port",
                        port.name, port.id, port.device_owner, port.device_id
                    )));
                }
                Nic::Port(port.id)
            }
            NicSource::Network(name) => {
                let network = networks::find(client, name)
                    .await
                    .map_err(not_found(format!("network {name:?}")))?;
                Nic::Network {
                    id: network.id,
                    fixed_ip: None,
                }
            }
        });
    }
    let mut groups = Vec::new();
    for name in request
        .security_groups
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        let group = security_groups::find(client, name)
            .await
            .map_err(not_found(format!("security group {name:?}")))?;
        groups.push(group.id);
    }
    let key_name = match request.key_name.as_deref() {
        Some(name) => existing_key_pair(client, name, warnings).await?,
        None => None,
    };
    Ok(CreateOpts {
        name: request.name.clone(),
        flavor_id: flavor.id,
        boot_volume: Some(boot.id),
        data_volumes,
        nics,
        security_groups: groups,
        availability_zone: request.availability_zone.clone(),
        key_name,
        user_data: request.user_data.clone().map(String::into_bytes),
        metadata: BTreeMap::new(),
        tags: vec![marker::TAG.to_owned()],
        description: Some(marker::server_description(&request.name)),
        ..CreateOpts::default()
    })
}

/// The original never sent a key pair, so its documented examples name one that need not exist
/// (`ssh_key_name: default`); Nova would refuse the server for it after the disks were copied.
/// A missing key pair is left out, with a warning, as the original's server was made.
async fn existing_key_pair(
    client: &Client,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<String>> {
    match keypairs::get(client, name).await {
        Ok(keypair) => Ok(Some(keypair.name)),
        Err(e) if e.is_not_found() => {
            let message = format!(
                "key pair {name:?} does not exist for this user; the server is made without a key pair \
                 (create it, or set the playbook variable ssh_key_name / the option key_name to an existing \
                 key pair, or to \"\" for none)"
            );
            warn!("{message}");
            warnings.push(message);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
