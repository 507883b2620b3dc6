# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/best_match_flavor symlink.

DOCUMENTATION = r'''
---
module: best_match_flavor
short_description: Choose the smallest existing flavor that fits a VM
version_added: "3.0.0"
description:
  - Reads the VM's vCPUs and memory from guest_info.json and its disks from disk_info.json (as
    export_metadata wrote them, or their content given inline) and chooses, among the flavors the project sees, the smallest
    one with at least the VM's vCPUs and RAM.
  - With I(boot_from_volume) (the default; migrated servers boot from their first disk's volume) the
    flavor's disk size is not compared. Otherwise the flavor's disk must hold all of the VM's
    disks (rounded up to GiB).
  - Smallest means fewest vCPUs, then least RAM, then smallest disk, then name; disabled flavors are
    never chosen.
  - Fails, saying what the VM needs and the largest flavor there is, when no flavor fits.
  - Changes nothing; runs the same in check mode.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
options:
  guest_info_path:
    description:
      - Path of the VM's guest_info.json.
      - Exactly one of O(guest_info_path) and O(guest_info) is needed.
    type: path
  disk_info_path:
    description:
      - Path of the VM's disk_info.json.
      - Exactly one of O(disk_info_path) and O(disk_info) is needed.
    type: path
  guest_info:
    description:
      - What the VM's guest_info.json holds, given inline, e.g. the C(metadata) that
        export_metadata returns in check mode, when it writes no file.
    type: dict
  disk_info:
    description:
      - What the VM's disk_info.json holds, given inline.
    type: dict
  boot_from_volume:
    description:
      - The server boots from a volume, so the flavor's root disk size is not compared.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Choose a flavor
  os_migrate.vmware_migration_kit.best_match_flavor:
    cloud: dst
    guest_info_path: /opt/os-migrate/web01/guest_info.json
    disk_info_path: /opt/os-migrate/web01/disk_info.json
  register: flavor_match

- name: Choose a flavor in check mode, from what export_metadata would write
  os_migrate.vmware_migration_kit.best_match_flavor:
    cloud: dst
    guest_info: "{{ export.vms.web01.metadata['guest_info.json'] }}"
    disk_info: "{{ export.vms.web01.metadata['disk_info.json'] }}"
'''

RETURN = r'''
msg:
  description: The flavor chosen and what the VM needs.
  returned: always
  type: str
openstack_flavor_uuid:
  description: The chosen flavor's id.
  returned: success
  type: str
flavor:
  description: The chosen flavor.
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
