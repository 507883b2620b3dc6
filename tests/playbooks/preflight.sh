#!/usr/bin/env bash
# The pre-flight in the playbooks: a typo in a network_map target stops migration.yml at
# validation, before the VM is touched (still on, no volume, no port), naming network_map; and
# validate.yml honours cbt_sync and the AAP survey's migration_type (warm prerequisites) and
# checks each conversion host for what the transport and the conversion need; the
# action groups' module_defaults reach their own modules only.
source "$(dirname "$0")/e2e/lib.sh"
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
cbt_off=$(make_vm bad-cbt-off on) || fail "could not create the CBT-off VM in the simulator"
trap 'cleanup_vms $vm $cbt_off; rm -rf "$work"' EXIT

typo="{\"vms_list\": [\"$vm\"], \"network_map\": {\"VM Network\": \"$prefix-no-such-net\", \"dpg-prod\": \"$VMKIT_TEST_NETWORK\"}}"
playbook migration -e "$typo" >"$work/typo.log" 2>&1 && fail "migration.yml went on with a wrong network"
grep -q "openstack.network.missing" "$work/typo.log" || fail "no openstack.network.missing finding"
grep -q "fix network_map" "$work/typo.log" || fail "the finding does not name network_map"
grep -q "Start migrate for $vm" "$work/typo.log" && fail "migrate ran"
[ -z "$(openstack --os-cloud "$cloud" volume list -f value -c Name | grep -F "$vm-")" ] || fail "a volume was made"
[ -z "$(openstack --os-cloud "$cloud" port list -f value -c Name | grep -F "$vm-")" ] || fail "a port was made"
good="{\"vms_list\": [\"$vm\"], \"network_map\": {\"VM Network\": \"$VMKIT_TEST_NETWORK\", \"dpg-prod\": \"$VMKIT_TEST_NETWORK2\"}}"
playbook validate -e "$good" >"$work/good.log" 2>&1 || fail "validate.yml with the right network_map"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["vmkit"]["power_state"]; sys.exit(s != "poweredOn")' \
  "$work/data/$vm/guest_info.json" || fail "$vm is no longer powered on"

playbook validate -e "{\"vms_list\": [\"$cbt_off\"], \"migration_type\": \"warm\"}" >"$work/warm.log" 2>&1 &&
  fail "validate.yml, warm (migration_type), passed a VM without CBT"
grep -q "vmware.changed_block_tracking.disabled" "$work/warm.log" && grep -q "enable_cbt" "$work/warm.log" ||
  fail "no critical CBT finding naming enable_cbt"

unready="{\"vms_list\": [\"$vm\"], \"transport\": \"vddk\", \"skip_conversion\": false,
  \"conversion_host_vmware_lib_dir\": \"$work/no-vddk\"}"
playbook validate -e "$unready" >"$work/unready.log" 2>&1 && fail "validate.yml passed conversion hosts without VDDK"
for host in conv-a conv-b; do
  grep -q "$host cannot migrate over transport vddk" "$work/unready.log" || fail "$host was not reported"
done
grep -q "transport vddk: " "$work/unready.log" || fail "the VDDK problem was not named"
grep -q "virt-v2v-in-place is not installed" "$work/unready.log" || fail "the missing virt-v2v-in-place was not named"
ansible-playbook -i localhost, -e @"$e2e/testbed_vars.yml" -e vm="$vm" "$e2e/action_groups.yml" >"$work/groups.log" 2>&1 ||
  fail "module_defaults by action group (see $work/groups.log)"
echo "preflight: ok"
