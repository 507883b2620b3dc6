# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/flavor_info symlink.

DOCUMENTATION = r'''
---
module: flavor_info
short_description: Look up a Nova flavor by name or id
version_added: "3.0.0"
description:
  - Finds the flavor with this id, or else the only flavor with this name.
  - Changes nothing; runs the same in check mode.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
options:
  flavor_name:
    description:
      - The flavor's name or id.
    type: str
    required: true
    aliases: [flavor, name]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Read the chosen flavor
  os_migrate.vmware_migration_kit.flavor_info:
    cloud: dst
    flavor_name: m1.medium
  register: flavor
'''

RETURN = r'''
msg:
  description: The flavor's name and sizes.
  returned: always
  type: str
flavor:
  description: The flavor, with the original module's field names as well.
  returned: success
  type: dict
  contains:
    id: {description: Flavor id., type: str, returned: always}
    name: {description: Flavor name., type: str, returned: always}
    vcpus: {description: Virtual CPUs., type: int, returned: always}
    ram: {description: RAM in MiB., type: int, returned: always}
    disk: {description: Root disk in GiB (0 means the size of the boot volume or image)., type: int, returned: always}
    swap: {description: Swap in MiB., type: int, returned: always}
    ephemeral: {description: Ephemeral disk in GiB (also as C(OS-FLV-EXT-DATA:ephemeral))., type: int, returned: always}
    is_public: {description: Public flavor (also as C(os-flavor-access:is_public))., type: bool, returned: always}
    extra_specs: {description: "Extra specs, when the policy shows them.", type: dict, returned: always}
'''
