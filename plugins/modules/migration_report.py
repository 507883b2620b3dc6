# Copyright: contributors to os_migrate.vmware_migration_kit
# Apache License 2.0 (see LICENSE)
# This file only documents the module for ansible-doc; the module itself is the static
# executable behind the plugins/modules/migration_report symlink.

DOCUMENTATION = r'''
---
module: migration_report
short_description: Write the report of a migration wave from migration-summary.json
version_added: "3.0.0"
description:
  - Reads the per-VM results the migration playbook writes (C(migration-summary.json)) and
    writes C(migration-report.md) and C(migration-report.html) beside it (or in O(dest)).
  - The HTML file is self-contained (inline CSS, no scripts, nothing fetched) and shows per VM
    the status, the downtime (power-off to server ACTIVE), GiB copied, flavor and server; a
    timeline of each VM's steps (power-off, snapshot, volumes, copy per disk, conversion,
    ports and server); per-disk throughput; warm sync rounds when the summary has them; and the
    failures with what to fix.
  - With O(archive_dir), the summary, both reports and the VMs' logs found on this machine are
    copied into a new C(wave-<UTC time>) directory in it, for a place that outlives the job
    (an AAP job's container does not).
  - Runs on the controller (the C(migrator) host). In check mode it reads the summary and
    returns the lines and figures without writing anything.
author:
  - os-migrate contributors (@os-migrate)
options:
  summary:
    description:
      - Path of C(migration-summary.json).
    type: path
    required: true
  dest:
    description:
      - Directory for the reports; the summary's directory when omitted.
    type: path
    required: false
  archive_dir:
    description:
      - A directory that outlives the job; each run adds a C(wave-<UTC time>) directory with
        the summary, the reports and C(logs/<vm>.log).
    type: path
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
- name: Write the wave report beside the summary
  os_migrate.vmware_migration_kit.migration_report:
    summary: /opt/os-migrate/migration-summary.json
    archive_dir: /var/lib/os-migrate-reports
  register: report

- name: Show one line per VM
  ansible.builtin.debug:
    msg: "{{ report.lines }}"
'''

RETURN = r'''
msg:
  description: One-line summary with the HTML report's path.
  returned: always
  type: str
lines:
  description: One line per VM (status, mode, conversion host, duration, downtime, GiB copied, flavor by name, server; the error of a failed VM).
  returned: success
  type: list
  elements: str
figures:
  description: >-
    The wave's figures: C(vms), C(succeeded), C(failed), C(gib_copied), C(longest_downtime_s) and
    C(per_vm) (C(status), C(downtime_s), C(gib_copied)).
  returned: success
  type: dict
markdown:
  description: Path of the markdown report.
  returned: success and not check mode
  type: str
html:
  description: Path of the HTML report.
  returned: success and not check mode
  type: str
archive:
  description: The directory the run was archived in.
  returned: when archive_dir is given, not in check mode
  type: str
archived_logs:
  description: The logs copied into the archive.
  returned: when archive_dir is given, not in check mode
  type: list
  elements: str
'''
