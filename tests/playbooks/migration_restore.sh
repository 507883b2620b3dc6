#!/usr/bin/env bash
# A cold migration of a running VM whose server cannot be made (an unknown flavor) after migrate
# powered the VM off and copied its disks: the role powers the VM on again (vm_power), and the
# summary says so.
source "$(dirname "$0")/e2e/lib.sh"
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
trap 'cleanup_vms $vm; rm -rf "$work"' EXIT
vars=(-e "{\"vms_list\": [\"$vm\"], \"flavor_name_or_uuid\": \"vmkit-no-such-flavor-$$\",
           \"os_migrate_create_network_port\": false, \"openstack_private_network\": \"vmkit-no-such-network-$$\"}")
playbook run_migration_from_conversion_host "${vars[@]}" >"$work/restore.log" 2>&1 &&
  fail "the migration succeeded without its flavor"
[ "$(summary_field $vm status)" = '"failed"' ] || fail "$vm did not fail"
[ "$(summary_field $vm failed_task)" = "\"Create the server of $vm\"" ] || fail "$vm failed elsewhere: $(summary_field $vm msg)"
[ "$(summary_field $vm source_power_restored)" = true ] || fail "the summary does not say the VM was powered on again"
summary_field $vm msg | grep -q "the source VM was powered on again" || fail "the message does not say the VM runs again"
[ "$(power_state "$vm")" = poweredOn ] || fail "$vm is not running"
echo "migration_restore: ok"
