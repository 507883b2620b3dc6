# Shared by the end-to-end playbook tests (tests/playbooks/*.sh): the test bed, a scratch data
# directory, playbook runs with the two-conversion-host inventory, and cleanup of every OpenStack
# resource a test made (servers, ports, volumes of its VMs; networks named with its prefix).
set -uo pipefail
e2e=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${VMKIT_TEST_VSPHERE_CONTROL:?the test bed is not up: scripts/testbed up; eval \"\$(scripts/testbed env)\"}"
: "${VMKIT_TEST_LOOP_VOLUME_DIR:?the test bed is not up: scripts/testbed up; eval \"\$(scripts/testbed env)\"}"
prefix="roles-e2e-$$"
# A cancelled test still runs its EXIT trap (cleanup of what it made).
trap 'exit 143' TERM INT
work=$(mktemp -d "/tmp/$prefix.XXXX")
mkdir -p "$work/vms"
cloud="$VMKIT_TEST_CLOUD"

make_vm() { # make_vm FIXTURE [POWER [HOST [COPY]]]: a copy of a fixture VM, named and MAC-addressed
  # for this test (the simulator makes VMs at runtime), so that powering it off, writing into it and
  # the volumes, ports and server named after it never touch what other tests use. HOST places it
  # on that ESXi host (e.g. DC0_C0_H1); COPY tells several copies of one fixture apart (a name
  # suffix; the MACs differ too). Prints its name.
  local fixture=$1 power=${2:-} host=${3:-} copy=${4:-} name
  name="$prefix-${fixture}${copy:+-$copy}"
  python3 - "$VMKIT_TEST_VM_FIXTURES" "$fixture" "$name" "$power" "$$" "$host" "$copy" >"$work/vms/$name.json" <<'PY' || return 1
import json, sys, yaml, zlib
fixtures, fixture, name, power, pid, host, copy = sys.argv[1:]
vm = next(v for v in yaml.safe_load(open(fixtures))["vms"] if v["name"] == fixture)
vm.update(name=name, folder="Runtime/Roles")
vm.pop("snapshots", None)
# YAML 1.1 reads the fixtures' "power: on" as a boolean.
if isinstance(vm.get("power"), bool):
    vm["power"] = "on" if vm["power"] else "off"
if power:
    vm["power"] = power
if host:
    vm["host"] = host
salt = (int(pid) * 7 + zlib.crc32((fixture + copy).encode())) & 0xFFFF
for i, nic in enumerate(vm["nics"]):
    nic["mac"] = "00:50:56:3%x:%02x:%02x" % (i & 0xF, salt >> 8, salt & 0xFF)
print(json.dumps(vm))
PY
  local answer
  # -f would hide the simulator's message (an unknown host lists the valid ones).
  answer=$(curl -s -w '\n%{http_code}' -XPOST "$VMKIT_TEST_VSPHERE_CONTROL/vms/create" -d @"$work/vms/$name.json") || return 1
  [ "${answer##*$'\n'}" = 201 ] || { echo "make_vm $name: ${answer%$'\n'*}" >&2; return 1; }
  echo "$name"
}

playbook() { # playbook NAME [ansible-playbook args...]
  local name=$1; shift
  ansible-playbook -i "$e2e/inventory.yml" -f 10 -e @"$e2e/testbed_vars.yml" \
    -e os_migrate_vmw_data_dir="$work/data" "os_migrate.vmware_migration_kit.$name" "$@"
}

playbook_aap_credentials() { # playbook_aap_credentials NAME [ansible-playbook args...]
  # As playbook, but the vCenter login and the cloud only in the controller's environment, as
  # AAP's built-in VMware vCenter and OpenStack credentials inject them (VMWARE_*, and
  # OS_CLIENT_CONFIG_FILE naming a file with one cloud, devstack): no vcenter_* variable, no
  # dst_cloud. The conversion hosts run without that environment, with a fresh HOME and TMPDIR
  # ($work/conv-home, $work/conv-tmp: no clouds.yaml there; what they leave behind is there).
  local name=$1; shift
  python3 - "$e2e/testbed_vars.yml" "$OS_CLIENT_CONFIG_FILE" "$cloud" "$work" <<'PY' || return 1
import sys, yaml
vars_file, clouds_file, cloud, work = sys.argv[1:]
given = yaml.safe_load(open(vars_file))
for key in ("vcenter_hostname", "vcenter_username", "vcenter_password", "vcenter_thumbprint",
            "dst_cloud", "flavor_admin_cloud"):
    given.pop(key)
yaml.safe_dump(given, open(f"{work}/vars-without-credentials.yml", "w"))
entry = yaml.safe_load(open(clouds_file))["clouds"][cloud]
yaml.safe_dump({"clouds": {"devstack": entry}}, open(f"{work}/aap-openstack-credential.yml", "w"))
PY
  mkdir -p "$work/conv-home" "$work/conv-tmp"
  printf '#!/bin/sh\nexec env -u VMWARE_HOST -u VMWARE_USER -u VMWARE_PASSWORD -u VMWARE_VALIDATE_CERTS -u OS_CLIENT_CONFIG_FILE -u OS_CLOUD HOME=%s TMPDIR=%s /bin/sh "$@"\n' \
    "$work/conv-home" "$work/conv-tmp" >"$work/conv-sh"
  chmod +x "$work/conv-sh"
  # Ansible finds the async jobs' results by the user's home, not HOME: both sides are told.
  local host
  for host in conv-a conv-b; do
    printf '    %s: {ansible_shell_executable: %s, ansible_async_dir: %s, ansible_remote_tmp: %s}\n' \
      "$host" "$work/conv-sh" "$work/conv-home/.ansible_async" "$work/conv-home/.ansible/tmp"
  done | sed '1i conversion_host:\n  hosts:' >"$work/conv-inventory.yml"
  env -u OS_CLOUD VMWARE_HOST="$VMKIT_TEST_VSPHERE_HOST" VMWARE_USER="$VMKIT_TEST_VSPHERE_USER" \
    VMWARE_PASSWORD="$VMKIT_TEST_VSPHERE_PASSWORD" VMWARE_VALIDATE_CERTS=False \
    OS_CLIENT_CONFIG_FILE="$work/aap-openstack-credential.yml" \
    ansible-playbook -i "$e2e/inventory.yml" -i "$work/conv-inventory.yml" -f 10 -e @"$work/vars-without-credentials.yml" \
    -e os_migrate_vmw_data_dir="$work/data" "os_migrate.vmware_migration_kit.$name" "$@"
}

secrets_left() { # secrets_left DIR...: the files under DIR holding the vCenter or the cloud's password
  local cloud_password
  cloud_password=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["clouds"][sys.argv[2]]["auth"]["password"])' \
    "$OS_CLIENT_CONFIG_FILE" "$cloud")
  grep -rlF -e "$VMKIT_TEST_VSPHERE_PASSWORD" -e "$cloud_password" "$@" 2>/dev/null
}

check() { # check VM [extra -e args...]
  local vm=$1; shift
  ansible-playbook -i localhost, -e ansible_python_interpreter="$(command -v python3)" \
    -e vm="$vm" -e summary="$work/data/migration-summary.json" -e spec="$work/vms/$vm.json" "$@" "$e2e/check_migrated.yml"
}

summary_field() { # summary_field VM FIELD
  python3 -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if x["vm"]==sys.argv[2]][0]; print(json.dumps(r.get(sys.argv[3])))' \
    "$work/data/migration-summary.json" "$1" "$2"
}

make_networks() { # the fixture VMs' own subnets, so their IPv4 addresses can be kept
  openstack --os-cloud "$cloud" network create "$prefix-net-a" -f value -c id >/dev/null &&
  openstack --os-cloud "$cloud" subnet create "$prefix-subnet-a" --network "$prefix-net-a" \
    --subnet-range 192.0.2.0/24 -f value -c id >/dev/null &&
  openstack --os-cloud "$cloud" network create "$prefix-net-b" -f value -c id >/dev/null &&
  openstack --os-cloud "$cloud" subnet create "$prefix-subnet-b" --network "$prefix-net-b" \
    --subnet-range 198.51.100.0/24 -f value -c id >/dev/null
}

cleanup_vms() { # cleanup_vms VM...: the servers, ports and volumes named after them
  local vm id
  for vm in "$@"; do
    for id in $(openstack --os-cloud "$cloud" server list --name "^$vm\$" -f value -c ID); do
      openstack --os-cloud "$cloud" server delete --wait "$id"
    done
    for id in $(openstack --os-cloud "$cloud" port list -f value -c ID -c Name | awk -v p="$vm-NIC-" 'index($2, p) == 1 {print $1}'); do
      openstack --os-cloud "$cloud" port delete "$id"
    done
    for id in $(openstack --os-cloud "$cloud" volume list -f value -c ID -c Name | awk -v p="$vm-" 'index($2, p) == 1 {print $1}'); do
      openstack --os-cloud "$cloud" volume delete "$id"
    done
  done
}

cleanup_networks() {
  local n
  for n in "$prefix-net-a" "$prefix-net-b"; do
    openstack --os-cloud "$cloud" network delete "$n" >/dev/null 2>&1 || true
  done
}

power_state() { # power_state VM: poweredOn or poweredOff, asked with vm_power in check mode
  ANSIBLE_LOAD_CALLBACK_PLUGINS=1 ANSIBLE_STDOUT_CALLBACK=minimal ansible localhost -i localhost, -e ansible_connection=local -e @"$e2e/testbed_vars.yml" \
    -m os_migrate.vmware_migration_kit.vm_power --check \
    -a "{\"server\": \"{{ vcenter_hostname }}\", \"user\": \"{{ vcenter_username }}\",
         \"password\": \"{{ vcenter_password }}\", \"thumbprint\": \"{{ vcenter_thumbprint }}\",
         \"vm_name\": \"$1\"}" | sed -n 's/.*"power_state": *"\([A-Za-z]*\)".*/\1/p'
}

fail() {
  local log
  for log in "$work"/*.log; do [ -e "$log" ] && { echo "--- end of $log" >&2; tail -n 80 "$log" >&2; }; done
  echo "FAILED: $*" >&2
  exit 1
}
