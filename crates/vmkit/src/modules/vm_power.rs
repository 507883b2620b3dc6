//! `vm_power`: powers a vSphere VM on, or off (hard), and says whether that changed anything.
//! The roles use it to power a source VM on again when its migration ended without a server.

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::json;
use vsphere::vm::PowerState;
use vsphere::{Client, MoRef};

use super::vsphere_connection::{VsphereConnectionArgs, logout};

pub struct VmPower;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    #[serde(flatten)]
    #[arg(flatten)]
    pub vsphere: VsphereConnectionArgs,
    #[arg(aliases = ["vmname", "name"])]
    pub vm_name: String,
    /// The VM's inventory folder (guest_info's `hw_folder`); the VM is looked up by name when nothing is there.
    #[arg(aliases = ["vddkpath"])]
    pub folder: Option<String>,
    #[arg(default = "powered-on", choices = ["powered-on", "powered-off"])]
    pub state: String,
}

impl Module for VmPower {
    const NAME: &'static str = "vm_power";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let connection = args.vsphere.connection()?;
        let check_mode = ctx.check_mode;
        super::block_on(async {
            let client = connection.connect().await?;
            let result = set_power(&client, &args, check_mode).await;
            logout(&client).await;
            result
        })?
    }
}

async fn set_power(client: &Client, args: &Args, check_mode: bool) -> anyhow::Result<Response> {
    let vm = find(client, args).await?;
    let state = vsphere::power::power_state(client, &vm)
        .await
        .with_context(|| format!("cannot read the power state of VM {:?}", args.vm_name))?;
    let (wanted, word) = match args.state.as_str() {
        "powered-off" => (PowerState::PoweredOff, "off"),
        _ => (PowerState::PoweredOn, "on"),
    };
    if state == wanted {
        return Ok(Response::new()
            .changed(false)
            .msg(format!("VM {:?} is already powered {word}", args.vm_name))
            .with("power_state", json!(state)));
    }
    if !check_mode {
        match wanted {
            PowerState::PoweredOff => vsphere::power::power_off(client, &vm).await,
            _ => vsphere::power::power_on(client, &vm).await,
        }
        .with_context(|| format!("cannot power VM {:?} {word}", args.vm_name))?;
    }
    Ok(Response::new()
        .changed(true)
        .msg(format!("VM {:?} powered {word}", args.vm_name))
        .with(
            "power_state",
            json!(if check_mode { state } else { wanted }),
        ))
}

async fn find(client: &Client, args: &Args) -> anyhow::Result<MoRef> {
    if let Some(folder) = args
        .folder
        .as_deref()
        .filter(|f| !f.trim_matches('/').is_empty())
    {
        let path = vsphere::finder::inventory_path(folder, &args.vm_name);
        if let Some(found) = vsphere::finder::find_by_inventory_path(client, &path)
            .await
            .with_context(|| format!("cannot look up /{path}"))?
            .filter(|m| m.kind == "VirtualMachine")
        {
            return Ok(found);
        }
    }
    vsphere::finder::find_by_name(client, &args.vm_name)
        .await
        .with_context(|| format!("cannot find VM {:?} (argument 'vm_name')", args.vm_name))
}
