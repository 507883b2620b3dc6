# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/create_server symlink.

DOCUMENTATION = r'''
---
module: create_server
short_description: Create the server of a migrated VM, booting from its volume
version_added: "3.0.0"
description:
  - Creates a Nova server that boots from I(boot_volume) with I(volumes) attached after it (never
    deleted with the server), on the given ports or networks, with the key pair I(key_name), the
    security groups, availability zone, user data and flavor.
  - Names are resolved to ids first, so a missing flavor, volume, port, network or security group, a
    boot volume that is not bootable, a volume still attached, or a port in use is said before
    anything is made.
  - The server carries the tag C(os-migrate-vmware). A second run finds the server with this name
    and the tag and makes nothing; a same-named server without the tag is an error.
  - With I(wait), waits for ACTIVE; ERROR fails with Nova's fault message.
  - In check mode, reports whether it would create the server.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
options:
  name:
    description:
      - The server's name.
    type: str
    required: true
  nics:
    description:
      - One dict per NIC, C(port-id) (as create_network_port returns) or C(net-id) (a network name or id).
    type: list
    elements: dict
    default: []
  boot_volume:
    description:
      - The volume (name or id) the server boots from; it must be bootable and not attached.
    type: str
    required: true
  volumes:
    description:
      - Data volumes (names or ids), attached in this order.
    type: list
    elements: str
    default: []
  security_groups:
    description:
      - Security group names or ids; a single name works too.
    type: list
    elements: str
    default: []
  flavor:
    description:
      - The flavor's name or id.
    type: str
    required: true
  key_name:
    description:
      - The key pair to inject (the original accepted it but never sent it). A key pair that does
        not exist is a warning and the server is made without one, as the original made it.
    type: str
  boot_from_cinder:
    description:
      - Accepted for compatibility; the server always boots from I(boot_volume).
    type: bool
    default: true
  availability_zone:
    description:
      - The availability zone of the server.
    type: str
  user_data:
    description:
      - cloud-init user data (sent base64-encoded).
    type: str
  state:
    description:
      - Accepted for compatibility; use delete_server to remove a server.
    type: str
    default: present
    choices: [present]
  wait:
    description:
      - Wait until the server is ACTIVE.
    type: bool
    default: true
  timeout:
    description:
      - How many seconds to wait, with I(wait).
    type: int
    default: 600
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Boot the migrated VM
  os_migrate.vmware_migration_kit.create_server:
    cloud: dst
    name: web01
    boot_volume: "{{ migrate.id[0] }}"
    volumes: "{{ migrate.id[1:] }}"
    nics: "{{ ports.ports }}"
    flavor: "{{ flavor_match.openstack_flavor_uuid }}"
    key_name: ops
    security_groups: default
'''

RETURN = r'''
msg:
  description: What was done.
  returned: always
  type: str
id:
  description: The server's id (null in check mode when it would be created).
  returned: success
  type: str
server:
  description: The server as Nova shows it after the wait.
  returned: success and not check mode
  type: dict
  contains:
    id: {description: Server id., type: str, returned: always}
    name: {description: Server name., type: str, returned: always}
    status: {description: Nova status., type: str, returned: always}
    key_name: {description: The key pair Nova recorded., type: str, returned: always}
    flavor: {description: "The flavor's name (Nova embeds the flavor without its id).", type: str, returned: always}
    availability_zone: {description: Availability zone., type: str, returned: always}
    addresses: {description: "Network name to its addresses (C(addr), C(version), C(mac_addr)).", type: dict, returned: always}
    volumes_attached: {description: Ids of the attached volumes., type: list, returned: always}
    tags: {description: The server's tags., type: list, returned: always}
'''
