# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/volume_info symlink.

DOCUMENTATION = r'''
---
module: volume_info
short_description: Look up one Cinder volume by name or id
version_added: "3.0.0"
description:
  - Finds the volume with this id, or else the only volume with this name; fails when none or
    several match.
  - Changes nothing; runs the same in check mode.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
options:
  name:
    description:
      - The volume's name or id.
    type: str
    required: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Find the boot volume
  os_migrate.vmware_migration_kit.volume_info:
    cloud: dst
    name: web01-2000
  register: boot
'''

RETURN = r'''
msg:
  description: One-line summary.
  returned: always
  type: str
volumes:
  description: A one-element list with the volume, as the original module returned it.
  returned: success
  type: list
  elements: dict
  contains:
    id: {description: Volume id., type: str, returned: always}
    name: {description: Volume name., type: str, returned: always}
    status: {description: "Cinder status (available, in-use, ...).", type: str, returned: always}
    size: {description: Size in GiB., type: int, returned: always}
    bootable: {description: Whether the volume is bootable., type: bool, returned: always}
    metadata: {description: The volume's metadata., type: dict, returned: always}
    volume_image_metadata: {description: The image properties Nova reads when booting from the volume., type: dict, returned: always}
    volume_type: {description: Volume type name., type: str, returned: always}
    availability_zone: {description: Availability zone., type: str, returned: always}
    attachments: {description: "C(server_id), C(attachment_id), C(device) of each attachment.", type: list, returned: always}
'''
