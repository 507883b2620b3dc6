use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use openstack::cinder::volumes;
use serde::Deserialize;
use serde_json::Value;

use super::cloud::connect;

pub struct VolumeMetadataInfo;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    #[arg(aliases = ["cloud"])]
    pub dst_cloud: Option<Value>,
    /// The volume's id (or name).
    #[arg(aliases = ["volume"])]
    pub volume_id: String,
}

impl Module for VolumeMetadataInfo {
    const NAME: &'static str = "volume_metadata_info";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        super::block_on(async {
            let client = connect(ctx, "dst_cloud", args.dst_cloud.as_ref()).await?;
            let volume = volumes::find(&client, &args.volume_id)
                .await
                .with_context(|| format!("cannot look up volume {:?}", args.volume_id))?;
            let converted = volume
                .metadata
                .get("converted")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            Ok(Response::new()
                .msg(format!(
                    "volume {} is {}converted",
                    volume.id,
                    if converted { "" } else { "not " }
                ))
                .with("converted", converted)
                .with("metadata", &volume.metadata)
                .with("volume_image_metadata", &volume.volume_image_metadata))
        })?
    }
}
