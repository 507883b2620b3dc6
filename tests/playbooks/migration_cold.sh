#!/usr/bin/env bash
# migration.yml, cold, for a two-disk two-NIC VM (a running copy of lab-multi-nic: a NIC on a
# standard and one on a distributed portgroup, both keyed by name) over the two-conversion-host
# inventory: the VM is powered off, its server ACTIVE with the chosen flavor, its MACs and fixed
# IPv4 addresses, volumes bit-exact; a re-run changes nothing. The first run has the
# vCenter login and the cloud only as AAP's built-in credentials give them (the controller's
# VMWARE_* and OS_CLIENT_CONFIG_FILE), the conversion hosts neither, and no file on their side
# holds a password afterwards; the re-run has them as variables.
# Runs on the oldest ansible-core.
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

playbook_aap_credentials migration "${vars[@]}" >"$work/aap.log" 2>&1 || fail "migration.yml with AAP's credentials"
check $vm -e '{"expect_ipv4": ["192.0.2.31", "198.51.100.31"]}' || fail "the migrated VM"
left=$(secrets_left "$work/data" "$work/conv-home" "$work/conv-tmp")
[ -z "$left" ] || fail "a password was left on the conversion hosts' side: $left"
server=$(summary_field $vm server_id)
[[ $(summary_field $vm flavor) =~ ^\"[0-9a-f]{8}- ]] && fail "the summary names the flavor by id: $(summary_field $vm flavor)"

playbook migration "${vars[@]}" || fail "migration.yml again"
[ "$(summary_field $vm changed)" = false ] || fail "the second run changed $vm"
[ "$(summary_field $vm server_id)" = "$server" ] || fail "the second run made another server"
check $vm -e '{"expect_ipv4": ["192.0.2.31", "198.51.100.31"]}' || fail "the VM after the second run"
echo "migration_cold: ok"
