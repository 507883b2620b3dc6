use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use openstack::cinder::volumes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::cloud::connect;

pub struct VolumeInfo;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    /// The volume's name or id.
    pub name: String,
}

impl Module for VolumeInfo {
    const NAME: &'static str = "volume_info";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        super::block_on(async {
            let client = connect(ctx, "cloud", args.cloud.as_ref()).await?;
            let volume = volumes::find(&client, &args.name)
                .await
                .with_context(|| format!("cannot look up volume {:?}", args.name))?;
            let summary = json!({
                "id": volume.id,
                "name": volume.name,
                "status": volume.status,
                "size": volume.size,
                "bootable": volume.bootable,
                "metadata": volume.metadata,
                "volume_image_metadata": volume.volume_image_metadata,
                "volume_type": volume.volume_type,
                "availability_zone": volume.availability_zone,
                "attachments": volume.attachments.iter().map(|a| json!({
                    "server_id": a.server_id, "attachment_id": a.attachment_id, "device": a.device,
                })).collect::<Vec<_>>(),
            });
            Ok(Response::new()
                .msg(format!(
                    "volume {:?} ({}) is {}",
                    volume.name, volume.id, volume.status
                ))
                .with("volumes", vec![summary]))
        })?
    }
}
