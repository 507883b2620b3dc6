#!/usr/bin/env bash
# Warm migration of a copy of lab-scratch (running, CBT on): sync.yml, a guest write, sync.yml again (only the change is
# copied), another write, then cutover.yml (final delta, server): volumes bit-exact with the
# disks after the last write. A re-run of cutover.yml changes nothing.
source "$(dirname "$0")/e2e/lib.sh"
vm=$(make_vm lab-scratch) || fail "could not create the VM in the simulator"
trap 'cleanup_vms $vm; rm -rf "$work"' EXIT
vars=(-e "{\"vms_list\": [\"$vm\"], \"security_groups\": [\"$VMKIT_TEST_SECURITY_GROUP\"],
           \"network_map\": {\"dpg-prod\": \"$VMKIT_TEST_NETWORK2\"}}")
write() { # write DISK OFFSET SEED
  curl -sf -XPOST "$VMKIT_TEST_VSPHERE_CONTROL/write" \
    -d "{\"vm\": \"$vm\", \"disk\": $1, \"offset\": $2, \"random\": {\"seed\": $3, \"length\": 1048576}}" >/dev/null
}

playbook sync "${vars[@]}" || fail "sync.yml, first round"
check $vm -e expect_status=synced || fail "after the first sync"
[ "$(summary_field $vm server_id)" = null ] || fail "a sync round made a server"
write 0 4194304 $$ || fail "guest write"
write 1 65536 $(($$ + 1)) || fail "guest write"
playbook sync "${vars[@]}" -e cutover=true || fail "sync.yml, second round (cutover in the vars file is overridden)"
check $vm -e expect_status=synced || fail "after the second sync"
summary_field $vm disks | grep -q '"delta"' || fail "the second round did not copy only the changes"
write 0 8388608 $(($$ + 2)) || fail "guest write"
playbook cutover "${vars[@]}" -e os_migrate_create_os_instance=false || fail "cutover.yml, volumes only"
allow_fake_hypervisor $vm
playbook cutover "${vars[@]}" || fail "cutover.yml"
check $vm || fail "after the cutover"
server=$(summary_field $vm server_id)
playbook cutover "${vars[@]}" || fail "cutover.yml again"
[ "$(summary_field $vm changed)" = false ] || fail "the second cutover changed $vm"
[ "$(summary_field $vm server_id)" = "$server" ] || fail "the second cutover made another server"
echo "migration_warm: ok"
