#!/usr/bin/env bash
# A plan of 6 VMs over 2 conversion hosts (conv-a, conv-b), 2 migrations at once on each, as a
# CBT sync round (the VMs keep running). bad-cbt-off is planted to fail in migrate (changed block
# tracking is off; validation is told not to stop it): the 5 others are copied bit-exact, each VM
# ran on exactly one host, both hosts were used, the failed VM's log was fetched, the play fails
# at the end with a per-VM summary. Prints the wall time against one host with one slot.
source "$(dirname "$0")/e2e/lib.sh"
vms=(bad-usb bad-tpm bad-passthrough bad-no-guest-ips bad-dup-mac-a bad-cbt-off)
trap 'cleanup_vms "${vms[@]}"; rm -rf "$work"' EXIT
cleanup_vms "${vms[@]}"
list=$(printf '"%s",' "${vms[@]}")
vars=(-e "{\"vms_list\": [${list%,}], \"validate_fail_on\": \"never\", \"os_migrate_concurrency\": 2,
           \"network_map\": {\"VM Network\": \"$VMKIT_TEST_NETWORK\", \"dpg-prod\": \"$VMKIT_TEST_NETWORK2\"}}")

start=$SECONDS
playbook sync "${vars[@]}" >"$work/run.log" 2>&1 && { cat "$work/run.log"; fail "the plan passed with a failing VM"; }
parallel=$((SECONDS - start))
grep -q 'bad-cbt-off: failed' "$work/run.log" || { cat "$work/run.log"; fail "no per-VM summary naming the failed VM"; }
grep -q '% (' "$work/run.log" || { cat "$work/run.log"; fail "no progress line"; }
for vm in "${vms[@]}"; do
  if [ "$vm" = bad-cbt-off ]; then
    [ "$(summary_field $vm status)" = '"failed"' ] || fail "$vm did not fail"
    [ -s "$work/data/$vm/migration.log" ] || fail "the log of $vm was not fetched"
  else
    check "$vm" -e expect_status=synced >/dev/null || fail "$vm"
  fi
done
python3 - "$work/data/migration-summary.json" <<'PY' || fail "assignment"
import json, sys
rows = json.load(open(sys.argv[1]))
hosts = [r.get("conversion_host") for r in rows]
assert len(rows) == 6 and all(h in ("conv-a", "conv-b") for h in hosts), rows
assert hosts.count("conv-a") == 3 and hosts.count("conv-b") == 3, hosts
PY
cleanup_vms "${vms[@]}"
start=$SECONDS
playbook sync "${vars[@]}" -e os_migrate_concurrency=1 -e '{"os_migrate_conversion_host_map": {"bad-usb": "conv-a", "bad-tpm": "conv-a", "bad-passthrough": "conv-a", "bad-no-guest-ips": "conv-a", "bad-dup-mac-a": "conv-a", "bad-cbt-off": "conv-a"}}' >"$work/run1.log" 2>&1
sequential=$((SECONDS - start))
echo "migration_many: ok (6 VMs: ${parallel} s on 2 hosts x 2 slots, ${sequential} s on 1 host x 1 slot)"
