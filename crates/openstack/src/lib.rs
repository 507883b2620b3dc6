//! A thin OpenStack client for the migration: Keystone v3 auth with clouds.yaml, Cinder v3
//! volumes, Nova servers/attachments/flavors, Neutron networks/subnets/ports/security groups.
//!
//! Each resource lives in one module with its request options, result types and calls, as in
//! gophercloud: `cinder::volumes::{CreateOpts, Volume, create, get, wait_status}`.
//! Everything is async; a module binary drives it from a runtime at its edge.
//!
//! ```no_run
//! # async fn demo(cloud_arg: &serde_json::Value) -> openstack::Result<()> {
//! use openstack::{CloudArg, ConfigLoader, Client, cinder::volumes};
//! // A module's `cloud` argument: a clouds.yaml name or the original's inline dict.
//! let arg = CloudArg::from_value(cloud_arg)?;
//! let mut config = ConfigLoader::from_process().load(arg.as_ref())?;
//! config.verify = true; // module-level validate_certs / ca_cert / region_name / interface go here
//! let client = Client::connect(config).await?; // authenticates now: bad credentials fail here
//! let found = volumes::list(&client, &volumes::ListOpts { name: Some("vm1-2000".into()), ..Default::default() }).await?;
//! # let _ = found; Ok(()) }
//! ```
//!
//! Errors: [`Error::Api`] keeps method, URL, status, the service's error class and message;
//! [`Error::is_not_found`], [`Error::is_conflict`] and [`Error::is_quota_exceeded`] classify it.
//! A 401 at any time leads to one new token and one retry of that call; 429/503 (and 502/504
//! for idempotent methods) are retried with backoff, honouring `Retry-After`.

pub mod auth;
pub mod cinder;
pub mod client;
pub mod config;
pub mod error;
pub mod neutron;
pub mod nova;
pub mod region;
pub mod secret;
pub mod service;
mod wait;

pub use client::{Client, ClientOptions, Request, Response};
pub use config::{CloudArg, CloudConfig, ConfigLoader};
pub use error::{ApiError, Error, Result};
pub use secret::Secret;
pub use service::{Interface, ServiceType};

/// Connects to the cloud a module argument names (or the environment's, when `None`).
pub async fn connect(cloud: Option<&CloudArg>) -> Result<Client> {
    let config = ConfigLoader::from_process().load(cloud)?;
    Client::connect(config).await
}
