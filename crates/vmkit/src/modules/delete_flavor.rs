use ansible_module::{Context, Module, ModuleArgs, Response};
use serde::Deserialize;
use serde_json::Value;
use target_cloud::delete::Kind;

use super::cloud::delete_module;

pub struct DeleteFlavor;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    /// The flavor's name or id.
    #[arg(aliases = ["id"])]
    pub name: String,
    #[arg(default = true)]
    pub wait: bool,
    /// Seconds.
    #[arg(default = 300)]
    pub timeout: u64,
}

impl Module for DeleteFlavor {
    const NAME: &'static str = "delete_flavor";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        delete_module(
            ctx,
            Kind::Flavor,
            args.cloud.as_ref(),
            &args.name,
            ctx.check_mode,
            args.wait,
            args.timeout,
        )
    }
}
