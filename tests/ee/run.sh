#!/usr/bin/env bash
# migration.yml INSIDE the execution environment image (scripts/build-ee), run by the image's
# ansible-runner as AAP runs a job: a private data directory with project/, inventory/,
# env/extravars and env/envvars, the vCenter login and the cloud only in the environment as AAP's
# built-in VMware vCenter and OpenStack credentials inject them (VMWARE_*, OS_CLIENT_CONFIG_FILE
# naming a clouds.yaml in the data directory), against the test bed on the host's loopback
# (`buildah run --isolation chroot` shares the host's network). One small fixture VM (two disks,
# two NICs): the server ACTIVE, the volumes bit-exact, and what AAP collects written where it
# collects it: artifacts/<ident>/job_events, the set_stats os_migrate_report in the
# playbook_on_stats event, the wave report in the mounted os_migrate_report_dir; and no password
# in the job events, the facts or the files the job wrote, though the conversion host shares the
# credentials' environment here.
#
# The migrator and the conversion host are both the job's container (local connection): the
# container runs as root here because the test bed's volumes are loop devices the conversion host
# sets up (VMKIT_TEST_LOOP_VOLUME_DIR); in AAP the conversion hosts are other machines reached by ssh.
source "$(dirname "$0")/../playbooks/e2e/lib.sh"
repo=$(cd "$e2e/../../.." && pwd)

"$repo/scripts/build-ee" >"$work/build-ee.log" 2>&1 || fail "scripts/build-ee"
eval "$("$repo/scripts/build-ee" --print-env)"
ctr() { "$1" --root "$VMKIT_EE_STORAGE" --runroot "$VMKIT_EE_RUNROOT" --storage-driver vfs "${@:2}"; }
container=""
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
trap '[ -n "$container" ] && ctr buildah rm "$container" >/dev/null; cleanup_vms $vm; cleanup_networks; rm -rf "$work"' EXIT
make_networks || fail "could not create the test networks"

# The private data directory, as AAP's job launch lays it out.
runner="$work/runner"
ident="ee-$$"
mkdir -p "$runner/project" "$runner/inventory" "$runner/env" "$work/data" "$work/reports"
cat >"$runner/project/migration.yml" <<'EOF'
---
- name: Migrate
  ansible.builtin.import_playbook: os_migrate.vmware_migration_kit.migration
EOF
cat >"$runner/inventory/hosts.yml" <<'EOF'
---
migrator:
  hosts:
    localhost: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
conversion_host:
  hosts:
    conv-a: {ansible_connection: local, ansible_python_interpreter: "{{ ansible_playbook_python }}"}
EOF
python3 - "$OS_CLIENT_CONFIG_FILE" "$cloud" "$runner" "$vm" "$prefix" <<'PY' || fail "could not write the job's variables"
import json, os, sys, yaml
clouds_file, cloud, runner, vm, prefix = sys.argv[1:]
env = os.environ
# AAP's OpenStack credential: a clouds.yaml with the one cloud "devstack", in the job's directory.
entry = yaml.safe_load(open(clouds_file))["clouds"][cloud]
yaml.safe_dump({"clouds": {"devstack": entry}}, open(f"{runner}/env/openstack-credential.yml", "w"))
json.dump({
    "VMWARE_HOST": env["VMKIT_TEST_VSPHERE_HOST"],
    "VMWARE_USER": env["VMKIT_TEST_VSPHERE_USER"],
    "VMWARE_PASSWORD": env["VMKIT_TEST_VSPHERE_PASSWORD"],
    "VMWARE_VALIDATE_CERTS": "False",
    "OS_CLIENT_CONFIG_FILE": "/runner/env/openstack-credential.yml",
    "VMKIT_TEST_LOOP_VOLUME_DIR": env["VMKIT_TEST_LOOP_VOLUME_DIR"],
}, open(f"{runner}/env/envvars", "w"))
# The job template's extra variables: no credential among them.
json.dump({
    "vms_list": [vm],
    "vcenter_datacenter": env["VMKIT_TEST_VSPHERE_DATACENTER"],
    "use_fixed_ips": True,
    "nbd_timeout": 300,
    "security_groups": env["VMKIT_TEST_SECURITY_GROUP"],
    "network_map": {"VM Network": f"{prefix}-net-a", "dpg-prod": f"{prefix}-net-b"},
    "ssh_key_name": env["VMKIT_TEST_KEYPAIR"],
    "transport": "https",
    "skip_conversion": True,
    "import_workloads_instance_uuid": env["VMKIT_TEST_CONVERSION_HOST_ID"],
    "import_workloads_progress_interval": 1,
    "os_migrate_report_dir": "/var/lib/os-migrate-reports",
}, open(f"{runner}/env/extravars", "w"))
PY

# The image's default data directory (/opt/os-migrate) and AAP's "Paths to expose to isolated
# jobs" for the reports are host directories, so the checks below read what the job wrote; the
# volume files are the test bed's conversion host (chroot isolation shares the host's /dev). The
# command goes through the image's entrypoint, as AAP's does (it sets up the user and HOME).
container=$(ctr buildah from --name "vmkit-ee-test-$$" "$VMKIT_EE_IMAGE") || fail "buildah from $VMKIT_EE_IMAGE"
start=$SECONDS
ctr buildah run --isolation chroot --network host --user 0:0 \
  -v "$runner:/runner" -v "$work/data:/opt/os-migrate" -v "$work/reports:/var/lib/os-migrate-reports" \
  -v "$VMKIT_TEST_LOOP_VOLUME_DIR:$VMKIT_TEST_LOOP_VOLUME_DIR" \
  "$container" -- /opt/builder/bin/entrypoint dumb-init ansible-runner run /runner -p migration.yml --ident "$ident" \
  </dev/null >"$work/ansible-runner.log" 2>&1 ||
  fail "ansible-runner in the image (its output: $work/ansible-runner.log)"
echo "ee: migration.yml in the image took $((SECONDS - start)) s"

check "$vm" -e '{"expect_ipv4": ["192.0.2.31", "198.51.100.31"]}' || fail "the migrated VM"

artifacts="$runner/artifacts/$ident"
[ "$(cat "$artifacts/status" 2>/dev/null)" = successful ] || fail "artifacts/$ident/status is not successful"
[ "$(cat "$artifacts/rc" 2>/dev/null)" = 0 ] || fail "artifacts/$ident/rc is not 0"
python3 - "$artifacts/job_events" "$vm" <<'PY' || fail "the job events (artifacts/$ident/job_events)"
import glob, json, sys
events_dir, vm = sys.argv[1:]
events = [json.load(open(f)) for f in glob.glob(f"{events_dir}/*.json")]
assert any(e.get("event") == "runner_on_ok" for e in events), "no task result among the job events"
stats = [e for e in events if e.get("event") == "playbook_on_stats"]
assert stats, "no playbook_on_stats event"
report = stats[-1]["event_data"].get("artifact_data", {}).get("os_migrate_report")
assert report, f"no set_stats os_migrate_report in the stats: {stats[-1]['event_data'].keys()}"
assert any(vm in line for line in report["lines"]), f"{vm} not in the report's lines: {report['lines']}"
assert report["figures"]["succeeded"] == 1, f"figures: {report['figures']}"
print(f"ee: {len(events)} job events; os_migrate_report: {report['lines']}")
PY
ls "$work"/reports/wave-*/migration-report.html >/dev/null 2>&1 ||
  fail "no wave-*/migration-report.html in the mounted os_migrate_report_dir"
# Not artifacts/<ident>/command: ansible-runner records the job's environment there as given.
left=$(secrets_left "$work/data" "$work/reports" "$artifacts/job_events" "$artifacts/fact_cache" "$artifacts/stdout")
[ -z "$left" ] || fail "the vCenter or the cloud's password was written to $left"
echo "ee: ok"
