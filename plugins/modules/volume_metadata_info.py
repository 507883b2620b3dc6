# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/volume_metadata_info symlink.

DOCUMENTATION = r'''
---
module: volume_metadata_info
short_description: Tell whether a migrated volume was converted
version_added: "3.0.0"
description:
  - Reads the volume's metadata; C(converted) is true when the migration marked it
    C(converted=true).
  - Changes nothing; runs the same in check mode.
author:
  - os-migrate contributors (@os-migrate)
options:
  dst_cloud:
    description:
      - The destination cloud, either the name of a cloud in C(clouds.yaml) (standard search
        path, or C(OS_CLIENT_CONFIG_FILE)) or a dict in the shape of a C(clouds.yaml) entry
        (C(auth), C(region_name), C(interface), C(verify)/C(openstack_insecure), C(cacert)).
      - When omitted, C(OS_CLOUD) or the C(OS_*) environment variables name the cloud.
    type: raw
    required: false
    aliases: [cloud]
  volume_id:
    description:
      - The volume's id (a unique name works too).
    type: str
    required: true
    aliases: [volume]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Was the boot volume converted?
  os_migrate.vmware_migration_kit.volume_metadata_info:
    dst_cloud: dst
    volume_id: "{{ migrate.id[0] }}"
  register: boot_meta
'''

RETURN = r'''
msg:
  description: One-line summary.
  returned: always
  type: str
converted:
  description: The volume's metadata says C(converted=true).
  returned: success
  type: bool
metadata:
  description: All of the volume's metadata.
  returned: success
  type: dict
volume_image_metadata:
  description: The image properties set on the volume.
  returned: success
  type: dict
'''
