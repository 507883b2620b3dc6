use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use migration_data::{PortNic, UnmappedNic};
use serde::Deserialize;
use serde_json::{Value, json};
use target_cloud::ports::{NicRequest, PortsRequest, ensure_ports};

use super::cloud::{connect, data_file_or_inline};

pub struct CreateNetworkPort;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    /// nics.json (mapped networks) or macs.json (every NIC on network_name).
    #[arg(type = "path")]
    pub os_migrate_nics_file_path: Option<String>,
    /// What nics.json or macs.json holds, inline.
    #[arg(type = "list", elements = "dict")]
    pub nics: Option<Value>,
    pub vm_name: String,
    /// The file is nics.json (each NIC names its network) rather than macs.json.
    #[arg(default = false)]
    pub used_mapped_networks: bool,
    /// Names or ids, given to every port; empty: the project's default group.
    #[arg(default = [], elements = "str")]
    pub security_groups: Vec<String>,
    /// The network of every NIC when networks are not mapped.
    pub network_name: Option<String>,
    /// Give each port the VM's IPv4 and IPv6 addresses.
    #[arg(default = false)]
    pub use_fixed_ips: bool,
    /// The subnet for the fixed IPs (or to allocate from), before the NIC's own.
    #[arg(aliases = ["fixed_ip_subnet_uuid"])]
    pub subnet_uuid: Option<String>,
}

impl Module for CreateNetworkPort {
    const NAME: &'static str = "create_network_port";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let nics = nic_requests(&args)?;
        if nics.is_empty() {
            anyhow::bail!(
                "{} lists no NIC; check network_map (unmapped NICs are dropped)",
                match &args.os_migrate_nics_file_path {
                    Some(path) => format!("argument os_migrate_nics_file_path: {path}"),
                    None => "argument nics".to_owned(),
                }
            );
        }
        let request = PortsRequest {
            vm_name: args.vm_name.clone(),
            nics,
            security_groups: args.security_groups.clone(),
            use_fixed_ips: args.use_fixed_ips,
            subnet: args.subnet_uuid.clone().filter(|s| !s.trim().is_empty()),
        };
        let check_mode = ctx.check_mode;
        let outcome = super::block_on(async {
            let client = connect(ctx, "cloud", args.cloud.as_ref()).await?;
            ensure_ports(&client, &request, check_mode)
                .await
                .with_context(|| format!("cannot make the ports of VM {:?}", args.vm_name))
        })??;
        for warning in &outcome.warnings {
            ctx.warn(warning.clone());
        }
        let created = outcome.ports.iter().filter(|p| p.created).count();
        let ports: Vec<Value> = outcome
            .ports
            .iter()
            .map(|p| {
                json!({
                    "port-id": p.port.as_ref().map(|port| port.id.clone()),
                    "name": p.name,
                    "mac_address": p.mac,
                    "network_id": p.network_id,
                    "fixed_ips": p.port.as_ref().map(|port| port.fixed_ips.clone()).unwrap_or_default(),
                    "created": p.created,
                })
            })
            .collect();
        Ok(Response::new()
            .changed(outcome.changed())
            .msg(format!(
                "{} port(s) for VM {:?}: {created} {}, {} already there",
                outcome.ports.len(),
                args.vm_name,
                if check_mode {
                    "would be created"
                } else {
                    "created"
                },
                outcome.ports.len() - created
            ))
            .with("ports", ports))
    }
}

fn nic_requests(args: &Args) -> anyhow::Result<Vec<NicRequest>> {
    let file = (
        "os_migrate_nics_file_path",
        args.os_migrate_nics_file_path.as_deref(),
    );
    let inline = ("nics", args.nics.as_ref());
    if args.used_mapped_networks {
        let nics: Vec<PortNic> = data_file_or_inline(file, inline, "nics.json")?;
        return Ok(nics
            .into_iter()
            .map(|nic| NicRequest {
                network: nic.vlan.clone(),
                subnet: nic.subnet,
                mac: nic.mac,
                ip_addresses: nic.ipaddresses,
                vlan: nic.vlan,
            })
            .collect());
    }
    let network = args
        .network_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .context("argument network_name: required when used_mapped_networks is false (every NIC goes on that network; the role passes openstack_private_network)")?;
    let nics: Vec<UnmappedNic> = data_file_or_inline(file, inline, "macs.json")?;
    Ok(nics
        .into_iter()
        .map(|nic| NicRequest {
            network: network.clone(),
            subnet: Some(nic.subnet).filter(|s| !s.trim().is_empty()),
            mac: nic.mac,
            ip_addresses: nic.ipaddresses,
            vlan: network.clone(),
        })
        .collect())
}
