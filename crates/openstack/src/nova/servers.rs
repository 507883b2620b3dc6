//! Nova servers: `/servers`, `/servers/detail`, `/servers/{id}`.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::cinder::volumes::null_as_default;
use crate::client::{Client, Request};
use crate::error::{Error, Result};
use crate::service::ServiceType::Compute;
use crate::wait::{Check, poll};

/// 2.67: tags and description at create, `volume_type` in block device mappings, embedded flavor.
pub const MICROVERSION: &str = "2.67";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub fault: Option<Fault>,
    /// Network name -> addresses on it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub addresses: BTreeMap<String, Vec<Address>>,
    /// Since 2.47 the flavor is embedded (sizes and extra specs, no id).
    #[serde(default)]
    pub flavor: Option<ServerFlavor>,
    #[serde(
        default,
        rename = "os-extended-volumes:volumes_attached",
        deserialize_with = "null_as_default"
    )]
    pub volumes_attached: Vec<AttachedVolume>,
    #[serde(default, rename = "OS-EXT-AZ:availability_zone")]
    pub availability_zone: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub security_groups: Vec<SecurityGroupName>,
    #[serde(default, rename = "OS-EXT-STS:task_state")]
    pub task_state: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Fault {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Address {
    pub addr: String,
    pub version: u8,
    #[serde(default, rename = "OS-EXT-IPS-MAC:mac_addr")]
    pub mac_addr: Option<String>,
    #[serde(default, rename = "OS-EXT-IPS:type")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServerFlavor {
    #[serde(default)]
    pub original_name: Option<String>,
    pub vcpus: u32,
    /// MiB.
    pub ram: u64,
    /// GiB.
    pub disk: u64,
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AttachedVolume {
    pub id: String,
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecurityGroupName {
    pub name: String,
}

/// Where a server's NIC comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nic {
    /// A port made beforehand (keeps its MAC and fixed IPs).
    Port(String),
    Network {
        id: String,
        fixed_ip: Option<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub name: String,
    pub flavor_id: String,
    /// Boot from this volume (boot index 0); otherwise `image_id` must be given.
    pub boot_volume: Option<String>,
    pub image_id: Option<String>,
    /// Attached in this order after the boot volume; never deleted with the server.
    pub data_volumes: Vec<String>,
    /// No NICs means `networks: "none"`.
    pub nics: Vec<Nic>,
    /// Applied by Nova to the ports it creates; ports given by id keep their own groups.
    pub security_groups: Vec<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    /// Raw bytes; sent base64-encoded.
    pub user_data: Option<Vec<u8>>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub config_drive: Option<bool>,
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// Exact name (Nova filters by regular expression; we anchor and escape it).
    pub name: Option<String>,
    /// Servers having all of these tags.
    pub tags: Vec<String>,
}

/// The request body of `POST /servers`.
pub fn create_body(opts: &CreateOpts) -> Result<Value> {
    let mut server = Map::new();
    server.insert("name".into(), json!(opts.name));
    server.insert("flavorRef".into(), json!(opts.flavor_id));
    match (&opts.boot_volume, &opts.image_id) {
        (Some(_), Some(_)) => {
            return Err(Error::Config(
                "a server boots from a volume or from an image, not both".into(),
            ));
        }
        (None, None) => {
            return Err(Error::Config(
                "a server needs a boot volume or an image".into(),
            ));
        }
        (None, Some(image)) => {
            server.insert("imageRef".into(), json!(image));
        }
        (Some(_), None) => {}
    }
    let mut mappings = Vec::new();
    if let Some(volume) = &opts.boot_volume {
        mappings.push(volume_mapping(volume, 0));
    }
    for volume in &opts.data_volumes {
        mappings.push(volume_mapping(volume, -1));
    }
    if !mappings.is_empty() {
        server.insert("block_device_mapping_v2".into(), Value::Array(mappings));
    }
    let networks = if opts.nics.is_empty() {
        json!("none")
    } else {
        Value::Array(
            opts.nics
                .iter()
                .map(|nic| match nic {
                    Nic::Port(port) => json!({ "port": port }),
                    Nic::Network { id, fixed_ip: None } => json!({ "uuid": id }),
                    Nic::Network {
                        id,
                        fixed_ip: Some(ip),
                    } => json!({ "uuid": id, "fixed_ip": ip }),
                })
                .collect(),
        )
    };
    server.insert("networks".into(), networks);
    if !opts.security_groups.is_empty() {
        let groups: Vec<Value> = opts
            .security_groups
            .iter()
            .map(|name| json!({ "name": name }))
            .collect();
        server.insert("security_groups".into(), Value::Array(groups));
    }
    if let Some(zone) = &opts.availability_zone {
        server.insert("availability_zone".into(), json!(zone));
    }
    if let Some(key_name) = &opts.key_name {
        server.insert("key_name".into(), json!(key_name));
    }
    if let Some(user_data) = &opts.user_data {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_data);
        server.insert("user_data".into(), json!(encoded));
    }
    if !opts.metadata.is_empty() {
        server.insert("metadata".into(), json!(opts.metadata));
    }
    if !opts.tags.is_empty() {
        server.insert("tags".into(), json!(opts.tags));
    }
    if let Some(description) = &opts.description {
        server.insert("description".into(), json!(description));
    }
    if let Some(config_drive) = opts.config_drive {
        server.insert("config_drive".into(), json!(config_drive));
    }
    Ok(json!({ "server": server }))
}

fn volume_mapping(volume: &str, boot_index: i32) -> Value {
    json!({
        "boot_index": boot_index,
        "uuid": volume,
        "source_type": "volume",
        "destination_type": "volume",
        "delete_on_termination": false,
    })
}

/// Creates the server and returns its id; it is still building (see [`wait_active`]).
pub async fn create(client: &Client, opts: &CreateOpts) -> Result<String> {
    #[derive(Deserialize)]
    struct Created {
        server: CreatedServer,
    }
    #[derive(Deserialize)]
    struct CreatedServer {
        id: String,
    }
    let request =
        Request::post(Compute, &["servers"], create_body(opts)?).microversion(MICROVERSION);
    let created: Created = client.send_json(request).await?;
    Ok(created.server.id)
}

pub async fn get(client: &Client, id: &str) -> Result<Server> {
    #[derive(Deserialize)]
    struct Envelope {
        server: Server,
    }
    let request = Request::get(Compute, &["servers", id]).microversion(MICROVERSION);
    let envelope: Envelope = client.send_json(request).await?;
    Ok(envelope.server)
}

pub async fn list(client: &Client, opts: &ListOpts) -> Result<Vec<Server>> {
    let mut request = Request::get(Compute, &["servers", "detail"]).microversion(MICROVERSION);
    if let Some(name) = &opts.name {
        request = request.query("name", format!("^{}$", escape_regex(name)));
    }
    if !opts.tags.is_empty() {
        request = request.query("tags", opts.tags.join(","));
    }
    let servers: Vec<Server> = client.list_all(request, "servers").await?;
    Ok(servers
        .into_iter()
        .filter(|s| opts.name.as_ref().is_none_or(|n| &s.name == n))
        .filter(|s| opts.tags.iter().all(|t| s.tags.contains(t)))
        .collect())
}

/// The server with this id, else the only one with this name.
pub async fn find(client: &Client, name_or_id: &str) -> Result<Server> {
    match get(client, name_or_id).await {
        Ok(server) => return Ok(server),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let opts = ListOpts {
        name: Some(name_or_id.to_owned()),
        ..ListOpts::default()
    };
    let mut found = list(client, &opts).await?;
    match found.len() {
        0 => Err(Error::NotFound {
            kind: "server",
            name: name_or_id.to_owned(),
        }),
        1 => Ok(found.remove(0)),
        count => Err(Error::Ambiguous {
            kind: "server",
            name: name_or_id.to_owned(),
            count,
        }),
    }
}

pub async fn delete(client: &Client, id: &str) -> Result<()> {
    client
        .send(Request::delete(Compute, &["servers", id]).microversion(MICROVERSION))
        .await?;
    Ok(())
}

/// Waits for ACTIVE; ERROR ends the wait with Nova's fault message.
pub async fn wait_active(client: &Client, id: &str, timeout: Duration) -> Result<Server> {
    poll(format!("server {id} to become ACTIVE"), timeout, || async {
        let server = get(client, id).await?;
        match server.status.as_str() {
            "ACTIVE" => Ok(Check::Done(server)),
            "ERROR" => Err(failed(server)),
            _ => Ok(Check::Pending(describe(&server))),
        }
    })
    .await
}

/// Waits until Nova no longer knows the server.
pub async fn wait_deleted(client: &Client, id: &str, timeout: Duration) -> Result<()> {
    poll(format!("server {id} to be deleted"), timeout, || async {
        match get(client, id).await {
            Err(e) if e.is_not_found() => Ok(Check::Done(())),
            Err(e) => Err(e),
            Ok(server) if server.status == "ERROR" && server.task_state.is_none() => {
                Err(failed(server))
            }
            Ok(server) => Ok(Check::Pending(describe(&server))),
        }
    })
    .await
}

fn failed(server: Server) -> Error {
    Error::ResourceFailed {
        what: format!("server {} ({})", server.name, server.id),
        status: server.status,
        fault: server.fault.map(|f| f.message),
    }
}

fn describe(server: &Server) -> String {
    match &server.task_state {
        Some(task) => format!("status {}, task {task}", server.status),
        None => format!("status {}", server.status),
    }
}

fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.^$*+?()[]{}|".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_from_volume_body_has_bdm_ports_key_and_user_data() {
        let opts = CreateOpts {
            name: "web01".into(),
            flavor_id: "f1".into(),
            boot_volume: Some("vol-boot".into()),
            data_volumes: vec!["vol-data".into()],
            nics: vec![Nic::Port("p1".into())],
            security_groups: vec!["default".into()],
            availability_zone: Some("nova".into()),
            key_name: Some("migration-key".into()),
            user_data: Some(b"#cloud-config\n".to_vec()),
            metadata: BTreeMap::from([("osm".to_owned(), "true".to_owned())]),
            ..CreateOpts::default()
        };
        let body = create_body(&opts).expect("body");
        assert_eq!(
            body,
            json!({"server": {
                "name": "web01",
                "flavorRef": "f1",
                "block_device_mapping_v2": [
                    {"boot_index": 0, "uuid": "vol-boot", "source_type": "volume", "destination_type": "volume", "delete_on_termination": false},
                    {"boot_index": -1, "uuid": "vol-data", "source_type": "volume", "destination_type": "volume", "delete_on_termination": false}
                ],
                "networks": [{"port": "p1"}],
                "security_groups": [{"name": "default"}],
                "availability_zone": "nova",
                "key_name": "migration-key",
                "user_data": "I2Nsb3VkLWNvbmZpZwo=",
                "metadata": {"osm": "true"}
            }})
        );
    }

    #[test]
    fn no_nics_means_networks_none_and_a_boot_source_is_required() {
        let mut opts = CreateOpts {
            name: "x".into(),
            flavor_id: "f".into(),
            image_id: Some("img".into()),
            ..CreateOpts::default()
        };
        let body = create_body(&opts).expect("body");
        assert_eq!(body["server"]["networks"], json!("none"));
        opts.image_id = None;
        assert!(create_body(&opts).is_err());
    }

    #[test]
    fn name_filter_is_an_anchored_escaped_regex() {
        assert_eq!(escape_regex("vm.1 (copy)"), r"vm\.1 \(copy\)");
    }

    #[test]
    fn server_fixture_reads_fault_key_name_and_flavor() {
        #[derive(Deserialize)]
        struct Envelope {
            server: Server,
        }
        let envelope: Envelope =
            serde_json::from_str(include_str!("../../fixtures/nova_server_error.json"))
                .expect("fixture");
        let server = envelope.server;
        assert_eq!(server.status, "ERROR");
        assert_eq!(server.key_name.as_deref(), Some("migration-key"));
        assert_eq!(server.flavor.as_ref().map(|f| f.vcpus), Some(2));
        assert_eq!(server.volumes_attached.len(), 2);
        let error = failed(server);
        assert!(
            error.to_string().contains("No valid host was found"),
            "{error}"
        );
    }
}
