# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/validate symlink.

DOCUMENTATION = r'''
---
module: validate
short_description: Check VMware VMs for migration problems before migrating them
version_added: "3.0.0"
description:
  - Reads the VMs of a plan from vCenter or ESXi in one property-collector round trip and
    returns every finding, each with a rule C(id), C(severity) (C(critical), C(warning) or
    C(information)), the C(vm), the C(object) concerned and an actionable C(message).
  - Rule ids and severities follow Forklift's VMware validation rules where Forklift has the
    rule (C(vmware.changed_block_tracking.disabled) and, per disk,
    C(vmware.changed_block_tracking.disk.disabled) for warm migrations,
    C(vmware.snapshot.detected), C(vmware.consolidation_needed),
    C(vmware.disk_mode.independent), C(vmware.disk.rdm.detected),
    C(vmware.disk.shared.detected), C(vmware.datastore.missing),
    C(vmware.disk.capacity.invalid), C(vmware.passthrough_device.detected),
    C(vmware.device.sriov.detected), C(vmware.usb_controller.detected), C(vmware.tpm.detected),
    C(vmware.os.unsupported), C(vmware.vm_missing_ip.detected), C(vmware.hostname.empty),
    C(vmware.hostname.default), C(vmware.vm.name.invalid)); plan-wide checks add
    C(vmware.network.unmapped), C(vmware.datastore.unmapped), C(vmware.mac.duplicate) (critical
    only when the NICs land on one Neutron network) and C(vmware.disk.transport_unreadable).
  - Severity follows the plan - what migrate would refuse for this plan is critical - a warm
    migration of a VM with an independent disk, or with changed block tracking off and no
    O(enable_cbt); a raw device mapping; for the C(https) and C(file) transports a VM with
    snapshots of its own, a disk that is not a flat extent, or a disk on a vSAN or VVol datastore
    (held as objects, not files).
  - With O(dst_cloud), what the plan needs in the destination cloud is checked too, with rule ids
    C(openstack.region.missing), C(openstack.network.missing), C(openstack.subnet.missing),
    C(openstack.volume_type.missing), C(openstack.availability_zone.missing),
    C(openstack.security_group.missing), C(openstack.flavor.missing),
    C(openstack.flavor.cannot_create) (critical - without O(flavor), a VM that no existing flavor
    fits, or every VM when O(use_existing_flavor=false), gets a flavor made for it, which Nova lets
    only the admin role do by default; the user of O(flavor_cloud) or O(dst_cloud) is checked),
    C(openstack.keypair.missing) (warning - the server is made without it),
    C(openstack.quota.instances), C(openstack.quota.cores), C(openstack.quota.ram),
    C(openstack.quota.volumes), C(openstack.quota.gigabytes), C(openstack.quota.ports) (critical when
    the whole plan does not fit) and C(openstack.quota.unreadable) (information). Each message
    names the playbook variable to fix.
  - Supported guests are RHEL, CentOS Stream, Rocky and Alma Linux 7 to 10, Ubuntu 18.04 and
    later, Debian 10 and later, SLES 12 and later, Windows Server 2016 to 2025, Windows 10 and 11.
  - Changes nothing; runs the same in check mode.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.vsphere
options:
  vmname:
    description:
      - "One VM name or a list of names: the plan. Duplicate MACs are looked for across it."
    type: list
    elements: str
    aliases: [vm_name, vms_list]
  folder:
    description:
      - Every VM under this folder (C(/DC1/vm/Linux) or C(Linux)); with O(vmname), only the
        named VMs in it.
    type: str
  migration_type:
    description:
      - C(warm) also requires changed block tracking.
    type: str
    default: cold
    choices: [cold, warm]
  enable_cbt:
    description:
      - A warm migration turns changed block tracking on itself (as the migrate module's), so a VM
        without it is not critical.
    type: bool
    default: false
  transport:
    description:
      - How the conversion hosts will read the disks (as the migrate module's). C(https) and
        C(file) read flat extent files only.
    type: str
    default: vddk
    choices: [vddk, https, file]
  dst_cloud:
    description:
      - The destination cloud, a clouds.yaml cloud name or the original's dict. When given, the
        networks, volume types, zones, key pair, security groups, flavor, region and quotas the
        plan needs there are checked.
    type: raw
    aliases: [cloud]
  volumetype:
    description:
      - The volumes' type when O(volume_type_mapping) does not map the datastore (C(cinder_volume_type)).
    type: str
  volumeaz:
    description:
      - The volumes' Cinder availability zone.
    type: str
  availability_zone:
    description:
      - The servers' Nova availability zone.
    type: str
  key_name:
    description:
      - The servers' key pair (C(ssh_key_name)); a missing one is a warning.
    type: str
  security_groups:
    description:
      - The ports' security groups, by name or id.
    type: list
    elements: str
    default: []
  flavor:
    description:
      - A flavor name or id the servers get (C(flavor_uuid)); unset when one is chosen or made later.
    type: str
  use_existing_flavor:
    description:
      - Without O(flavor), an existing flavor that fits is taken before one is made (as
        convert_metadata's C(use_existing_flavor)).
    type: bool
    default: true
  flavor_cloud:
    description:
      - The cloud that creates flavors (C(flavor_admin_cloud); default O(dst_cloud)) - a clouds.yaml
        name or a dict. Its user needs the admin role when a flavor is to be made.
    type: raw
    aliases: [flavor_admin_cloud]
  boot_from_volume:
    description:
      - The servers boot from a volume, so a flavor's own disk size does not matter.
    type: bool
    default: true
  network_name:
    description:
      - The network of the NICs when O(network_map) is not given (C(openstack_private_network)).
    type: str
  create_server:
    description:
      - A server is made for each VM; false (volumes only) skips the key pair, flavor and
        instance quotas.
    type: bool
    default: true
  network_map:
    description:
      - As export_metadata's. When given, NICs on networks it does not map are reported.
    type: dict
  volume_type_mapping:
    description:
      - C([{vmware_datastore, openstack_type}]), as the migrate module's. When given, disks on
        datastores it does not map are reported; with O(dst_cloud), its types must exist.
    type: list
    elements: dict
  use_fixed_ips:
    description:
      - The guests' IPs are to be kept as the ports' fixed IPs. A VM whose guest reports no IP
        (any powered-off VM) is still a warning, as in the original; its ports then get addresses
        from Neutron.
    type: bool
    default: false
  skip_rules:
    description:
      - Rule ids not to check. An unknown id is an error that lists the known ones.
    type: list
    elements: str
    default: []
  fail_on:
    description:
      - The lowest severity that fails the task. C(never) only reports.
    type: str
    default: critical
    choices: [critical, warning, never]
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Validate the plan before a warm migration
  os_migrate.vmware_migration_kit.validate:
    server: "{{ vcenter_hostname }}"
    user: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    thumbprint: "{{ vcenter_thumbprint }}"
    vmname: "{{ vms_list }}"
    migration_type: warm
    network_map: "{{ network_map }}"
    skip_rules: [vmware.snapshot.detected]
  register: preflight

- name: Show the warnings
  ansible.builtin.debug:
    msg: "{{ preflight.findings | selectattr('severity', 'equalto', 'warning') | list }}"
'''

RETURN = r'''
msg:
  description: One-line summary with the counts per severity and, on failure, the failing findings.
  returned: always
  type: str
findings:
  description: Every finding, in rule order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The rule id, e.g. C(vmware.snapshot.detected).
      type: str
      returned: always
    severity:
      description: C(critical), C(warning) or C(information).
      type: str
      returned: always
    vm:
      description: The VM's name.
      type: str
      returned: always
    object:
      description: The disk, NIC, device or setting concerned.
      type: str
      returned: always
    message:
      description: What is wrong and what to do.
      type: str
      returned: always
summary:
  description: The number of findings per severity (C(critical), C(warning), C(information)).
  returned: always
  type: dict
failed_vms:
  description: VM name to the reason it could not be read (not found, ambiguous name).
  returned: always
  type: dict
'''
