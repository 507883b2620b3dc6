use std::path::Path;

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Value, json};
use target_cloud::flavor_file::FlavorFile;
use target_cloud::flavor_import::{Imported, import};

use super::cloud::connect;

pub struct ImportFlavor;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// A clouds.yaml cloud name or the original's dict; absent: OS_CLOUD / OS_* variables.
    pub cloud: Option<Value>,
    /// flavors.yml as export_flavor writes it.
    #[arg(type = "path")]
    pub flavors_file: String,
}

impl Module for ImportFlavor {
    const NAME: &'static str = "import_flavor";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let file =
            FlavorFile::read(Path::new(&args.flavors_file)).context("argument flavors_file")?;
        let wanted = file.flavors().context("argument flavors_file")?;
        let Some(params) = wanted.first() else {
            anyhow::bail!(
                "argument flavors_file: {} holds no openstack.compute.Flavor resource",
                args.flavors_file
            );
        };
        if wanted.len() > 1 {
            ctx.warn(format!(
                "{} holds {} flavors; only the first, {:?}, is imported",
                args.flavors_file,
                wanted.len(),
                params.name
            ));
        }
        let check_mode = ctx.check_mode;
        let outcome = super::block_on(async {
            let client = connect(ctx, "cloud", args.cloud.as_ref()).await?;
            import(&client, params, check_mode)
                .await
                .with_context(|| format!("cannot import flavor {:?}", params.name))
        })??;
        Ok(match outcome {
            Imported::Existing {
                flavor,
                differences,
            } => {
                for difference in &differences {
                    ctx.warn(format!("existing flavor {:?}: {difference}", flavor.name));
                }
                Response::new()
                    .msg(format!("flavor {:?} exists ({})", flavor.name, flavor.id))
                    .with(
                        "created_flavor",
                        json!({"name": flavor.name, "id": flavor.id}),
                    )
            }
            Imported::Created(flavor) => Response::new()
                .changed(true)
                .msg(format!("created flavor {:?} ({})", flavor.name, flavor.id))
                .with(
                    "created_flavor",
                    json!({"name": flavor.name, "id": flavor.id}),
                ),
            Imported::WouldCreate => Response::new()
                .changed(true)
                .msg(format!("would create flavor {:?}", params.name))
                .with(
                    "created_flavor",
                    json!({"name": params.name, "id": Value::Null}),
                ),
        })
    }
}
