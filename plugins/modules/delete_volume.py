# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/delete_volume symlink.

DOCUMENTATION = r'''
---
module: delete_volume
short_description: Delete an OpenStack volume by name or id
version_added: "3.0.0"
description:
  - Deletes the volume with this id, or else the only volume with this name. Several volumes with
    the name is an error.
  - A volume that does not exist is not an error; the module then reports C(changed=false).
  - Refuses a volume that is still attached, naming the server to delete or detach first. Waits
    until Cinder no longer lists the volume.
  - In check mode, reports whether it would delete.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
  - os_migrate.vmware_migration_kit.openstack.wait
options:
  name:
    description:
      - The volume's id or name.
    type: str
    required: true
    aliases: [id]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Delete the migrated volume
  os_migrate.vmware_migration_kit.delete_volume:
    cloud: dst
    name: web01
'''

RETURN = r'''
msg:
  description: What was done.
  returned: always
  type: str
id:
  description: The id of the volume deleted (or that would be in check mode); null when there was none.
  returned: success
  type: str
'''
