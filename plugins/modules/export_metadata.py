# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/export_metadata symlink.

DOCUMENTATION = r'''
---
module: export_metadata
short_description: Export VMs' metadata from vSphere into the migration data directory
version_added: "3.0.0"
description:
  - Reads VMs from vCenter or ESXi over the vSphere Web Services API, all of them in one
    property-collector round trip, and writes for each one C(<os_migrate_vmw_data_dir>/<vm>/)
    with C(guest_info.json) (the C(vmware.vmware.guest_info) fields the original roles read,
    plus a C(vmkit) key with firmware, secure boot, CPU topology, controllers, disks with
    datastore, bus and mode, NICs with adapter type and IPv6, the inventory chain and problem
    devices), C(disk_info.json), C(network_info.json), and C(nics.json) (networks mapped through
    O(network_map)) or C(macs.json).
  - The file formats are described in docs/data-files.md of the collection's source.
  - A VM that cannot be found or exported does not stop the others; the module then fails at
    the end, naming every VM that failed, and still returns the results of the others.
  - Files are rewritten only when their content changes, so a second run reports no change.
    In check mode nothing is written, C(changed) tells whether files would change, and each
    VM's C(metadata) holds what its files would hold.
  - "Needs no Python library: no pyvmomi, no vmware.vmware collection."
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.vsphere
options:
  vmname:
    description:
      - One VM name or a list of names. Each must match exactly one VM (inside O(folder) when
        that is given).
    type: list
    elements: str
    aliases: [vm_name, vms_list]
  folder:
    description:
      - Every VM under this folder, given as an inventory path (C(/DC1/vm/Linux)) or below the
        datacenter's VM folder (C(Linux)). With O(vmname), only the named VMs in it.
    type: str
  os_migrate_vmw_data_dir:
    description:
      - The migration data directory; each VM gets C(<os_migrate_vmw_data_dir>/<vm>/).
    type: path
    required: true
  network_map:
    description:
      - vSphere network to Neutron network. The key is a NIC's distributed portgroup key
        (C(dvportgroup-42)), else its standard portgroup name, else the distributed portgroup's
        name. The value is C(<neutron network name or id>[,<subnet uuid>]).
      - NICs on unmapped networks are left out of C(nics.json); a VM none of whose NICs is
        mapped fails.
    type: dict
  used_mapped_networks:
    description:
      - Write C(nics.json) through O(network_map) (true) or C(macs.json) (false). Defaults to
        whether O(network_map) is given.
    type: bool
  subnet_uuid:
    description:
      - The C(subnet) of every C(macs.json) entry.
    type: str
    default: ""
    aliases: [export_metadata_subnet_uuid]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Export the VMs of the migration
  os_migrate.vmware_migration_kit.export_metadata:
    server: "{{ vcenter_hostname }}"
    user: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    thumbprint: "{{ vcenter_thumbprint }}"
    vmname: "{{ vms_list }}"
    os_migrate_vmw_data_dir: /opt/os-migrate
    network_map:
      VM Network: private
      dvportgroup-42: "prod,0f1c2d3e-aaaa-bbbb-cccc-123456789abc"

- name: Export a whole folder without network mapping
  os_migrate.vmware_migration_kit.export_metadata:
    server: vcenter.example.com
    user: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    folder: /DC1/vm/Linux
    os_migrate_vmw_data_dir: /opt/os-migrate
'''

RETURN = r'''
msg:
  description: One-line summary; on failure, the VMs that failed and why.
  returned: always
  type: str
vms:
  description: The exported VMs, by name.
  returned: always
  type: dict
  contains:
    moref:
      description: The VM's managed object id (C(vm-42)).
      type: str
      returned: always
    path:
      description: The VM's data directory.
      type: str
      returned: always
    changed:
      description: Whether any of its files changed (or would change in check mode).
      type: bool
      returned: always
    files:
      description: File name to C(created), C(updated) or C(unchanged).
      type: dict
      returned: always
    metadata:
      description:
        - File name (C(guest_info.json), C(disk_info.json), C(network_info.json), and
          C(nics.json) or C(macs.json)) to the JSON the file would hold.
        - Only in check mode, where nothing is written, so that the next steps can plan from it.
      type: dict
      returned: in check mode
failed_vms:
  description: VM name to the reason it could not be exported.
  returned: always
  type: dict
'''
