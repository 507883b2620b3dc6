# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/import_flavor symlink.

DOCUMENTATION = r'''
---
module: import_flavor
short_description: Create the flavor export_flavor described, unless it exists
version_added: "3.0.0"
description:
  - Reads flavors.yml (the os-migrate resource file export_flavor writes) and creates its flavor
    with its extra specs.
  - If a flavor with that name exists, nothing is made and C(changed=false); differing sizes are
    reported as warnings.
  - Creating a flavor needs an administrator by default; the error says so.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.openstack
options:
  flavors_file:
    description:
      - Path of flavors.yml.
    type: path
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
- name: Create the VM's flavor
  os_migrate.vmware_migration_kit.import_flavor:
    cloud: dst-admin
    flavors_file: /opt/os-migrate/web01/flavors.yml
'''

RETURN = r'''
msg:
  description: What was done.
  returned: always
  type: str
created_flavor:
  description: C(name) and C(id) of the flavor (created, or found; C(id) is null in check mode when it would be created).
  returned: success
  type: dict
'''
