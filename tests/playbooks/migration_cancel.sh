#!/usr/bin/env bash
# A cancel as AAP does it (SIGINT, then SIGTERM, to ansible-playbook's process group) of a cold
# migration of a running VM mid-copy: within 30 s no migrate or nbdkit of the VM runs, no
# snapshot is left, its volumes are detached and the VM runs again. Then the same through
# cancel.yml while the playbook keeps running. The source stalls (nbdkit's delay filter on every
# read), so the cancel always lands mid-copy.
source "$(dirname "$0")/e2e/lib.sh"
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
trap 'cleanup_vms $vm; rm -rf "$work"' EXIT
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec %s --filter=delay "$@" rdelay=3600\n' "$(command -v nbdkit)" >"$work/bin/nbdkit"
chmod 755 "$work/bin/nbdkit"
export PATH="$work/bin:$PATH"
vars=(-e "{\"vms_list\": [\"$vm\"], \"os_migrate_create_os_instance\": false}")
vm_dir="$work/data/$vm"
bound=30

start() { # start LOG: the migration in a process group of its own (as AAP runs it), $group
  rm -f "$vm_dir/migrate-progress.jsonl"
  setsid ansible-playbook -i "$e2e/inventory.yml" -f 10 -e @"$e2e/testbed_vars.yml" \
    -e os_migrate_vmw_data_dir="$work/data" os_migrate.vmware_migration_kit.run_migration_from_conversion_host \
    "${vars[@]}" >"$work/$1" 2>&1 &
  group=$!
}

wait_for_copy() { # the copy has begun; prints migrate's pid (from its lease)
  local i
  for i in $(seq 1500); do
    if grep -q '"copy_start"' "$vm_dir/migrate-progress.jsonl" 2>/dev/null; then
      echo "the copy began at $SECONDS s" >&2
      head -n 1 "$vm_dir/migrate.lease"
      return 0
    fi
    sleep 0.2
  done
  return 1
}

ended_within() { # ended_within PID SECONDS: migrate (PID) and the VM's nbdkit are gone in time
  local pid=$1 limit=$2 started=$SECONDS
  while [ -d "/proc/$pid" ] || pgrep -f "nbdkit.*/$vm/" >/dev/null; do
    [ $((SECONDS - started)) -lt "$limit" ] || return 1
    sleep 0.2
  done
  echo "migrate ended $((SECONDS - started)) s after the cancel"
}

check_clean() { # check_clean WHAT
  local snapshots attached
  snapshots=$(curl -sf "$VMKIT_TEST_VSPHERE_CONTROL/snapshots?vm=$vm") || fail "$1: cannot list snapshots"
  [ "$snapshots" = "[]" ] || [ "$snapshots" = "null" ] || fail "$1: snapshots left: $snapshots"
  attached=$(openstack --os-cloud "$cloud" volume list --long -f json | python3 -c '
import json, sys
vols = [v for v in json.load(sys.stdin) if v["Name"].startswith(sys.argv[1] + "-")]
print("none" if not vols else " ".join(v["ID"] for v in vols if v["Attached to"] or v["Status"] != "available"))
' "$vm")
  [ "$attached" != none ] || fail "$1: the run made no volume"
  [ -z "$attached" ] || fail "$1: volumes still attached or busy: $attached"
  [ "$(power_state "$vm")" = poweredOn ] || fail "$1: the VM is not running"
  echo "$1: clean at $SECONDS s"
}

# 1. Ctrl-C / AAP cancel of ansible-playbook.
start cancel-signal.log
pid=$(wait_for_copy) || fail "the copy did not start"
[ -n "$pid" ] || fail "no pid in the lease"
kill -INT -- "-$group"
sleep 1
kill -TERM -- "-$group" 2>/dev/null
ended_within "$pid" "$bound" || fail "migrate still runs $bound s after SIGINT+SIGTERM"
check_clean "after SIGINT+SIGTERM"
wait "$group"

# 2. cancel.yml while the playbook waits: the VM fails, the cleanup is done, the VM runs.
start cancel-playbook.log
pid=$(wait_for_copy) || fail "the copy did not start again"
started=$SECONDS
playbook cancel -e "{\"vms_list\": [\"$vm\"]}" >"$work/cancel.log" 2>&1 || fail "cancel.yml"
grep -q "$vm: cancelled (pid $pid)" "$work/cancel.log" || fail "cancel.yml did not say it cancelled $vm"
echo "cancel.yml took $((SECONDS - started)) s"
ended_within "$pid" 1 || fail "migrate still runs after cancel.yml"
check_clean "after cancel.yml"
wait "$group" && fail "the migration succeeded after its cancel"
grep -Eq "stopped(: the lease| by a signal)" "$work/cancel-playbook.log" || fail "the playbook does not say why migrate stopped"
playbook cancel -e "{\"vm_name\": \"$vm\"}" >"$work/cancel.log" 2>&1 || fail "cancel.yml with nothing to cancel"
grep -q "$vm: not running" "$work/cancel.log" || fail "cancel.yml with nothing to cancel"
echo "migration_cancel: ok"
