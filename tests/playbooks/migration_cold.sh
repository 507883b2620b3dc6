#!/usr/bin/env bash
# migration.yml, cold, for a two-disk two-NIC VM (a running copy of lab-multi-nic: a NIC on a
# standard and one on a distributed portgroup, both keyed by name) over the two-conversion-host
# inventory: the VM is powered off, its server ACTIVE with the chosen flavor, its MACs and fixed
# IPv4 addresses, volumes bit-exact; a re-run changes nothing. Runs on the oldest ansible-core.
source "$(dirname "$0")/e2e/lib.sh"
# On the oldest supported ansible-core (tests/ansible-cores.txt; the other playbook tests run the
# newest): what AAP 2.4's execution environments ship.
oldest=$(grep -v '^#' "$e2e/../../ansible-cores.txt" | head -n1)
export PATH="$HOME/.cache/vmkit/ansible-${oldest%.*}/bin:$PATH"
[[ "$(ansible --version)" == *"core $oldest"* ]] || fail "no ansible-core $oldest: run scripts/install-deps"
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
trap 'cleanup_vms $vm; cleanup_networks; rm -rf "$work"' EXIT
make_networks || fail "could not create the test networks"
vars=(-e "{\"vms_list\": [\"$vm\"], \"use_fixed_ips\": true, \"nbd_timeout\": 300, \"security_groups\": \"$VMKIT_TEST_SECURITY_GROUP\",
           \"network_map\": {\"VM Network\": \"$prefix-net-a\", \"dpg-prod\": \"$prefix-net-b\"}}")

playbook migration "${vars[@]}" -e os_migrate_create_os_instance=false || fail "migration.yml, volumes only"
allow_fake_hypervisor $vm
playbook migration "${vars[@]}" || fail "migration.yml"
check $vm -e '{"expect_ipv4": ["192.0.2.31", "198.51.100.31"]}' || fail "the migrated VM"
server=$(summary_field $vm server_id)

playbook migration "${vars[@]}" || fail "migration.yml again"
[ "$(summary_field $vm changed)" = false ] || fail "the second run changed $vm"
[ "$(summary_field $vm server_id)" = "$server" ] || fail "the second run made another server"
check $vm -e '{"expect_ipv4": ["192.0.2.31", "198.51.100.31"]}' || fail "the VM after the second run"
echo "migration_cold: ok"
