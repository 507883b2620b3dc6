//! Test support: the test bed's environment (`scripts/testbed env vsphere`), the fixture file
//! (the oracle), and the simulator's control API.

#![allow(dead_code, unused_imports)]

use vsphere::{Client, ConnectOptions, Password, Thumbprint, TlsMode};

use testbed::vsphere::HOW_TO_START;

/// Held by tests that change lab-scratch (snapshots) and by those that compare it to the fixture.
pub static SCRATCH_VM: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

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
    let simulator = testbed::vsphere::Simulator::from_env();
    Testbed {
        url: simulator.url,
        host: simulator.host,
        user: simulator.user,
        password: simulator.password,
        sha1: simulator.thumbprint_sha1,
        sha256: simulator.thumbprint_sha256,
        control: simulator.control,
        datacenter: simulator.datacenter,
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

pub use testbed::vsphere::{FixtureVm, Fixtures};

pub fn fixtures() -> Fixtures {
    Fixtures::from_env()
}

/// The bytes of `range` (`bytes=0-16`) of a datastore file URL, over https without checking the
/// simulator's self-signed certificate.
pub async fn get_range(url: url::Url, range: &str) -> Vec<u8> {
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let response = http.get(url).header("Range", range).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.unwrap().to_vec()
}
