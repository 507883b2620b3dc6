//! A vSphere Web Services (SOAP) client: what a migration needs from vCenter or ESXi.
//!
//! Shaped like govmomi: a transport ([`soap`]) that knows nothing of methods, one small function
//! per SOAP method next to the wire types of its vSphere concept, and thin typed results.

pub mod cbt;
pub mod datastore;
pub mod device;
pub mod error;
pub mod fault;
pub mod finder;
pub mod inventory;
pub mod moref;
pub mod power;
pub mod property_collector;
pub mod secret;
pub mod session;
pub mod snapshot;
pub mod soap;
pub mod task;
pub mod tls;
pub mod vm;
pub mod xml;

pub use error::Error;
pub use fault::{Fault, FaultKind};
pub use moref::MoRef;
pub use secret::Password;
pub use session::{About, Client, ConnectOptions, KeepAlive, ServiceContent};
pub use tls::{Thumbprint, TlsMode};
pub use vm::VirtualMachine;
