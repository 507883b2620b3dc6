#!/usr/bin/env bash
# migration.yml, cold, for a two-disk two-NIC VM (a running copy of lab-multi-nic: a NIC on a
# standard and one on a distributed portgroup, both keyed by name) over the two-conversion-host
# inventory: the VM is powered off, its server ACTIVE with the chosen flavor, its MACs and fixed
# IPv4 addresses, volumes bit-exact; a re-run changes nothing.
source "$(dirname "$0")/e2e/lib.sh"
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
[[ $(summary_field $vm flavor) =~ ^\"[0-9a-f]{8}- ]] && fail "the summary names the flavor by id: $(summary_field $vm flavor)"

playbook migration "${vars[@]}" || fail "migration.yml again"
[ "$(summary_field $vm changed)" = false ] || fail "the second run changed $vm"
[ "$(summary_field $vm server_id)" = "$server" ] || fail "the second run made another server"
check $vm -e '{"expect_ipv4": ["192.0.2.31", "198.51.100.31"]}' || fail "the VM after the second run"
echo "migration_cold: ok"
