//! Deleting a server, volume, port or flavor by name or id. Already gone is not an error: the
//! caller wanted it gone, and a re-run of a teardown must not fail.

use std::time::Duration;

use openstack::Client;
use openstack::cinder::volumes;
use openstack::neutron::ports;
use openstack::nova::{flavors, servers};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Server,
    Volume,
    Port,
    Flavor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Volume => "volume",
            Kind::Port => "port",
            Kind::Flavor => "flavor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// It was deleted (and, when waited for, is gone).
    Deleted { id: String },
    /// Check mode: it exists and would be deleted.
    WouldDelete { id: String },
    /// Nothing with that name or id exists.
    Absent,
}

/// `wait`: None returns once the service accepted the deletion.
pub async fn delete(
    client: &Client,
    kind: Kind,
    name_or_id: &str,
    check_mode: bool,
    wait: Option<Duration>,
) -> Result<Deleted> {
    let found = match kind {
        Kind::Server => servers::find(client, name_or_id)
            .await
            .map(|s| (s.id, vec![])),
        Kind::Volume => volumes::find(client, name_or_id).await.map(|v| {
            let servers = v.attachments.into_iter().map(|a| a.server_id).collect();
            (v.id, servers)
        }),
        Kind::Port => ports::find(client, name_or_id)
            .await
            .map(|p| (p.id, vec![])),
        Kind::Flavor => flavors::find(client, name_or_id)
            .await
            .map(|f| (f.id, vec![])),
    };
    let (id, attached_to): (String, Vec<String>) = match found {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return Ok(Deleted::Absent),
        Err(e) => return Err(e.into()),
    };
    // Said before asking Cinder, whose refusal only lists every status it would allow.
    if !attached_to.is_empty() {
        return Err(Error::Invalid(format!(
            "volume {name_or_id:?} ({id}) is attached to server(s) {}; delete the server or detach the volume first",
            attached_to.join(", ")
        )));
    }
    if check_mode {
        return Ok(Deleted::WouldDelete { id });
    }
    let outcome = match kind {
        Kind::Server => servers::delete(client, &id).await,
        Kind::Volume => volumes::delete(client, &id).await,
        Kind::Port => ports::delete(client, &id).await,
        Kind::Flavor => flavors::delete(client, &id).await,
    };
    match outcome {
        Ok(()) => {}
        // Someone else deleted it between the lookup and now: it is gone, as wanted.
        Err(e) if e.is_not_found() => return Ok(Deleted::Absent),
        Err(e) => return Err(e.into()),
    }
    if let Some(timeout) = wait {
        match kind {
            Kind::Server => servers::wait_deleted(client, &id, timeout).await?,
            Kind::Volume => volumes::wait_deleted(client, &id, timeout).await?,
            // Neutron and Nova flavors delete synchronously.
            Kind::Port | Kind::Flavor => {}
        }
    }
    Ok(Deleted::Deleted { id })
}
