# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/create_network_port symlink.

DOCUMENTATION = r'''
---
module: create_network_port
short_description: Create the Neutron ports of a VM's NICs, keeping their MACs
version_added: "3.0.0"
description:
  - Makes one port per NIC listed in nics.json (I(used_mapped_networks), each NIC on its mapped
    network) or macs.json (every NIC on I(network_name)), named C(<vm>-NIC-<n>-VLAN-<network>),
    with the NIC's MAC address.
  - With I(use_fixed_ips), the VM's IPv4 and IPv6 addresses become the port's fixed IPs, each on the
    subnet that holds it (I(subnet_uuid) first, then the NIC's own subnet, then the network's
    subnets); link-local addresses are left out and an address no subnet holds is a warning.
  - Without addresses, I(subnet_uuid) (or the NIC's subnet) is the subnet Neutron allocates from;
    with I(use_fixed_ips), a NIC whose guest reports no address is a warning and Neutron allocates
    (the original's behaviour).
  - Ports carry the tag C(os-migrate-vmware). A second run finds the port with the NIC's MAC and our
    tag and makes nothing; a port with that MAC that the migration did not make is an error
    naming it.
  - In check mode, reports which ports would be made.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
options:
  os_migrate_nics_file_path:
    description:
      - Path of nics.json (with I(used_mapped_networks)) or macs.json.
      - Exactly one of O(os_migrate_nics_file_path) and O(nics) is needed.
    type: path
  nics:
    description:
      - What nics.json or macs.json holds, given inline, e.g. the C(metadata) that
        export_metadata returns in check mode, when it writes no file.
    type: list
    elements: dict
  vm_name:
    description:
      - The VM's name, for the port names.
    type: str
    required: true
  used_mapped_networks:
    description:
      - The file is nics.json, where each NIC names its network (from C(network_map)).
    type: bool
    default: false
  security_groups:
    description:
      - Security group names or ids given to every port; a single name works too.
      - Empty gives the project's default group.
    type: list
    elements: str
    default: []
  network_name:
    description:
      - The network (name or id) of every NIC when networks are not mapped.
    type: str
  use_fixed_ips:
    description:
      - Give each port the VM's addresses as fixed IPs (IPv4 and IPv6).
    type: bool
    default: false
  subnet_uuid:
    description:
      - The subnet (id or name) for the fixed IPs, or to allocate from; it must be on the port's network.
    type: str
    aliases: [fixed_ip_subnet_uuid]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Ports for web01, keeping MACs and addresses
  os_migrate.vmware_migration_kit.create_network_port:
    cloud: dst
    os_migrate_nics_file_path: /opt/os-migrate/web01/nics.json
    vm_name: web01
    used_mapped_networks: true
    security_groups: [default, web]
    use_fixed_ips: true
  register: ports
'''

RETURN = r'''
msg:
  description: How many ports were made and found.
  returned: always
  type: str
ports:
  description: One entry per NIC, in the file's order; pass it to create_server's I(nics).
  returned: success
  type: list
  elements: dict
  contains:
    port-id: {description: The port's id (null in check mode when it would be made)., type: str, returned: always}
    name: {description: The port's name., type: str, returned: always}
    mac_address: {description: The port's MAC address., type: str, returned: always}
    network_id: {description: The port's network., type: str, returned: always}
    fixed_ips: {description: C(subnet_id) and C(ip_address) of each fixed IP., type: list, returned: always}
    created: {description: Whether this run made (or would make) the port., type: bool, returned: always}
'''
