# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# The destination cloud option of the OpenStack modules (DOCUMENTATION) and the wait options of
# the delete modules (WAIT). A module's DOCUMENTATION uses them with:
# extends_documentation_fragment: [os_migrate.vmware_migration_kit.openstack, os_migrate.vmware_migration_kit.openstack.wait]


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  cloud:
    description:
      - The destination cloud, either the name of a cloud in C(clouds.yaml) (standard search
        path, or C(OS_CLIENT_CONFIG_FILE)) or a dict in the shape of a C(clouds.yaml) entry
        (C(auth), C(region_name), C(interface), C(verify)/C(openstack_insecure), C(cacert)).
      - When omitted, C(OS_CLOUD) or the C(OS_*) environment variables name the cloud.
    type: raw
    required: false
'''

    WAIT = r'''
options:
  wait:
    description:
      - Wait until the resource is gone (immediate for flavors and ports).
    type: bool
    default: true
  timeout:
    description:
      - How many seconds to wait, with I(wait).
    type: int
    default: 300
'''
