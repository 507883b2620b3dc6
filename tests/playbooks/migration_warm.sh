#!/usr/bin/env bash
# Warm migration of a copy of lab-scratch (running, CBT on): sync.yml, a guest write, sync.yml again
# (only the change is copied), another write, then migration.yml with cbt_sync and
# os_migrate_cutover_at 2 minutes ahead (its checks, export and metadata take 30 to 45 s and a
# delta round 15 to 30 s on a busy test bed): sync rounds every 10 s until then, the cutover at
# that time (final delta, server): volumes bit-exact with the disks after the last write, the
# rounds in the summary. A cutover time without a zone or in the past stops migration.yml before
# anything changes. A re-run of cutover.yml changes nothing.
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
refused() { # refused CUTOVER_AT MESSAGE: migration.yml stops in its checks, naming the variable
  playbook migration "${vars[@]}" -e cbt_sync=true -e os_migrate_cutover_at="$1" >"$work/refused.log" 2>&1 &&
    fail "migration.yml accepted os_migrate_cutover_at=$1"
  grep -q "$2" "$work/refused.log" || fail "os_migrate_cutover_at=$1: no message \"$2\": $(grep -m1 'msg' "$work/refused.log")"
  grep -q 'PLAY \[Prepare the migrator' "$work/refused.log" && fail "os_migrate_cutover_at=$1: refused too late"
}
refused "$(date -d '+1 hour' +%Y-%m-%dT%H:%M:%S)" 'os_migrate_cutover_at is ".*": give an ISO 8601 time with its zone'
refused "$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)" 'os_migrate_cutover_at .* is in the past'
# In another zone than the machine's: the zone must be honoured.
cutover_at=$(TZ=Asia/Kolkata date -d '+120 seconds' +%Y-%m-%dT%H:%M:%S%:z)
playbook migration "${vars[@]}" -e cbt_sync=true -e os_migrate_cutover_at="$cutover_at" -e os_migrate_sync_interval=10 ||
  fail "migration.yml with a cutover at $cutover_at"
check $vm || fail "after the scheduled cutover"
python3 - "$work/data/migration-summary.json" "$vm" "$(date -d "$cutover_at" +%s)" <<'PY' || fail "the rounds of the scheduled cutover"
import datetime, json, sys
summary, vm, cutover_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
rounds = next(r for r in json.load(open(summary)) if r["vm"] == vm)["rounds"]
start = lambda r: datetime.datetime.strptime(r["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
modes = [r["mode"] for r in rounds]
assert modes[-1] == "cutover" and set(modes[:-1]) == {"sync"} and len(modes) >= 3, modes
assert [r["round"] for r in rounds] == list(range(1, len(rounds) + 1)), rounds
assert all(start(r) < cutover_at for r in rounds[:-1]) and start(rounds[-1]) >= cutover_at, (cutover_at, rounds)
assert rounds[0]["bytes_copied"] >= 1048576 and all(len(r["change_ids"]) == 2 for r in rounds), rounds
assert rounds[-1]["status"] == "migrated" and all(r["status"] == "synced" for r in rounds[:-1]), rounds
PY
server=$(summary_field $vm server_id)
playbook cutover "${vars[@]}" || fail "cutover.yml again"
[ "$(summary_field $vm changed)" = false ] || fail "the second cutover changed $vm"
[ "$(summary_field $vm server_id)" = "$server" ] || fail "the second cutover made another server"
echo "migration_warm: ok"
