//! Real peers for tests. Each module starts one kind of server and stops it on drop.
pub mod disk;
pub mod hostile;
pub mod nbdkit;
pub mod openstack;
pub mod vsphere;
