//! `flavors.yml`, the os-migrate resource file `export_flavor` writes and `import_flavor` reads:
//! `os_migrate_version`, then `resources: [{type: openstack.compute.Flavor, params: {...}}]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

pub const FLAVOR_TYPE: &str = "openstack.compute.Flavor";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FlavorFile {
    #[serde(default)]
    pub os_migrate_version: Option<String>,
    #[serde(default)]
    pub resources: Vec<Resource>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default, rename = "_info")]
    pub info: Value,
    #[serde(default, rename = "_migration_params")]
    pub migration_params: Value,
}

/// One flavor's `params`, in Nova's units (RAM and swap MiB, disks GiB).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FlavorParams {
    pub name: String,
    pub vcpus: u32,
    pub ram: u64,
    #[serde(default)]
    pub disk: u64,
    #[serde(default)]
    pub ephemeral: u64,
    #[serde(default)]
    pub swap: u64,
    #[serde(default = "one")]
    pub rxtx_factor: f64,
    #[serde(default = "yes")]
    pub is_public: bool,
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Not in the original's file; an id to create the flavor with.
    #[serde(default)]
    pub id: Option<String>,
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

impl FlavorFile {
    pub fn read(path: &Path) -> Result<FlavorFile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Invalid(format!(
                "cannot read the flavors file {}: {e}; run export_flavor first or fix flavors_file",
                path.display()
            ))
        })?;
        serde_norway::from_str(&text).map_err(|e| {
            Error::Invalid(format!(
                "{} is not an os-migrate flavors file ({e}); it needs `resources: [{{type: {FLAVOR_TYPE}, params: {{name, vcpus, ram, disk}}}}]`",
                path.display()
            ))
        })
    }

    /// The flavors in the file; other resource types are not ours to import.
    pub fn flavors(&self) -> Result<Vec<FlavorParams>> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kind == FLAVOR_TYPE)
            .map(|(index, r)| {
                let mut params = r.params.clone();
                // Extra spec values are strings in Nova; YAML writes `hw:cpu_cores: 2`.
                if let Some(Value::Object(specs)) = params.get_mut("extra_specs") {
                    for value in specs.values_mut() {
                        if !value.is_string() {
                            *value = Value::String(value.to_string());
                        }
                    }
                }
                serde_json::from_value(params).map_err(|e| {
                    Error::Invalid(format!(
                        "resources[{index}].params of the flavors file: {e} (needs name, vcpus and ram)"
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the original's export_flavor writes.
    const EXPORTED: &str = r#"os_migrate_version: 1.0.1
resources:
- _info:
    id: null
    is_disabled: false
  _migration_params: {}
  params:
    description: null
    disk: 42
    ephemeral: 0
    extra_specs: {}
    is_public: true
    name: osm-vmware-web01-1234
    ram: 4096
    rxtx_factor: 1.0
    swap: 0
    vcpus: 2
  type: openstack.compute.Flavor
"#;

    #[test]
    fn reads_the_originals_file() {
        let file: FlavorFile = serde_norway::from_str(EXPORTED).expect("yaml");
        assert_eq!(file.os_migrate_version.as_deref(), Some("1.0.1"));
        let flavors = file.flavors().expect("flavors");
        assert_eq!(flavors.len(), 1);
        let f = &flavors[0];
        assert_eq!(
            (f.name.as_str(), f.vcpus, f.ram, f.disk),
            ("osm-vmware-web01-1234", 2, 4096, 42)
        );
        assert!(f.is_public);
        assert_eq!(f.description, None);
    }

    #[test]
    fn numeric_extra_specs_become_strings_and_bad_params_say_which() {
        let file: FlavorFile = serde_norway::from_str(
            "resources:\n- type: openstack.compute.Flavor\n  params: {name: x, vcpus: 1, ram: 512, extra_specs: {'hw:cpu_cores': 2}}\n- type: openstack.network.Network\n  params: {name: n}\n",
        )
        .expect("yaml");
        let flavors = file.flavors().expect("flavors");
        assert_eq!(flavors.len(), 1);
        assert_eq!(flavors[0].extra_specs["hw:cpu_cores"], "2");
        let file: FlavorFile = serde_norway::from_str(
            "resources:\n- type: openstack.compute.Flavor\n  params: {name: x}\n",
        )
        .expect("yaml");
        let error = file.flavors().expect_err("no vcpus");
        assert!(error.to_string().contains("resources[0].params"), "{error}");
    }
}
