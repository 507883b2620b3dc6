//! Creating a flavor from `flavors.yml`, unless one with its name exists already.

use openstack::Client;
use openstack::nova::flavors::{self, CreateOpts, Flavor};

use crate::error::{Error, Result};
use crate::flavor_file::FlavorParams;

#[derive(Debug, Clone)]
pub enum Imported {
    /// A flavor with this name was there; `differences` says where it differs from the file.
    Existing {
        flavor: Flavor,
        differences: Vec<String>,
    },
    Created(Flavor),
    /// Check mode: it would be created.
    WouldCreate,
}

pub async fn import(client: &Client, params: &FlavorParams, check_mode: bool) -> Result<Imported> {
    match flavors::find(client, &params.name).await {
        Ok(flavor) => {
            let differences = differences(&flavor, params);
            return Ok(Imported::Existing {
                flavor,
                differences,
            });
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    if check_mode {
        return Ok(Imported::WouldCreate);
    }
    let opts = CreateOpts {
        name: params.name.clone(),
        id: params.id.clone(),
        vcpus: params.vcpus,
        ram: params.ram,
        disk: params.disk,
        ephemeral: params.ephemeral,
        swap: params.swap,
        rxtx_factor: params.rxtx_factor,
        is_public: params.is_public,
        description: params.description.clone(),
    };
    let mut flavor = flavors::create(client, &opts)
        .await
        .map_err(|e| match e.api().map(|api| api.status) {
            Some(403) => Error::Invalid(format!(
                "{e}; creating a flavor needs an administrator by default: run import_flavor with an admin cloud, or have an administrator create flavor {:?} ({} vCPUs, {} MiB RAM)",
                params.name, params.vcpus, params.ram
            )),
            _ => e.into(),
        })?;
    if !params.extra_specs.is_empty() {
        flavor.extra_specs =
            flavors::set_extra_specs(client, &flavor.id, &params.extra_specs).await?;
    }
    Ok(Imported::Created(flavor))
}

fn differences(flavor: &Flavor, params: &FlavorParams) -> Vec<String> {
    let mut out = Vec::new();
    let mut compare = |what: &str, have: u64, want: u64| {
        if have != want {
            out.push(format!("{what} is {have}, the file says {want}"));
        }
    };
    compare("vcpus", flavor.vcpus.into(), params.vcpus.into());
    compare("ram", flavor.ram, params.ram);
    compare("disk", flavor.disk, params.disk);
    compare("ephemeral", flavor.ephemeral, params.ephemeral);
    compare("swap", flavor.swap, params.swap);
    out
}
