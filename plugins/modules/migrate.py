# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/migrate symlink.

DOCUMENTATION = r'''
---
module: migrate
short_description: Copy a VMware VM's disks into Cinder volumes and convert the guest
version_added: "3.0.0"
description:
  - Runs on the conversion host, an OpenStack instance. Copies every disk of VM I(vmname) into its
    own Cinder volume (named C(<vm>-<disk key>), metadata C(osm=true)), attached to the conversion
    host while it is written, and returns the volume ids in VMware disk order.
  - A volume belongs to a VM by its metadata C(vmware_vm_uuid) and C(vmware_disk_key), never by its
    name alone; a volume recording another VM is never reused. When the name C(<vm>-<disk key>) is
    another VM's, or nothing is left of the VM's name (no Latin letter or digit in it), the volume
    is named C(<vm or 'vm'>-<first 8 of the uuid>-<disk key>) and a warning says so. A volume of the
    2.x collection (no VM recorded) is taken over and copied in full.
  - "Cold (default): powers the VM off (a guest shutdown for at most I(poweroff_timeout) seconds, then
    a hard power-off; a VM that is off stays off), takes one snapshot of all disks, copies them (up
    to I(disk_parallelism) at once), converts the guest, marks the volumes C(converted=true) and
    removes the snapshot."
  - "Warm: with I(cbtsync), each run is a sync round while the VM runs: the first copies the whole
    disk, each later one only what changed since the volume's stored C(changeID), which then
    advances to the snapshot just copied. With I(cbtsync) and I(cutover), the VM is powered off
    first, the last changes are copied, and the guest is converted. A VM with independent disks is
    refused for warm migration."
  - Conversion runs C(virt-v2v-in-place) unless I(skipconversion); it must be installed, which is
    checked before anything changes. With I(skipconversion) the final volumes are still marked
    converted, so the instance gets created.
  - Safe to re-run. One run per VM at a time on a conversion host (a lock in the VM's data
    directory). Our snapshot (named C(os-migrate-vmkit)) is removed and volumes detached on every
    exit path, SIGTERM (an AAP cancel) included, and a run cleans what a crashed run left. A volume
    whose full copy did not finish is copied again from the start. A run after success changes
    nothing.
  - The vCenter password reaches nbdkit only through a private file (C(password=+FILE)) removed once
    nbdkit read it; never on a command line, in a log or in the output. VDDK gets the SHA-1
    I(thumbprint) when one is given, else the one read from the server after the connection
    checked its certificate.
  - Progress goes to I(progress_file) as JSON lines (per disk C(bytes_done), C(bytes_total),
    C(percent), C(mib_per_s); events; a final C(summary)), a text log to C(migrate.log) in the VM's
    data directory.
  - In check mode, reports per disk what would be done and changes nothing.
author:
  - os-migrate contributors (@os-migrate)
extends_documentation_fragment:
  - os_migrate.vmware_migration_kit.vsphere
options:
  vmname:
    description:
      - The VM's name.
    type: str
    required: true
    aliases: [vm_name]
  vddkpath:
    description:
      - The VM's inventory folder (C(hw_folder) of guest_info.json, e.g. C(/DC1/vm/Linux)); when no
        VM is there, the VM is looked up by its (unique) name.
    type: str
    default: /ha-datacenter/vm/
  dst_cloud:
    description:
      - The destination cloud, a C(clouds.yaml) name or a dict in the shape of a C(clouds.yaml)
        entry; when omitted, C(OS_CLOUD) or the C(OS_*) environment variables.
    type: raw
    aliases: [cloud]
  transport:
    description:
      - How the conversion host reads the disks. C(vddk) is nbdkit's vddk plugin (production, the
        only one for running VMs). C(https) reads the disk file over the datastore's C(/folder) URL
        and C(file) from datastores mounted under I(localdiskpath), both for powered-off VMs.
    type: str
    default: vddk
    choices: [vddk, https, file]
  libdir:
    description:
      - VDDK's directory (C(vddk) transport).
    type: path
    default: /usr/lib/vmware-vix-disklib
  transports:
    description:
      - VDDK transport modes, e.g. C(nbdssl) or C(file:nbdssl:nbd) (VDDK's default when unset).
    type: str
  compression:
    description:
      - VDDK NBD compression.
    type: str
    default: fastlz
    choices: [none, zlib, fastlz, skipz]
  vddk_config:
    description:
      - VDDK's own settings (C(vddk) transport), written as the C(key=value) lines of a private file
        given to nbdkit's vddk plugin as its C(config=) file, removed when the copy ends; values are
        never logged.
      - "The asynchronous NFC buffers of VDDK 7.0.1 and newer are the known speed-up:
        C({vixDiskLib.nfcAio.Session.BufSizeIn64KB: 16, vixDiskLib.nfcAio.Session.BufCount: 4}) (Forklift's
        values). They help most when many disks are copied from one ESXi host at once (about a
        third faster with ten VMs at a time in Forklift's measurements), little for a single disk;
        an older VDDK ignores them (the conversion_host role warns; C(conversion_host_info) reports the
        VDDK version)."
      - Keys are letters, digits, C(.), C(_) and C(-); values are strings or numbers on one line.
    type: dict
  localdiskpath:
    description:
      - For the C(file) transport, where the datastores are mounted, one sub-directory per datastore
        name (a disk is read from C(<localdiskpath>/<datastore>/<path>), else C(<localdiskpath>/<path>)).
    type: path
  osmdatadir:
    description:
      - Data directory on the conversion host; the VM's lock, log and default progress file go in
        C(<osmdatadir>/<safe vm name or vm>-<vm uuid>/) (the result's I(log_file) names it).
      - Made 0700 when absent; refused when another user owns it or can write to it. Files in it
        are 0600 and never opened through a symbolic link. Not under C(/tmp) by default, where
        another user could create it first.
    type: path
    default: /var/lib/os-migrate
    aliases: [os_migrate_vmw_data_dir]
  progress_file:
    description:
      - Where the JSON progress lines go (default C(migrate-progress.jsonl) in the VM's directory).
    type: path
  volumeaz:
    description:
      - Availability zone of the new volumes.
    type: str
  volumetype:
    description:
      - Volume type of disks whose datastore has no entry in I(volume_type_mapping).
    type: str
  volume_type_mapping:
    description:
      - "Datastore to volume type, as a list of C({vmware_datastore: NAME, openstack_type: TYPE}) (or a dict NAME: TYPE)."
    type: raw
  assumezero:
    description:
      - New volumes read as zeroes (true of most Cinder backends), so zero runs are not written.
    type: bool
    default: false
  cbtsync:
    description:
      - Warm migration with changed block tracking (see the description).
    type: bool
    default: false
  cutover:
    description:
      - With I(cbtsync), the final round (VM powered off, last changes, conversion). Without
        I(cbtsync) it means a cold migration (a warning says so).
    type: bool
    default: false
  enable_cbt:
    description:
      - Turn changed block tracking on when a warm migration finds it off (else that is an error).
    type: bool
    default: false
  skipconversion:
    description:
      - Copy only, without C(virt-v2v-in-place); the final volumes are still marked converted.
    type: bool
    default: false
  multidiskfs:
    description:
      - Convert with every disk attached (guests whose file systems span disks).
    type: bool
    default: false
  runscript:
    description:
      - A script run in a Linux guest during the conversion (C(virt-v2v-in-place --run)).
      - virt-v2v-in-place before 2.3 (Debian 12 ships 2.2) has no C(--run); then
        C(virt-customize --run) does it on the converted disks, and a host with neither is refused
        before anything changes.
    type: path
  bootscript:
    description:
      - A script installed to run at the guest's first boot (C(virt-v2v-in-place --firstboot)).
      - virt-v2v-in-place before 2.3 (Debian 12 ships 2.2) has no C(--firstboot); then
        C(virt-customize --firstboot) installs it on the converted disks, and a host with neither
        is refused before anything changes.
    type: path
    aliases: [firstboot]
  extraopts:
    description:
      - More C(virt-v2v-in-place) arguments, split like a shell would (no expansions).
    type: str
  debug:
    description:
      - nbdkit and libguestfs debug output in their logs.
    type: bool
    default: false
    aliases: [debug_mode]
  instanceuuid:
    description:
      - The conversion host's Nova server id; when unset, asked from the metadata service at
        I(metadata_url), else the server named I(convhostname).
    type: str
  convhostname:
    description:
      - The conversion host's Nova server name, when neither I(instanceuuid) nor the metadata service tells.
    type: str
  metadata_url:
    description:
      - The metadata service document holding the conversion host's C(uuid).
    type: str
    default: http://169.254.169.254/openstack/latest/meta_data.json
  disk_parallelism:
    description:
      - How many disks of the VM are copied at once.
    type: int
    default: 2
  poweroff_timeout:
    description:
      - Seconds a guest shutdown may take before a hard power-off (cold and cutover).
    type: int
    default: 300
  timeout:
    description:
      - Seconds to wait for Cinder and Nova (volume available, attached, detached) and for each vSphere task (snapshot created or removed, power on or off).
    type: int
    default: 3600
  nbd_timeout:
    description:
      - Seconds one NBD wait on the source may take (the negotiation with nbdkit, which with
        VDDK includes its login to ESXi, or one read request) before the connection is torn down;
        the copy reconnects once and then fails with a clear message instead of hanging.
      - Connecting is bounded by the smaller of this and 30 seconds.
    type: int
    default: 120
  restore_source_power_on_failure:
    description:
      - When the run fails or is cancelled (SIGTERM/SIGINT, a lapsed I(lease_file)) after it
        began to power off a VM that was running when it started, power that VM on again, once
        the snapshot is removed and the volumes are detached. The result's
        C(source_power_restored) says whether it did.
      - Set to C(false) to leave the VM powered off.
    type: bool
    default: true
  lease_file:
    description:
      - A file the caller keeps touching while it waits for the run (the import_workloads role
        does, every second of its progress loop). The run cancels itself, cleaning up as on
        SIGTERM, once the file is older than I(lease_timeout) seconds or removed, so a cancelled
        or lost controller does not leave a copy running. Removing it cancels the run at once.
      - It must exist when the run starts (else the run is refused before any change); the run
        writes its process id into it.
    type: path
  lease_timeout:
    description:
      - Seconds without a renewal of I(lease_file) before the run cancels itself.
    type: int
    default: 20
  usesocks:
    description:
      - Accepted for compatibility; nbdkit always listens on a private Unix socket.
    type: bool
    default: false
  wait:
    description:
      - Accepted for compatibility; the module always waits for the migration to end.
    type: bool
  externalvolume:
    description:
      - Accepted for compatibility; importing existing backend volumes (Cinder manage) is not supported.
    type: bool
    default: false
  volumename:
    description:
      - Accepted for compatibility; importing existing backend volumes (Cinder manage) is not supported.
    type: str
  hostpool:
    description:
      - Accepted for compatibility; importing existing backend volumes (Cinder manage) is not supported.
    type: str
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
'''

EXAMPLES = r'''
- name: Cold migration, copy only
  os_migrate.vmware_migration_kit.migrate:
    server: vcenter.example.com
    user: migrator@vsphere.local
    password: "{{ vcenter_password }}"
    vmname: web01
    vddkpath: /DC1/vm/Linux
    dst_cloud: dst
    skipconversion: true
  register: migrated

- name: A warm sync round (repeat as often as wanted), then the cutover
  os_migrate.vmware_migration_kit.migrate:
    server: vcenter.example.com
    user: migrator@vsphere.local
    password: "{{ vcenter_password }}"
    vmname: db01
    dst_cloud: dst
    cbtsync: true
    cutover: "{{ final_round | default(false) }}"
    enable_cbt: true
'''

RETURN = r'''
msg:
  description: What was done.
  returned: always
  type: str
id:
  description: The volume ids in VMware disk order; the first is the boot disk.
  returned: success
  type: list
  elements: str
disks:
  description: Per disk, in VMware disk order, what was (or in check mode would be) done.
  returned: success
  type: list
  elements: dict
  contains:
    key: {description: VMware device key., type: int, returned: always}
    label: {description: VMware device label., type: str, returned: always}
    capacity_bytes: {description: The disk's size., type: int, returned: always}
    volume_name: {description: The volume's name., type: str, returned: always}
    volume_id: {description: The volume's id (null in check mode for a volume still to create)., type: str, returned: always}
    mode: {description: "C(full), C(delta) or C(unchanged).", type: str, returned: always}
    bytes_copied: {description: Bytes covered by the copy., type: int, returned: always}
    seconds: {description: Copy duration., type: float, returned: always}
    mib_per_s: {description: Copy throughput., type: float, returned: always}
    change_id: {description: The vSphere change id of the state the volume holds., type: str, returned: always}
converted:
  description: The volumes hold the final disks and are marked C(converted=true).
  returned: success
  type: bool
conversion_ran:
  description: C(virt-v2v-in-place) converted the guest in this run.
  returned: success
  type: bool
vm:
  description: The VM's managed object id.
  returned: success
  type: str
phase:
  description: "C(cold), C(warm_sync) or C(cutover)."
  returned: success
  type: str
power_off:
  description: "How the VM came to be off (C(already_off), C(guest_shutdown), C(hard_power_off)); null when it was left running."
  returned: success
  type: str
seconds:
  description: Duration of the run.
  returned: success
  type: float
progress_file:
  description: "The JSON progress lines; each has C(status), the line to show (step, and while copying each disk's and the VM's percent, rate and ETA)."
  returned: success
  type: str
timeline:
  description: >-
    The steps of the run with their start and end (RFC 3339, UTC; C(ended) null for a step still
    open when the run failed): C(power_off), C(snapshot), C(volume) and C(copy) (per C(disk)),
    C(snapshot_removal), C(conversion), C(finalize). The wave report draws it and measures the
    downtime from C(power_off).
  returned: always except when the arguments are refused
  type: list
  elements: dict
source_power_restored:
  description: The run failed or was cancelled after it began to power off the running source VM, and powered it on again.
  returned: always except when the arguments are refused
  type: bool
log_file:
  description: The run's text log on the conversion host.
  returned: success, and on failure once the run wrote it
  type: str
'''
