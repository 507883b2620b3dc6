#!/usr/bin/env bash
# The per-ESXi-host cap on VMs in flight (os_migrate_max_inflight_per_esxi), proved from the
# simulator's own record of open snapshots (GET /inflight: a migration holds one snapshot while it
# reads its VM), not from what the migrator says of itself. 9 small VMs (copies of
# bad-no-guest-ips: one 1 MiB disk, CBT on, only a warning at validation) on 3 ESXi hosts, uneven
# (5 on DC0_C0_H0, 2 on DC0_C0_H1, 2 on DC0_C0_H2, listed host by host), one sync round of ONE
# playbook run over the 2 conversion hosts with 3 slots each and a cap of 2 per ESXi host: no host
# ever had more than 2 VMs in flight, the 5-VM host had 2 (the cap was used, not just never
# reached), at some moment at least 3 VMs were in flight over all hosts, more than the cap (the
# slots stayed busy with the other hosts' VMs; the first round has 2 + 1 + 1, 3 leaves room for
# a loaded machine), export_metadata reports each VM's host as placed, every VM synced
# and its volume is bit-exact.
source "$(dirname "$0")/e2e/lib.sh"
limit=2
declare -A placed=()
vms=()
copy=0
for spec in DC0_C0_H0:5 DC0_C0_H1:2 DC0_C0_H2:2; do
  for ((i = 0; i < ${spec#*:}; i++)); do
    copy=$((copy + 1))
    vm=$(make_vm bad-no-guest-ips "" "${spec%:*}" "$copy") || fail "could not create the VMs in the simulator"
    vms+=("$vm")
    placed[$vm]=${spec%:*}
  done
done
# One cleanup per VM at once: the openstack CLI's start-up is most of each call.
trap 'for vm in "${vms[@]}"; do cleanup_vms "$vm" & done; wait; rm -rf "$work"' EXIT
list=$(printf '"%s",' "${vms[@]}")
vars=(-e "{\"vms_list\": [${list%,}], \"os_migrate_concurrency\": 3, \"os_migrate_max_inflight_per_esxi\": $limit,
           \"network_map\": {\"VM Network\": \"$VMKIT_TEST_NETWORK\"}}")

start=$SECONDS
playbook sync "${vars[@]}" >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "the plan failed"; }
took=$((SECONDS - start))
curl -sf "$VMKIT_TEST_VSPHERE_CONTROL/inflight?prefix=$prefix-" >"$work/inflight.json" || fail "GET /inflight"

# Each VM's host as export_metadata saw it, then the record: checked before the volumes so that
# a broken cap is what a failure says first.
for vm in "${vms[@]}"; do
  host=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hw_esxi_host"])' "$work/data/$vm/guest_info.json") ||
    fail "no guest_info.json for $vm"
  [ "$host" = "${placed[$vm]}" ] || fail "export_metadata says $vm runs on $host, the simulator placed it on ${placed[$vm]}"
done
placements=$(for vm in "${vms[@]}"; do printf '%s=%s\n' "$vm" "${placed[$vm]}"; done)
peaks=$(python3 - "$work/inflight.json" "$limit" "$placements" <<'PY'
import json, sys
record, limit = json.load(open(sys.argv[1])), int(sys.argv[2])
placed = dict(line.split("=") for line in sys.argv[3].splitlines())
hosts = record["hosts"]
peaks = ", ".join(f"{h} {c['peak']}" for h, c in sorted(hosts.items()))
over = {h: c["peak"] for h, c in hosts.items() if c["peak"] > limit}
assert not over, f"more than {limit} VMs of one ESXi host in flight at once: {peaks}"
assert hosts.get("DC0_C0_H0", {}).get("peak") == limit, f"the 5-VM host never had {limit} VMs in flight: {peaks}"
assert record["all"]["peak"] >= 3, f"at most {record['all']['peak']} VMs in flight at once over all hosts (slots idle): {peaks}"
intervals = record["intervals"]
assert sorted(i["vm"] for i in intervals) == sorted(placed), f"not one snapshot per VM: {[i['vm'] for i in intervals]}"
assert all(i["end"] and i["host"] == placed[i["vm"]] for i in intervals), f"an open snapshot or a moved VM: {intervals}"
assert record["all"]["current"] == 0, record["all"]
print(f"{peaks}; all {record['all']['peak']}")
PY
) || fail "the simulator's record of VMs in flight ($work/inflight.json)"

# The checks at once: each is mostly Ansible's start-up.
checks=()
for vm in "${vms[@]}"; do
  check "$vm" -e expect_status=synced >"$work/check-$vm.out" 2>&1 &
  checks+=($!)
done
for i in "${!vms[@]}"; do
  wait "${checks[$i]}" || { cat "$work/check-${vms[$i]}.out"; fail "${vms[$i]}"; }
done
echo "migration_inflight: ok (9 VMs on 3 ESXi hosts, 2 conversion hosts x 3 slots, cap $limit per host;" \
  "peak in flight per host: $peaks; playbook ${took} s, test $SECONDS s)"
