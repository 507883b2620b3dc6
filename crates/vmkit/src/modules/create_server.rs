use std::time::Duration;

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use target_cloud::server::{NicSource, Outcome, ServerRequest, ensure_server};

use super::cloud::connect;

pub struct CreateServer;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    pub name: String,
    /// `[{port-id: ...}]` (create_network_port's `ports`) or `[{net-id: ...}]`.
    #[arg(default = [], elements = "dict")]
    pub nics: Vec<Map<String, Value>>,
    /// Volume name or id to boot from.
    pub boot_volume: String,
    /// Data volume names or ids, attached in this order.
    #[arg(default = [], elements = "str")]
    pub volumes: Vec<String>,
    /// One name or id, or a list.
    #[arg(default = [], elements = "str")]
    pub security_groups: Vec<String>,
    /// Flavor name or id.
    pub flavor: String,
    pub key_name: Option<String>,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(default = true, unused = "the server always boots from boot_volume")]
    pub boot_from_cinder: bool,
    pub availability_zone: Option<String>,
    pub user_data: Option<String>,
    #[allow(dead_code)] // accepted for the original's playbooks, with a warning
    #[arg(default = "present", choices = ["present"], unused = "use delete_server to remove a server")]
    pub state: String,
    #[arg(default = true)]
    pub wait: bool,
    /// Seconds to wait for ACTIVE.
    #[arg(default = 600)]
    pub timeout: u64,
}

impl Module for CreateServer {
    const NAME: &'static str = "create_server";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let nics = args
            .nics
            .iter()
            .enumerate()
            .map(|(index, nic)| nic_source(index, nic))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let request = ServerRequest {
            name: args.name.clone(),
            flavor: args.flavor.clone(),
            boot_volume: args.boot_volume.clone(),
            data_volumes: args.volumes.clone(),
            nics,
            security_groups: args.security_groups.clone(),
            availability_zone: non_empty(&args.availability_zone),
            key_name: non_empty(&args.key_name),
            user_data: non_empty(&args.user_data),
        };
        let check_mode = ctx.check_mode;
        let wait = args.wait.then(|| Duration::from_secs(args.timeout));
        let (outcome, warnings) = super::block_on(async {
            let client = connect(ctx, "cloud", args.cloud.as_ref()).await?;
            ensure_server(&client, &request, check_mode, wait)
                .await
                .with_context(|| format!("cannot create server {:?}", args.name))
        })??;
        for warning in warnings {
            ctx.warn(warning);
        }
        Ok(match outcome {
            Outcome::Existing(server) => Response::new()
                .msg(format!(
                    "server {:?} ({}) exists, {}",
                    server.name, server.id, server.status
                ))
                .with("id", &server.id)
                .with("server", summary(&server)),
            Outcome::Created(server) => Response::new()
                .changed(true)
                .msg(format!(
                    "created server {:?} ({}), {}",
                    server.name, server.id, server.status
                ))
                .with("id", &server.id)
                .with("server", summary(&server)),
            Outcome::WouldCreate => Response::new()
                .changed(true)
                .msg(format!("would create server {:?}", args.name))
                .with("id", Value::Null),
        })
    }
}

fn nic_source(index: usize, nic: &Map<String, Value>) -> anyhow::Result<NicSource> {
    let text = |keys: &[&str]| {
        keys.iter()
            .filter_map(|k| nic.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if let Some(port) = text(&["port-id", "port_id", "port"]) {
        return Ok(NicSource::Port(port));
    }
    if let Some(network) = text(&["net-id", "net_id", "net-name", "network"]) {
        return Ok(NicSource::Network(network));
    }
    anyhow::bail!(
        "argument nics: element {index} has neither port-id nor net-id: {}",
        Value::Object(nic.clone())
    )
}

fn summary(server: &openstack::nova::servers::Server) -> Value {
    json!({
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "key_name": server.key_name,
        // By name: what operators and the wave report know a flavor by (Nova 2.47+ embeds it).
        "flavor": server.flavor.as_ref().and_then(|f| f.original_name.clone()),
        "availability_zone": server.availability_zone,
        "addresses": server.addresses.iter().map(|(network, addresses)| {
            (network.clone(), addresses.iter().map(|a| json!({
                "addr": a.addr, "version": a.version, "mac_addr": a.mac_addr,
            })).collect::<Value>())
        }).collect::<Map<String, Value>>(),
        "volumes_attached": server.volumes_attached.iter().map(|v| v.id.clone()).collect::<Vec<_>>(),
        "tags": server.tags,
    })
}
