# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/conversion_host_info symlink.

DOCUMENTATION = r'''
---
module: conversion_host_info
short_description: Report what a conversion host has for migrations
version_added: "3.0.0"
description:
  - Reports the nbdkit version and its installed plugins and filters, whether the nbdkit
    vddk plugin and a VDDK library directory are present, whether virt-v2v-in-place and
    virtio-win are installed, the CPU count, memory, the free space of the migration data
    directory and the kernel.
  - Changes nothing; runs the same in check mode.
  - Needs no Python on the conversion host.
author:
  - os-migrate contributors (@os-migrate)
options:
  os_migrate_vmw_data_dir:
    description:
      - The migration data directory. Its free space is reported; if it does not exist yet,
        that of its nearest existing parent.
    type: path
    required: true
  libdir:
    description:
      - The VDDK directory (C(vmware-vix-disklib-distrib)), as passed to the migrate module.
        Its C(lib64/libvixDiskLib.so*) is looked for.
    type: path
    default: /usr/lib/vmware-vix-disklib
    aliases: [conversion_host_vmware_lib_dir]
  transport:
    description:
      - When given, what this host lacks to migrate over this transport is listed in RV(problems) -
        what migrate would refuse for on this host - the transport's nbdkit plugin (for C(vddk),
        the plugin loading VDDK from O(libdir)), C(virt-v2v-in-place) unless O(skipconversion),
        and room in O(os_migrate_vmw_data_dir) for a run's files. C(validate.yml) asks this of every
        conversion host.
    type: str
    choices: [vddk, https, file]
  skipconversion:
    description:
      - With O(transport), guests are not converted, so C(virt-v2v-in-place) is not needed.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Inspect the conversion host
  os_migrate.vmware_migration_kit.conversion_host_info:
    os_migrate_vmw_data_dir: /opt/os-migrate
  register: conv_host

- name: Fail early without the vddk plugin
  ansible.builtin.assert:
    that: conv_host.conversion_host.vddk.plugin
    fail_msg: "nbdkit's vddk plugin is not installed on {{ inventory_hostname }}"
'''

RETURN = r'''
msg:
  description: One-line summary.
  returned: always
  type: str
conversion_host:
  description: Facts about the conversion host.
  returned: success
  type: dict
  contains:
    nbdkit:
      description: C(installed), C(path), C(version), C(plugindir), C(filterdir), C(plugins), C(filters).
      type: dict
      returned: always
    vddk:
      description:
        - C(plugin) (vddk plugin installed), C(libdir), C(libdir_present), C(library), C(version) (VDDK's, from
          the name of the library file the plugin loads, e.g. C(8.0.3); the NFC AIO settings of C(vddk_config)
          need 7.0.1 or newer).
        - C(plugin_version) and C(library_major), as nbdkit's own probe C(nbdkit vddk --dump-plugin libdir=...) says
          (C(library_major) is null when the plugin found no VDDK in C(libdir)).
      type: dict
      returned: always
    virt_v2v_in_place:
      description: C(installed), C(path).
      type: dict
      returned: always
    virtio_win:
      description: C(installed), C(path), C(version).
      type: dict
      returned: always
    cpus:
      description: CPUs this process may use (as C(nproc)).
      type: int
      returned: always
    memory:
      description: C(total_bytes), C(available_bytes).
      type: dict
      returned: always
    free_space:
      description: C(path), C(measured_path), C(free_bytes), C(total_bytes).
      type: dict
      returned: always
    kernel:
      description: C(release), C(machine).
      type: dict
      returned: always
    os:
      description: C(id), C(version_id), C(pretty_name) from /etc/os-release.
      type: dict
      returned: always
ready:
  description: Whether nothing is missing for O(transport).
  returned: when O(transport) is given
  type: bool
problems:
  description: What this host lacks for O(transport), each with what to do.
  returned: when O(transport) is given
  type: list
  elements: str
'''
