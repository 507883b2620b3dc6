use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use openstack::nova::flavors;
use serde::Deserialize;
use serde_json::Value;

use super::cloud::connect;

pub struct FlavorInfo;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    /// The flavor's name or id.
    #[arg(aliases = ["flavor", "name"])]
    pub flavor_name: String,
}

impl Module for FlavorInfo {
    const NAME: &'static str = "flavor_info";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        super::block_on(async {
            let client = connect(ctx, "cloud", args.cloud.as_ref()).await?;
            let flavor = flavors::find(&client, &args.flavor_name)
                .await
                .with_context(|| format!("cannot look up flavor {:?}", args.flavor_name))?;
            Ok(Response::new()
                .msg(target_cloud::flavor_match::describe(&flavor))
                .with("flavor", target_cloud::flavor_json(&flavor)))
        })?
    }
}
