//! How the migration marks what it makes, so a re-run finds it again (Nova server tags and
//! Neutron port tags; the description says the same for people reading the dashboard).

/// The tag on every port and server the migration made.
pub const TAG: &str = "os-migrate-vmware";

/// The description of a port made for a VM's NIC.
pub fn port_description(vm_name: &str) -> String {
    format!("os_migrate.vmware_migration_kit: NIC of VMware VM {vm_name}")
}

/// The description of a server made from a VM.
pub fn server_description(vm_name: &str) -> String {
    format!("os_migrate.vmware_migration_kit: migrated from VMware VM {vm_name}")
}
