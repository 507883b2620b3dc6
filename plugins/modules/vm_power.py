# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/vm_power symlink.

DOCUMENTATION = r'''
---
module: vm_power
short_description: Power a vSphere VM on or off
version_added: "3.0.0"
description:
  - Powers the VM on (C(PowerOnVM_Task)) or off (C(PowerOffVM_Task), a hard power-off), unless it
    already is; C(changed) says whether it did.
  - The import_workloads role uses it to power a source VM on again when its migration powered
    it off and no server could be made from its volumes (C(restore_source_power_on_failure)
    of the role).
  - "Needs no Python library: no pyvmomi, no vmware.vmware collection."
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.vsphere
options:
  vm_name:
    description:
      - The VM's name; it must match exactly one VM unless O(folder) finds it.
    type: str
    required: true
    aliases: [vmname, name]
  folder:
    description:
      - The VM's inventory folder (C(hw_folder) of guest_info.json, e.g. C(/DC1/vm/Linux)); the VM
        is looked up by name when it is not there.
    type: str
    aliases: [vddkpath]
  state:
    description:
      - C(powered-on) or C(powered-off).
    type: str
    default: powered-on
    choices: [powered-on, powered-off]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Power the source VM on again
  os_migrate.vmware_migration_kit.vm_power:
    server: vcenter.example.com
    user: migrator@vsphere.local
    password: "{{ vcenter_password }}"
    vm_name: web01
    state: powered-on
'''

RETURN = r'''
msg:
  description: What was done.
  returned: always
  type: str
power_state:
  description: "The VM's power state now (C(poweredOn), C(poweredOff)); in check mode, before the change."
  returned: success
  type: str
'''
