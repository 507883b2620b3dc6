#!/usr/bin/env bash
# migration.yml --check for a running VM never exported before, on a fresh data directory: it
# succeeds and prints each VM's plan (disks, the new volumes, the flavor it would make, its
# ports, its server) and writes nothing: no data directory on the migrator or the conversion
# hosts, no volume, server, port or flavor, the VM still on and without a snapshot. A wrong
# network_map target fails in check mode as in a real run, naming the network.
# ANSIBLE_CORE=2.15 (a version under ~/.cache/vmkit) runs it on that ansible-core.
source "$(dirname "$0")/e2e/lib.sh"
if [ -n "${ANSIBLE_CORE:-}" ]; then
  export PATH="$HOME/.cache/vmkit/ansible-$ANSIBLE_CORE/bin:$PATH"
  [[ "$(ansible --version)" == *"core $ANSIBLE_CORE."* ]] || fail "no ansible-core $ANSIBLE_CORE: run scripts/install-deps"
fi
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
trap 'cleanup_vms $vm; rm -rf "$work"' EXIT

resources() { # the volumes, servers, ports and flavors named after the VM (others share the cloud)
  local kind
  for kind in volume server port; do
    openstack --os-cloud "$cloud" "$kind" list -f value -c ID -c Name | sed "s/^/$kind /" || return 1
  done
  openstack --os-cloud "$VMKIT_TEST_CLOUD_ADMIN" flavor list --all -f value -c ID -c Name | sed 's/^/flavor /' || return 1
}
ours() { grep -F -- "$vm" || true; }
source_state() {
  echo "power $(power_state "$vm")"
  echo "snapshots $(curl -sf "$VMKIT_TEST_VSPHERE_CONTROL/snapshots?vm=$vm")"
}
all=$(resources) || fail "cannot list the cloud's resources"
[ "$(echo "$all" | grep -c '^flavor ')" -gt 0 ] || fail "no flavor listed"
[ -z "$(echo "$all" | ours)" ] || fail "resources named after $vm before the run"
source_before=$(source_state)
[ "$source_before" = "$(printf 'power poweredOn\nsnapshots null')" ] ||
  [ "$source_before" = "$(printf 'power poweredOn\nsnapshots []')" ] || fail "unexpected source state: $source_before"

vars="{\"vms_list\": [\"$vm\"], \"use_existing_flavor\": false,
  \"network_map\": {\"VM Network\": \"$VMKIT_TEST_NETWORK\", \"dpg-prod\": \"$VMKIT_TEST_NETWORK2\"}}"
playbook migration --check -e "$vars" >"$work/check.log" 2>&1 || fail "migration.yml --check"
grep -q "$vm: planned (cold)" "$work/check.log" || fail "no plan of $vm"
flavor=$(python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))
print("%d vCPUs/%d MiB RAM/%d GiB disk" % (v["cpu"]["sockets"] * v["cpu"]["cores_per_socket"], v["memory_mib"],
      -(-sum(d["size_bytes"] for d in v["disks"]) // 2**30)))' "$work/vms/$vm.json")
grep -q "would create flavor osm-vmware-$vm: $flavor" "$work/check.log" || fail "the flavor it would make ($flavor) was not said"
plan=$(grep -o "$vm: planned (cold) on [^\"]*" "$work/check.log" | head -n1)
for part in "would be shut down" "disks disk-15000-0 16.0 MiB -> $vm-16000 (new volume) full," "disk-200-0 8.0 MiB -> $vm-3000 (new volume) full;" "flavor osm-vmware-$vm (made for this VM, see above)" \
  "ports $vm-NIC-0-VLAN-$VMKIT_TEST_NETWORK " "$vm-NIC-1-VLAN-$VMKIT_TEST_NETWORK2 " "server $vm"; do
  [[ "$plan" == *"$part"* ]] || fail "the plan lacks \"$part\": $plan"
done
grep -q "\"$vm: planned\"" "$work/check.log" || fail "the summary line of $vm"

[ ! -e "$work/data" ] || fail "check mode made the data directory: $(find "$work/data" | head)"
made=$(resources | ours)
[ -z "$made" ] || fail "check mode made: $made"
[ "$(source_state)" = "$source_before" ] || fail "check mode changed the source VM: $(source_state)"

typo="{\"vms_list\": [\"$vm\"], \"network_map\": {\"VM Network\": \"$prefix-no-such-net\", \"dpg-prod\": \"$VMKIT_TEST_NETWORK2\"}}"
playbook migration --check -e "$typo" >"$work/typo.log" 2>&1 && fail "migration.yml --check passed a wrong network"
grep -q "\"$vm: failed: .*$prefix-no-such-net" "$work/typo.log" || fail "the failure does not name the network"
grep -q "1 of 1 VM(s) failed" "$work/typo.log" || fail "the play did not fail on $vm"
[ ! -e "$work/data" ] || fail "check mode made the data directory"
[ -z "$(resources | ours)" ] || fail "check mode made: $(resources | ours)"
echo "check_mode: ok"
