#!/usr/bin/env bash
# The original collection's documented example files (tests/fixtures/upstream-examples/, byte-exact)
# with only addresses, credentials, ids and the VM pointed at the test bed
# (e2e/upstream_overrides.yml): the repo's vars.yaml + localhost_inventory.yml (teardown on), the
# docs' inventory + secrets + myvars (no os_migrate_tear_down, security group as a string,
# runner_from_aee), and the CBT phases of the old README and AGENTS.md (cutover without cbt_sync).
source "$(dirname "$0")/e2e/lib.sh"
examples=$(cd "$(dirname "$0")/../fixtures/upstream-examples" && pwd)
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
trap 'cleanup_vms $vm; rm -rf "$work"' EXIT
run() { # run PLAYBOOK INVENTORY [args...]
  local name=$1 inventory=$2; shift 2
  ansible-playbook -i "$examples/$inventory" "os_migrate.vmware_migration_kit.$name" "$@" \
    -e @"$e2e/upstream_overrides.yml" -e os_migrate_vmw_data_dir="$work/data" -e "{\"vms_list\": [\"$vm\"]}"
}

# Each example first runs import_volumes.yml (copy only, whatever the file says about teardown),
# so that the test bed's fake hypervisor can be allowed (see allow_fake_hypervisor in e2e/lib.sh).
# vars.yaml: unmapped networks (macs.json), fixed IPs, teardown: everything is deleted again.
run import_volumes vmk-localhost_inventory.yml -e @"$examples/vmk-vars.yaml" || fail "vars.yaml, import_volumes.yml"
[ "$(summary_field $vm status)" = '"copied"' ] || fail "import_volumes.yml: $(summary_field $vm status)"
allow_fake_hypervisor $vm
run migration vmk-localhost_inventory.yml -e @"$examples/vmk-vars.yaml" -e runner_from_aee=false || fail "vars.yaml"
[ "$(summary_field $vm status)" = '"migrated, torn down"' ] || fail "vars.yaml: $(summary_field $vm status)"
[ -z "$(openstack --os-cloud "$cloud" server list --name "^$vm\$" -f value -c ID)" ] || fail "teardown left the server"

# The docs' three files: the server stays (no teardown variable at all).
run import_volumes docs-inventory.yml -e @"$examples/docs-secrets.yml" -e @"$examples/docs-myvars.yml" \
  || fail "docs inventory + secrets + myvars, import_volumes.yml"
allow_fake_hypervisor $vm
run migration docs-inventory.yml -e @"$examples/docs-secrets.yml" -e @"$examples/docs-myvars.yml" \
  || fail "docs inventory + secrets + myvars"
check $vm || fail "docs example: the migrated VM"
cleanup_vms $vm

# CBT: the old README's sync round, then AGENTS.md's phase 2 (cbt_sync false + cutover true),
# copy only first (fake hypervisor), then with the server.
run migration docs-inventory.yml -e @"$examples/docs-secrets.yml" -e @"$examples/docs-myvars.yml" \
  -e @"$examples/vmk-old-readme-cbt-sync.yaml" || fail "CBT sync round"
[ "$(summary_field $vm status)" = '"synced"' ] || fail "CBT sync: $(summary_field $vm status)"
run import_volumes docs-inventory.yml -e @"$examples/docs-secrets.yml" -e @"$examples/docs-myvars.yml" \
  -e @"$examples/vmk-agents-cbt-two-phase.yaml" >"$work/cutover.log" 2>&1 || fail "AGENTS.md cutover, volumes only"
grep -q 'cutover is true but cbt_sync is not' "$work/cutover.log" || fail "no message about cutover without cbt_sync"
summary_field $vm disks | grep -q '"full"' && fail "the cutover copied whole disks again"
allow_fake_hypervisor $vm
run migration docs-inventory.yml -e @"$examples/docs-secrets.yml" -e @"$examples/docs-myvars.yml" \
  -e @"$examples/vmk-agents-cbt-two-phase.yaml" || fail "AGENTS.md cutover"
check $vm || fail "after the AGENTS.md cutover"
echo "upstream_examples: ok"
