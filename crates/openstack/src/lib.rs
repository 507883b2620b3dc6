//! A thin OpenStack client for the migration: Keystone v3 auth with clouds.yaml, Cinder v3
//! volumes, Nova servers/attachments/flavors, Neutron networks/subnets/ports/security groups.
//!
//! Each resource lives in one module with its request options, result types and calls, as in
//! gophercloud: `cinder::volumes::{CreateOpts, Volume, create, get, wait_status}`.
//! Everything is async; a module binary drives it from a runtime at its edge.

pub mod auth;
pub mod cinder;
pub mod client;
pub mod config;
pub mod error;
pub mod neutron;
pub mod nova;
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
