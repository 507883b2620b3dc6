#!/usr/bin/env bash
# The original collection's documented example files (tests/fixtures/upstream-examples/, byte-exact)
# run as they are, with only addresses, credentials, ids and the data directory changed
# (e2e/upstream_overrides.yml, plus dst_cloud, vms_list and os_migrate_vmw_data_dir given here):
# the repo's vars.yaml + localhost_inventory.yml (two VMs, fixed IPs, teardown), the docs'
# inventory + secrets + myvars (ssh_key_name: default, no teardown), and the CBT phases of the
# old README and AGENTS.md. What the examples say and the original ignored stays as they say it:
# region_name: regionOne (the test bed's region is RegionOne), ssh_key_name: default (no such key
# pair here), use_fixed_ips: true with a powered-off VM whose guest reports no IP. Each is a
# warning, and the migration goes on.
source "$(dirname "$0")/e2e/lib.sh"
examples=$(cd "$(dirname "$0")/../fixtures/upstream-examples" && pwd)
vm=$(make_vm lab-multi-nic on) || fail "could not create the VM in the simulator"
noip=$(make_vm bad-no-guest-ips off) || fail "could not create the VM without guest IPs"
trap 'cleanup_vms $vm $noip; rm -rf "$work"' EXIT

# dst_cloud: -e cannot override one key of a dict, so each example's own dst_cloud is written out
# with the values of its auth dict replaced by the test bed's (address, user, password, project,
# domain); region_name, interface, identity_api_version and insecure stay the example's.
dst_cloud() { # dst_cloud EXAMPLE_FILE: prints the path of the extra-vars file with its dst_cloud
  local out="$work/dst_cloud-$(basename "$1")"
  python3 - "$1" "$OS_CLIENT_CONFIG_FILE" "$cloud" "$VMKIT_TEST_PROJECT_ID" >"$out" <<'PY' || return 1
import json, sys, yaml
example, clouds_file, cloud, project_id = sys.argv[1:]
theirs = yaml.safe_load(open(example))["dst_cloud"]
ours = yaml.safe_load(open(clouds_file))["clouds"][cloud]["auth"]
ours["project_id"] = project_id
unknown = set(theirs["auth"]) - set(ours)
if unknown:
    sys.exit(f"{example}: dst_cloud.auth has {sorted(unknown)}, which the test bed's cloud does not give")
theirs["auth"] = {key: ours[key] for key in theirs["auth"]}
print(json.dumps({"dst_cloud": theirs}))
PY
  chmod 0600 "$out"
  echo "$out"
}
vars_cloud=$(dst_cloud "$examples/vmk-vars.yaml") || fail "dst_cloud of vars.yaml"
docs_cloud=$(dst_cloud "$examples/docs-secrets.yml") || fail "dst_cloud of the docs' secrets.yml"

run() { # run LOG PLAYBOOK INVENTORY VMS [args...]: the examples' files come in args, overrides last
  local log=$1 name=$2 inventory=$3 vms=$4; shift 4
  ansible-playbook -i "$examples/$inventory" "os_migrate.vmware_migration_kit.$name" "$@" \
    -e @"$e2e/upstream_overrides.yml" -e os_migrate_vmw_data_dir="$work/data" \
    -e "{\"vms_list\": $vms}" >"$work/$log.log" 2>&1
}
warned() { # warned LOG TEXT: Ansible showed a warning with this text
  tr -s ' \n' ' ' <"$work/$1.log" | grep -qF "$2" || fail "$1: no warning saying: $2"
}

# vars.yaml: two VMs, unmapped networks (macs.json), fixed IPs, teardown: everything is deleted again.
both="[\"$vm\", \"$noip\"]"
vars=(-e @"$examples/vmk-vars.yaml" -e @"$vars_cloud")
# validate.yml first: the teardown removes the VMs' data directories with their validation.json.
run vars-validate validate vmk-localhost_inventory.yml "$both" "${vars[@]}" || fail "vars.yaml, validate.yml"
python3 - "$work/data/$noip/validation.json" <<'PY' || fail "$noip: no IP under use_fixed_ips is not (only) a warning"
import json, sys
findings = {(f["id"], f["severity"]) for f in json.load(open(sys.argv[1]))}
# The pre-flight also says, as a warning, which region it used for regionOne.
assert ("vmware.vm_missing_ip.detected", "warning") in findings, findings
assert not any(severity == "critical" for _, severity in findings), findings
PY
run vars-migration migration vmk-localhost_inventory.yml "$both" "${vars[@]}" || fail "vars.yaml"
for v in $vm $noip; do
  [ "$(summary_field $v status)" = '"migrated, torn down"' ] || fail "vars.yaml, $v: $(summary_field $v status)"
  [ -z "$(openstack --os-cloud "$cloud" server list --name "^$v\$" -f value -c ID)" ] || fail "teardown left the server of $v"
done
warned vars-migration 'region_name "regionOne" is not in the service catalog; using region "RegionOne"'
warned vars-migration 'the guest reports no IP address to keep; the port gets an address from Neutron'
python3 - "$work/data/migration-summary.json" "$noip" <<'PY' || fail "the ports of $noip have no address from Neutron"
import json, sys
result = next(r for r in json.load(open(sys.argv[1])) if r["vm"] == sys.argv[2])
assert result["ports"] and all(p["fixed_ips"] for p in result["ports"]), result
PY

# The docs' three files: the server stays (no teardown variable at all), without the key pair
# "default" that the test bed does not have.
docs=(-e @"$examples/docs-secrets.yml" -e @"$examples/docs-myvars.yml" -e @"$docs_cloud")
run docs-migration migration docs-inventory.yml "[\"$vm\"]" "${docs[@]}" || fail "docs inventory + secrets + myvars"
check $vm || fail "docs example: the migrated VM"
warned docs-migration 'key pair "default" does not exist for this user; the server is made without a key pair'
key=$(openstack --os-cloud "$cloud" server show "$(summary_field $vm server_id | tr -d '"')" -f value -c key_name)
[ -z "$key" ] || [ "$key" = None ] || fail "the docs example's server has key pair $key"
run docs-verify verify docs-inventory.yml "[\"$vm\"]" "${docs[@]}" || fail "verify.yml with the docs' secrets.yml"
grep -q 'region_name regionOne is not in the service catalog; using region RegionOne' "$work/docs-verify.log" \
  || fail "verify.yml did not say which region it used"
cleanup_vms $vm

# CBT: the old README's sync round, then AGENTS.md's phase 2 (cbt_sync false + cutover true):
# the final delta only, then the server.
run cbt-sync migration docs-inventory.yml "[\"$vm\"]" "${docs[@]}" -e @"$examples/vmk-old-readme-cbt-sync.yaml" \
  || fail "CBT sync round"
[ "$(summary_field $vm status)" = '"synced"' ] || fail "CBT sync: $(summary_field $vm status)"
run cutover migration docs-inventory.yml "[\"$vm\"]" "${docs[@]}" -e @"$examples/vmk-agents-cbt-two-phase.yaml" \
  || fail "AGENTS.md cutover"
grep -q 'cutover is true but cbt_sync is not' "$work/cutover.log" || fail "no message about cutover without cbt_sync"
summary_field $vm disks | grep -q '"full"' && fail "the cutover copied whole disks again"
check $vm || fail "after the AGENTS.md cutover"
echo "upstream_examples: ok"
