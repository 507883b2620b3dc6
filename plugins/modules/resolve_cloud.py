# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/resolve_cloud symlink.

DOCUMENTATION = r'''
---
module: resolve_cloud
short_description: Read an OpenStack cloud where the task runs and return it as a dict
version_added: "3.0.0"
description:
  - Reads the cloud the way the other modules do (a C(clouds.yaml) name with C(secure.yaml),
    C(OS_CLOUD), the C(OS_*) environment variables, or the only cloud of C(clouds.yaml)) and
    returns it as one C(clouds.yaml) entry, password or secret included.
  - The roles run it on the controller (C(delegate_to=localhost)), where AAP's OpenStack
    credential puts its C(clouds.yaml) (C(OS_CLIENT_CONFIG_FILE), cloud C(devstack)), and pass
    the dict to the modules on the conversion host, which then needs no C(clouds.yaml) and no
    C(OS_*) variables. Nothing is written on either host.
  - The task must have C(no_log=true) (the module refuses to run otherwise), since its result
    holds the secret.
  - Needs the controller to run the collection's executable (x86_64 Linux). Elsewhere, give
    C(dst_cloud) as a dict.
  - Changes nothing; runs the same in check mode.
author:
  - os-migrate contributors (@os-migrate)
options:
  cloud:
    description:
      - The name of a cloud in C(clouds.yaml) (C(OS_CLIENT_CONFIG_FILE), or the standard
        search path).
      - When omitted, C(OS_CLOUD), else the C(OS_*) environment variables, else the only cloud
        of C(clouds.yaml).
    type: str
    required: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Read the destination cloud on the controller
  os_migrate.vmware_migration_kit.resolve_cloud:
    cloud: "{{ dst_cloud | default(omit) }}"
  delegate_to: localhost
  no_log: true
  register: resolved

- name: Use it on the conversion host
  os_migrate.vmware_migration_kit.volume_info:
    cloud: "{{ resolved.cloud }}"
    name: vm1-2000
'''

RETURN = r'''
msg:
  description: The cloud's name and Keystone URL.
  returned: always
  type: str
cloud_name:
  description: The cloud's name in C(clouds.yaml), C(envvars) for the C(OS_*) variables.
  returned: success
  type: str
cloud:
  description:
    - The cloud as a C(clouds.yaml) entry, with its password, application credential secret or
      token in the clear; the other modules take it as their C(cloud)/C(dst_cloud) argument.
  returned: success
  type: dict
  contains:
    auth_type:
      description: C(password), C(v3applicationcredential) or C(token).
      type: str
      returned: always
    auth:
      description: C(auth_url), the user, the project, and the password, secret or token.
      type: dict
      returned: always
    region_name:
      description: The region, when the cloud names one.
      type: str
      returned: when set
    interface:
      description: C(public), C(internal) or C(admin).
      type: str
      returned: always
    verify:
      description: Whether TLS certificates are checked.
      type: bool
      returned: always
    cacert:
      description: The CA bundle's path, a file on the controller; the conversion host needs it at the same path.
      type: str
      returned: when set
'''
