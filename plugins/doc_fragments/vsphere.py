# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# The vSphere connection options every vSphere module accepts (the Rust struct
# VsphereConnectionArgs, flattened into each module's arguments). A module's DOCUMENTATION uses
# them with: extends_documentation_fragment: [os_migrate.vmware_migration_kit.vsphere]


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  server:
    description:
      - vCenter or ESXi, as C(host), C(host:port) or C(https://host/sdk).
      - If the task does not give it, the environment variable E(VMWARE_HOST) is used (as in
        the community.vmware and vmware.vmware collections, and as AAP's VMware vCenter
        credential sets it). One of the two is required.
      - The environment is the one the module runs in, on the target host; the roles read the
        controller's and pass it on.
    type: str
    aliases: [vcenter_hostname, hostname]
  user:
    description:
      - The vSphere user.
      - If the task does not give it, the environment variable E(VMWARE_USER) is used. One of
        the two is required.
    type: str
    aliases: [vcenter_username, username]
  password:
    description:
      - The vSphere password. A secret (no_log), never logged or returned.
      - If the task does not give it, the environment variable E(VMWARE_PASSWORD) is used. One
        of the two is required.
    type: str
    aliases: [vcenter_password]
  vmware_insecure:
    description:
      - Do not check the server certificate.
    type: bool
    default: false
  validate_certs:
    description:
      - The inverse of O(vmware_insecure), as in the vmware.vmware collection. C(false) skips
        the certificate check.
      - If the task gives none of O(validate_certs), O(vmware_insecure=true), O(thumbprint) and
        O(ca_file), the environment variable E(VMWARE_VALIDATE_CERTS) is used (AAP's VMware
        vCenter credential sets it, C(False) unless the controller's setting says otherwise).
    type: bool
  thumbprint:
    description:
      - Pin the server certificate by its fingerprint, SHA-1 as vSphere shows it
        (C(AA:BB:...)) or SHA-256. The name and the chain are then not checked.
    type: str
  ca_file:
    description:
      - Trust only the certificates of this PEM file.
    type: path
'''
