use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use migration_data::{DiskInfo, GuestInfo};
use openstack::nova::flavors;
use serde::Deserialize;
use serde_json::Value;
use target_cloud::flavor_match::{VmNeeds, best_match, describe};

use super::cloud::{connect, data_file_or_inline};

pub struct BestMatchFlavor;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    /// guest_info.json: vCPUs and memory.
    #[arg(type = "path")]
    pub guest_info_path: Option<String>,
    /// disk_info.json: disk capacities.
    #[arg(type = "path")]
    pub disk_info_path: Option<String>,
    /// What guest_info.json holds, inline.
    #[arg(type = "dict")]
    pub guest_info: Option<Value>,
    /// What disk_info.json holds, inline.
    #[arg(type = "dict")]
    pub disk_info: Option<Value>,
    /// The server boots from a volume, so the flavor's root disk size does not matter.
    #[arg(default = true)]
    pub boot_from_volume: bool,
}

impl Module for BestMatchFlavor {
    const NAME: &'static str = "best_match_flavor";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let guest: GuestInfo = data_file_or_inline(
            ("guest_info_path", args.guest_info_path.as_deref()),
            ("guest_info", args.guest_info.as_ref()),
            "guest_info.json",
        )?;
        let disks: DiskInfo = data_file_or_inline(
            ("disk_info_path", args.disk_info_path.as_deref()),
            ("disk_info", args.disk_info.as_ref()),
            "disk_info.json",
        )?;
        let needs = VmNeeds::new(guest.vcpus(), guest.memory_mib(), disks.total_bytes());
        super::block_on(async {
            let client = connect(ctx, "cloud", args.cloud.as_ref()).await?;
            let all = flavors::list(&client, &flavors::ListOpts::default())
                .await
                .context("cannot list the flavors")?;
            let flavor = best_match(&all, &needs, args.boot_from_volume)
                .with_context(|| format!("VM {:?}", guest.hw_name))?;
            Ok(Response::new()
                .msg(format!(
                    "{} for {} vCPUs, {} MiB RAM, {} GiB of disks",
                    describe(flavor),
                    needs.vcpus,
                    needs.ram_mib,
                    needs.disk_gib
                ))
                .with("openstack_flavor_uuid", &flavor.id)
                .with("flavor", target_cloud::flavor_json(flavor)))
        })?
    }
}
