# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/inflight_limit symlink.

DOCUMENTATION = r'''
---
module: inflight_limit
short_description: Hold a VM's place among the migrations in flight on its ESXi host and datastores
version_added: "3.0.0"
description:
  - Caps how many migrations of one run read from one ESXi host (O(max_per_esxi)) or from one
    datastore (O(max_per_datastore)) at once, across every conversion host and slot. The
    import_workloads role takes a VM's places before C(migrate) starts (so before the power-off
    and the snapshot) and gives them back once its result is collected.
  - With O(state=acquired) it waits until each limited resource of the VM has a free place,
    then takes them all at once. Waiters are served in the order they came, per resource, so a
    VM that needs a host and a datastore is not overtaken for ever by VMs that need one of them.
    The wait ends with a failure after O(timeout) seconds, naming the full resources and who
    holds them, and at once when the Ansible task that started it is gone (a cancelled play).
  - The places live in O(dir), a directory of the controller that every slot of the run sees
    (the playbooks make one per run). Runs on the controller (C(delegate_to=localhost)).
  - A limit of 0 means no limit for that kind of resource. A resource the VM does not name
    (no O(esxi_host), no O(datastores)) is not limited.
author:
  - os-migrate contributors (@os-migrate)
options:
  dir:
    description:
      - Directory of this run's places, on the controller; created (mode 0700) when absent.
    type: path
    required: true
  vm_name:
    description:
      - The VM whose places these are.
    type: str
    required: true
  esxi_host:
    description:
      - The ESXi host the VM runs on, as export_metadata wrote it (C(hw_esxi_host)).
      - Required when O(max_per_esxi) is above 0.
    type: str
    required: false
  datastores:
    description:
      - The datastores of the VM's disks and home (C(hw_datastores)).
    type: list
    elements: str
    default: []
  max_per_esxi:
    description:
      - VMs of one ESXi host in flight at once; 0 for no limit.
    type: int
    default: 0
  max_per_datastore:
    description:
      - VMs with a disk or home on one datastore in flight at once; 0 for no limit.
    type: int
    default: 0
  state:
    description:
      - C(acquired) waits for and takes the places; C(released) gives them back (and leaves
        the queue); releasing places not held changes nothing.
    type: str
    choices: [acquired, released]
    default: acquired
  timeout:
    description:
      - Seconds to wait for the places before failing.
    type: int
    default: 86400
  poll_interval:
    description:
      - Seconds between two looks at the places while waiting (at least 1).
    type: int
    default: 1
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Wait for a place on the VM's ESXi host (at most 4 VMs of a host at once)
  os_migrate.vmware_migration_kit.inflight_limit:
    dir: /opt/os-migrate/inflight/run-1
    vm_name: web01
    esxi_host: esxi-07.example.com
    datastores: [ds-gold]
    max_per_esxi: 4
  delegate_to: localhost

- name: Give the places back
  os_migrate.vmware_migration_kit.inflight_limit:
    dir: /opt/os-migrate/inflight/run-1
    vm_name: web01
    state: released
  delegate_to: localhost
'''

RETURN = r'''
msg:
  description: What was taken or given back, and how long the wait took.
  returned: always
  type: str
waited_s:
  description: Seconds waited for the places.
  returned: when O(state=acquired)
  type: float
in_flight:
  description: Per limited resource (C(ESXi host NAME), C(datastore NAME)), the VMs in flight on it once the places were taken, this one included.
  returned: when O(state=acquired)
  type: dict
'''
