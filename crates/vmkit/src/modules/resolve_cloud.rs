//! Reads a cloud where the task runs (the roles run it on the controller) and returns it whole,
//! secret included, so that a host without the controller's clouds.yaml or OS_* environment
//! (the conversion host) can be handed the cloud as a dict.

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::{Context as _, bail};
use openstack::{CloudArg, ConfigLoader};
use serde::Deserialize;

pub struct ResolveCloud;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name; absent: OS_CLOUD, the OS_* variables, or the only cloud of
    /// clouds.yaml (OS_CLIENT_CONFIG_FILE).
    pub cloud: Option<String>,
}

impl Module for ResolveCloud {
    const NAME: &'static str = "resolve_cloud";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        // The result holds the secret in the clear: only a no_log task may have it.
        if !ctx.no_log {
            bail!(
                "resolve_cloud returns the cloud's password or secret: run the task with \
                 no_log: true"
            );
        }
        let arg = args
            .cloud
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| CloudArg::Name(name.to_owned()));
        let config = ConfigLoader::from_process()
            .load(arg.as_ref())
            .with_context(|| match &args.cloud {
                Some(name) => format!("cannot read cloud {name:?} (dst_cloud) here"),
                None => "cannot find a cloud here (dst_cloud unset)".to_owned(),
            })?;
        if let Some(cacert) = &config.cacert {
            ctx.warn(format!(
                "cloud {}: cacert {} is a file on this host; the hosts that use the cloud need it \
                 at the same path",
                config.name,
                cacert.display()
            ));
        }
        Ok(Response::new()
            .msg(format!("cloud {} at {}", config.name, config.auth_url))
            .with("cloud_name", &config.name)
            .with("cloud", config.to_value()))
    }
}
