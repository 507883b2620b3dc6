//! The OpenStack control plane of the test bed (`scripts/testbed up openstack`): the clouds and
//! resources `scripts/testbed env openstack` exports for tests.

/// What to run when the control plane's variables are missing.
pub const HOW_TO_START: &str = "the OpenStack test bed is not up: run `scripts/testbed up openstack; eval \"$(scripts/testbed env)\"`";

/// Reads a variable the test bed exports; a missing one fails the test saying how to start it.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} is not set: {HOW_TO_START}"),
    }
}

fn env_list(name: &str) -> Vec<String> {
    env(name).split(',').map(str::to_owned).collect()
}

/// `OS_CLIENT_CONFIG_FILE` and the `VMKIT_TEST_*` variables of the OpenStack part.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// The clouds.yaml holding the three clouds below.
    pub clouds_yaml: String,
    /// The non-admin user's cloud (`testbed`).
    pub cloud: String,
    pub admin_cloud: String,
    /// The non-admin user's application credential.
    pub appcred_cloud: String,
    /// The non-admin user's project.
    pub project_id: String,
    /// The server volumes are attached to (Nova's fake driver), as the metadata service says.
    pub conversion_host_id: String,
    pub conversion_host_name: String,
    pub metadata_url: String,
    pub network: String,
    pub network_id: String,
    pub network2: String,
    pub network2_id: String,
    pub subnet_v4: String,
    pub subnet_v4_id: String,
    pub subnet_v6: String,
    pub subnet_v6_id: String,
    pub security_group: String,
    pub security_group_id: String,
    pub keypair: String,
    pub flavors: Vec<String>,
    pub volume_types: Vec<String>,
    /// Where Cinder's NFS driver keeps the volume files (`volume-<id>`).
    pub loop_volume_dir: String,
}

impl Cloud {
    pub fn from_env() -> Self {
        Self {
            clouds_yaml: env("OS_CLIENT_CONFIG_FILE"),
            cloud: env("VMKIT_TEST_CLOUD"),
            admin_cloud: env("VMKIT_TEST_CLOUD_ADMIN"),
            appcred_cloud: env("VMKIT_TEST_CLOUD_APPCRED"),
            project_id: env("VMKIT_TEST_PROJECT_ID"),
            conversion_host_id: env("VMKIT_TEST_CONVERSION_HOST_ID"),
            conversion_host_name: env("VMKIT_TEST_CONVERSION_HOST_NAME"),
            metadata_url: env("VMKIT_TEST_METADATA_URL"),
            network: env("VMKIT_TEST_NETWORK"),
            network_id: env("VMKIT_TEST_NETWORK_ID"),
            network2: env("VMKIT_TEST_NETWORK2"),
            network2_id: env("VMKIT_TEST_NETWORK2_ID"),
            subnet_v4: env("VMKIT_TEST_SUBNET_V4"),
            subnet_v4_id: env("VMKIT_TEST_SUBNET_V4_ID"),
            subnet_v6: env("VMKIT_TEST_SUBNET_V6"),
            subnet_v6_id: env("VMKIT_TEST_SUBNET_V6_ID"),
            security_group: env("VMKIT_TEST_SECURITY_GROUP"),
            security_group_id: env("VMKIT_TEST_SECURITY_GROUP_ID"),
            keypair: env("VMKIT_TEST_KEYPAIR"),
            flavors: env_list("VMKIT_TEST_FLAVORS"),
            volume_types: env_list("VMKIT_TEST_VOLUME_TYPES"),
            loop_volume_dir: env("VMKIT_TEST_LOOP_VOLUME_DIR"),
        }
    }
}
