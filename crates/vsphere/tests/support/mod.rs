//! Test support: the test bed's environment (`scripts/testbed env vsphere`), the fixture file
//! (the oracle), and the simulator's control API.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;
use vsphere::{Client, ConnectOptions, Password, Thumbprint, TlsMode};

const HOW_TO_START: &str = "the vSphere test bed is not running: run `scripts/testbed up vsphere; eval \"$(scripts/testbed env)\"`";

/// Held by tests that change lab-scratch (snapshots) and by those that compare it to the fixture.
pub static SCRATCH_VM: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

pub fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} is not set: {HOW_TO_START}"),
    }
}

pub struct Testbed {
    pub url: String,
    pub host: String,
    pub user: String,
    pub password: String,
    pub sha1: String,
    pub sha256: String,
    pub control: String,
    pub datacenter: String,
}

pub fn testbed() -> Testbed {
    Testbed {
        url: env("VMKIT_TEST_VSPHERE_URL"),
        host: env("VMKIT_TEST_VSPHERE_HOST"),
        user: env("VMKIT_TEST_VSPHERE_USER"),
        password: env("VMKIT_TEST_VSPHERE_PASSWORD"),
        sha1: env("VMKIT_TEST_VSPHERE_THUMBPRINT_SHA1"),
        sha256: env("VMKIT_TEST_VSPHERE_THUMBPRINT_SHA256"),
        control: env("VMKIT_TEST_VSPHERE_CONTROL"),
        datacenter: env("VMKIT_TEST_VSPHERE_DATACENTER"),
    }
}

impl Testbed {
    pub fn options(&self, tls: TlsMode) -> ConnectOptions {
        ConnectOptions {
            server: self.url.clone(),
            user: self.user.clone(),
            password: Password::new(self.password.clone()),
            tls,
        }
    }

    pub fn pinned(&self) -> TlsMode {
        TlsMode::Thumbprint(
            self.sha256
                .parse::<Thumbprint>()
                .expect("test bed thumbprint"),
        )
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.options(self.pinned()))
            .await
            .unwrap_or_else(|e| panic!("cannot log in to the simulator ({e}): {HOW_TO_START}"))
    }

    pub async fn control_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("control API {path}: {e}: {HOW_TO_START}"));
        let status = response.status();
        let text = response.text().await.expect("control API body");
        assert!(status.is_success(), "control API {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    pub async fn control_get(&self, path: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.control))
            .send()
            .await
            .unwrap_or_else(|e| panic!("control API {path}: {e}: {HOW_TO_START}"));
        response.json().await.expect("control API JSON")
    }
}

#[derive(Debug, Deserialize)]
pub struct Fixtures {
    pub inventory: FixtureInventory,
    pub vms: Vec<FixtureVm>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureInventory {
    pub datacenter: String,
    pub datastores: Vec<String>,
    pub networks: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureVm {
    pub name: String,
    #[serde(default)]
    pub folder: String,
    pub guest_id: String,
    pub guest_full_name: Option<String>,
    pub firmware: String,
    #[serde(default)]
    pub secure_boot: bool,
    pub cpu: FixtureCpu,
    pub memory_mib: i64,
    pub power: String,
    #[serde(default)]
    pub cbt: bool,
    pub hostname: Option<String>,
    pub datastore: Option<String>,
    #[serde(default)]
    pub consolidation_needed: bool,
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub snapshots: Vec<FixtureSnapshot>,
    #[serde(default)]
    pub disks: Vec<FixtureDisk>,
    #[serde(default)]
    pub nics: Vec<FixtureNic>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureCpu {
    pub sockets: i32,
    pub cores_per_socket: i32,
}

#[derive(Debug, Deserialize)]
pub struct FixtureSnapshot {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct FixtureDisk {
    pub size_bytes: i64,
    pub controller: String,
    pub datastore: String,
    pub mode: Option<String>,
    pub thin: Option<bool>,
    pub sharing: Option<String>,
    pub rdm: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FixtureNic {
    pub adapter: String,
    pub portgroup: String,
    pub mac: String,
    #[serde(default)]
    pub ips: Vec<String>,
}

pub fn fixtures() -> Fixtures {
    let path = env("VMKIT_TEST_VM_FIXTURES");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
