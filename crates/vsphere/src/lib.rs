//! A vSphere Web Services (SOAP) client: what a migration needs from vCenter or ESXi.
//!
//! Shaped like govmomi: a transport ([`soap`]) that knows nothing of methods, one small function
//! per SOAP method next to the wire types of its vSphere concept, and thin typed results.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vsphere::Error> {
//! use vsphere::{Client, ConnectOptions, Password, TlsMode, finder, snapshot, vm};
//!
//! let client = Client::connect(&ConnectOptions {
//!     server: "vcenter.example.com".into(),
//!     user: "administrator@vsphere.local".into(),
//!     password: Password::new("secret"),
//!     tls: TlsMode::Thumbprint("AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD".parse()?),
//! })
//! .await?;
//! let selector = finder::VmSelector::InventoryPath { folder: "/DC0/vm/Linux".into(), name: "web01".into() };
//! let moref = finder::resolve(&client, &selector).await?;
//! let machine = vm::get(&client, &moref).await?;
//! for disk in machine.disks() {
//!     println!("{} {} bytes on {:?}", disk.label, disk.capacity_bytes, disk.datastore);
//! }
//! let options = snapshot::CreateSnapshot { name: "migration".into(), description: String::new(), quiesce: false };
//! let snap = snapshot::create_snapshot(&client, &moref, &options, |percent| println!("{percent}%")).await?;
//! snapshot::remove_snapshot(&client, &snap, true, |_| {}).await?;
//! client.logout().await
//! # }
//! ```

pub mod cbt;
pub mod datastore;
pub mod device;
pub mod error;
pub mod extra_config;
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
