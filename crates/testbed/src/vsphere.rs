//! The vSphere simulator of the test bed (`scripts/testbed up vsphere`): its connection facts from
//! `scripts/testbed env vsphere`, and the fixture file that declares its VMs (the tests' oracle).

use std::collections::BTreeMap;

use serde::Deserialize;

/// What to run when the simulator's variables are missing.
pub const HOW_TO_START: &str = "the vSphere test bed is not running: run `scripts/testbed up vsphere; eval \"$(scripts/testbed env)\"`";

/// Reads a variable the test bed exports; a missing one fails the test saying how to start it.
pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} is not set: {HOW_TO_START}"),
    }
}

/// The `VMKIT_TEST_VSPHERE_*` variables.
#[derive(Debug, Clone)]
pub struct Simulator {
    /// `https://127.0.0.1:8989/sdk`
    pub url: String,
    /// `127.0.0.1:8989`
    pub host: String,
    pub user: String,
    pub password: String,
    /// `AA:BB:…`, upper case.
    pub thumbprint_sha1: String,
    pub thumbprint_sha256: String,
    /// The control API (`http://127.0.0.1:8990`): guest writes, hooks, ending sessions.
    pub control: String,
    pub datacenter: String,
}

impl Simulator {
    pub fn from_env() -> Self {
        Self {
            url: env("VMKIT_TEST_VSPHERE_URL"),
            host: env("VMKIT_TEST_VSPHERE_HOST"),
            user: env("VMKIT_TEST_VSPHERE_USER"),
            password: env("VMKIT_TEST_VSPHERE_PASSWORD"),
            thumbprint_sha1: env("VMKIT_TEST_VSPHERE_THUMBPRINT_SHA1"),
            thumbprint_sha256: env("VMKIT_TEST_VSPHERE_THUMBPRINT_SHA256"),
            control: env("VMKIT_TEST_VSPHERE_CONTROL"),
            datacenter: env("VMKIT_TEST_VSPHERE_DATACENTER"),
        }
    }

    /// The standalone ESXi host started beside the vCenter (`VMKIT_TEST_ESXI_*`).
    pub fn esxi_from_env() -> Self {
        Self {
            url: env("VMKIT_TEST_ESXI_URL"),
            host: env("VMKIT_TEST_ESXI_HOST"),
            user: env("VMKIT_TEST_ESXI_USER"),
            password: env("VMKIT_TEST_ESXI_PASSWORD"),
            thumbprint_sha1: env("VMKIT_TEST_ESXI_THUMBPRINT_SHA1"),
            thumbprint_sha256: env("VMKIT_TEST_ESXI_THUMBPRINT_SHA256"),
            control: env("VMKIT_TEST_ESXI_CONTROL"),
            datacenter: env("VMKIT_TEST_ESXI_DATACENTER"),
        }
    }
}

/// tests/fixtures/vms.yaml (its header documents every field).
#[derive(Debug, Clone, Deserialize)]
pub struct Fixtures {
    pub inventory: FixtureInventory,
    pub vms: Vec<FixtureVm>,
}

impl Fixtures {
    /// Reads the file named by `VMKIT_TEST_VM_FIXTURES`.
    pub fn from_env() -> Self {
        Self::read(&env("VMKIT_TEST_VM_FIXTURES"))
    }

    /// Reads the ESXi host's file (tests/fixtures/esxi.yaml), named by `VMKIT_TEST_ESXI_FIXTURES`.
    pub fn esxi_from_env() -> Self {
        Self::read(&env("VMKIT_TEST_ESXI_FIXTURES"))
    }

    fn read(path: &str) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub fn vm(&self, name: &str) -> &FixtureVm {
        self.vms
            .iter()
            .find(|vm| vm.name == name)
            .unwrap_or_else(|| panic!("no fixture VM named {name}"))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureInventory {
    pub datacenter: String,
    pub datastores: Vec<String>,
    /// `{name, type: standard | distributed}`
    pub networks: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureVm {
    pub name: String,
    /// Below the datacenter's vm folder; "" for its top.
    #[serde(default)]
    pub folder: String,
    pub guest_id: String,
    /// Defaults to the guest id.
    pub guest_full_name: Option<String>,
    /// `bios` or `efi`.
    pub firmware: String,
    #[serde(default)]
    pub secure_boot: bool,
    pub cpu: FixtureCpu,
    pub memory_mib: i64,
    /// `on` or `off`.
    pub power: String,
    #[serde(default)]
    pub cbt: bool,
    pub hostname: Option<String>,
    /// The VM's home datastore (default: the first).
    pub datastore: Option<String>,
    #[serde(default)]
    pub consolidation_needed: bool,
    /// `pci_passthrough`, `usb`, `tpm`.
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub snapshots: Vec<FixtureSnapshot>,
    #[serde(default)]
    pub disks: Vec<FixtureDisk>,
    #[serde(default)]
    pub nics: Vec<FixtureNic>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureCpu {
    pub sockets: i32,
    pub cores_per_socket: i32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureSnapshot {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureDisk {
    pub size_bytes: i64,
    /// `pvscsi`, `lsilogic`, `lsilogic-sas`, `buslogic`, `nvme`, `sata`, `ide`.
    pub controller: String,
    pub datastore: String,
    /// `persistent` (default), `independent_persistent`, `independent_nonpersistent`.
    pub mode: Option<String>,
    pub thin: Option<bool>,
    /// `none` or `multi_writer`.
    pub sharing: Option<String>,
    /// `physical` or `virtual`: a raw device mapping.
    pub rdm: Option<String>,
    /// The disk's `ctkEnabled` in extraConfig when the VM's CBT is on (default true).
    pub ctk: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FixtureNic {
    pub adapter: String,
    pub portgroup: String,
    pub mac: String,
    /// CIDRs, IPv4 and IPv6.
    #[serde(default)]
    pub ips: Vec<String>,
}
