//! Reads the OpenStack test bed's environment and cleans up what a test made, even when it panics.

#![allow(dead_code)] // each test file uses its own part of this support module

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openstack::cinder::volumes;
use openstack::neutron::ports;
use openstack::nova::{flavors, servers, volume_attachments};
use openstack::{Client, CloudArg, ConfigLoader};

pub const WAIT: Duration = Duration::from_secs(180);

use testbed::openstack::HOW_TO_START;

/// What `scripts/testbed env openstack` exports.
pub type TestBed = testbed::openstack::Cloud;

pub fn testbed() -> TestBed {
    TestBed::from_env()
}

static COMPUTE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Tests that make Nova's single compute service work take turns: on a two-core machine running
/// the whole control plane, concurrent builds and attachments starve its RPC replies.
pub async fn compute_turn() -> tokio::sync::MutexGuard<'static, ()> {
    COMPUTE.lock().await
}

pub fn config(cloud: &str) -> openstack::CloudConfig {
    ConfigLoader::from_process()
        .load(Some(&CloudArg::Name(cloud.to_owned())))
        .unwrap_or_else(|e| panic!("{e}; {HOW_TO_START}"))
}

pub async fn connect(cloud: &str) -> Client {
    Client::connect(config(cloud))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to cloud {cloud}: {e}; {HOW_TO_START}"))
}

pub fn random_u32() -> u32 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.finish() as u32
}

/// A name no other run uses, starting with `osc-test-` so leftovers are easy to spot.
pub fn unique_name(what: &str) -> String {
    format!("osc-test-{what}-{:08x}", random_u32())
}

/// What a test made, removed in reverse order when the test ends.
#[derive(Debug, Clone)]
pub enum Made {
    Volume(String),
    Attachment {
        server_id: String,
        volume_id: String,
    },
    Port(String),
    Server(String),
    Flavor(String),
}

#[derive(Clone, Default)]
pub struct Cleanup {
    made: Arc<Mutex<Vec<Made>>>,
}

impl Cleanup {
    pub fn add(&self, made: Made) {
        self.made.lock().expect("cleanup list").push(made);
    }

    async fn run(&self, client: &Client, admin: &Client) {
        let made: Vec<Made> = self
            .made
            .lock()
            .expect("cleanup list")
            .drain(..)
            .rev()
            .collect();
        for item in made {
            let outcome = match &item {
                Made::Server(id) => match servers::delete(client, id).await {
                    Ok(()) => servers::wait_deleted(client, id, WAIT).await,
                    Err(e) => Err(e),
                },
                Made::Attachment {
                    server_id,
                    volume_id,
                } => match volume_attachments::detach(client, server_id, volume_id).await {
                    Ok(()) => volume_attachments::wait_detached(client, server_id, volume_id, WAIT)
                        .await
                        .map(drop),
                    Err(e) => Err(e),
                },
                Made::Volume(id) => {
                    let _ = volumes::wait_status(client, id, "available", WAIT).await;
                    match volumes::delete(client, id).await {
                        Ok(()) => volumes::wait_deleted(client, id, WAIT).await,
                        Err(e) => Err(e),
                    }
                }
                Made::Port(id) => ports::delete(client, id).await,
                Made::Flavor(id) => flavors::delete(admin, id).await,
            };
            match outcome {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => eprintln!("cleanup of {item:?} failed: {e}"),
            }
        }
    }
}

/// Runs a scenario as its own task, then removes what it recorded, then re-raises its panic.
pub async fn with_cleanup<F, Fut>(client: Client, admin: Client, scenario: F)
where
    F: FnOnce(Client, Cleanup) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let cleanup = Cleanup::default();
    let outcome = tokio::spawn(scenario(client.clone(), cleanup.clone())).await;
    cleanup.run(&client, &admin).await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("scenario did not finish: {error}"),
        }
    }
}
