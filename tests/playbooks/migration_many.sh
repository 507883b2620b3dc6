#!/usr/bin/env bash
# A plan of 6 VMs (copies of small fixture VMs) over 2 conversion hosts (conv-a, conv-b), 2
# migrations at once on each, as a CBT sync round (the VMs keep running). The copy of bad-cbt-off
# is planted to fail in migrate (changed block
# tracking is off; validation is told not to stop it): the 5 others are copied bit-exact, each VM
# ran on exactly one host, both hosts were used, the failed VM's log was fetched, the play fails
# at the end with a line per VM; the wave report renders in headless Chromium with the summary's
# figures. With VMKIT_MANY_COMPARE=1 it also runs the plan on one host
# with one slot and prints both wall times.
source "$(dirname "$0")/e2e/lib.sh"
vms=()
for fixture in bad-usb bad-tpm bad-passthrough bad-no-guest-ips bad-dup-mac-a bad-cbt-off; do
  vms+=("$(make_vm $fixture)") || fail "could not create the VMs in the simulator"
done
planted=$prefix-bad-cbt-off
trap 'cleanup_vms "${vms[@]}"; rm -rf "$work"' EXIT
list=$(printf '"%s",' "${vms[@]}")
vars=(-e "{\"vms_list\": [${list%,}], \"validate_fail_on\": \"never\", \"os_migrate_concurrency\": 2, \"import_workloads_progress_interval\": 10,
           \"network_map\": {\"VM Network\": \"$VMKIT_TEST_NETWORK\", \"dpg-prod\": \"$VMKIT_TEST_NETWORK2\"}}")

start=$SECONDS
playbook sync "${vars[@]}" >"$work/run.log" 2>&1 && { cat "$work/run.log"; fail "the plan passed with a failing VM"; }
parallel=$((SECONDS - start))
grep -q "$planted: failed" "$work/run.log" || { cat "$work/run.log"; fail "no per-VM summary naming the failed VM"; }
# The progress lines are migrate's own status lines: a step, each disk's copy, the outcome.
grep -Eq "item=$prefix-[a-z0-9-]+: (copy: disk [0-9]+ |sync done: )" "$work/run.log" || { cat "$work/run.log"; fail "no progress line"; }
grep -q ' (done)' "$work/run.log" && fail "a progress line says (done)"
for vm in "${vms[@]}"; do
  if [ "$vm" = "$planted" ]; then
    [ "$(summary_field $vm status)" = '"failed"' ] || fail "$vm did not fail"
    summary_field $vm msg | grep -q 'changed block tracking is off' || fail "$vm: $(summary_field $vm msg)"
    grep -q "Show the end of the migration log of $vm" "$work/run.log" || fail "the log of $vm was not shown"
    # migrate names its log in the result; when it wrote one, it is fetched beside the data.
    if [ -e "$work/data/$vm/migrate.log" ]; then
      cmp -s "$work/data/$vm/migrate.log" "$work/data/$vm/migration.log" || fail "the log of $vm was not fetched"
    fi
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
# The wave report: beside the summary, archived with the VMs' logs, and in headless Chromium
# its figures are the summary's (the check of crates/wave-report/tests/chromium.rs).
[ -s "$work/data/migration-report.md" ] && [ -s "$work/data/migration-report.html" ] || fail "no wave report beside the summary"
archive=$(ls -d "$work"/data/reports/wave-* | tail -n 1)
[ -s "$archive/migration-summary.json" ] && [ -s "$archive/migration-report.html" ] || fail "the report was not archived in $archive"
[ "$(ls "$archive/logs" | wc -l)" -ge 5 ] || fail "the logs of the synced VMs were not archived: $(ls "$archive/logs")"
VMKIT_REPORT_SUMMARY="$work/data/migration-summary.json" VMKIT_REPORT_HTML="$work/data/migration-report.html" \
  cargo nextest run --manifest-path "$e2e/../../../Cargo.toml" -p wave-report --test chromium >"$work/chromium.log" 2>&1 ||
  { cat "$work/chromium.log"; fail "the wave report does not render with the summary's figures"; }
phase() { # wall time of the migrations: first start to last end, over the VMs that ran
  python3 -c 'import json,sys; r=[x for x in json.load(open(sys.argv[1])) if "started" in x]; print(round(max(float(x["started"])+float(x["seconds"]) for x in r)-min(float(x["started"]) for x in r),1))' \
    "$work/data/migration-summary.json"
}
parallel_phase=$(phase)
# The same plan on one host with one slot is a measurement, not a check: only when asked
# (VMKIT_MANY_COMPARE=1, e.g. from the benchmarks), to keep the test suite's time down.
if [ "${VMKIT_MANY_COMPARE:-0}" != 1 ]; then
  echo "migration_many: ok (6 VMs, whole playbook / migrations only: ${parallel} s / ${parallel_phase} s on 2 hosts x 2 slots)"
  exit 0
fi
cleanup_vms "${vms[@]}"
start=$SECONDS
playbook sync "${vars[@]}" -e os_migrate_concurrency=1 -e "{\"os_migrate_conversion_host_map\": {$(printf '"%s": "conv-a",' "${vms[@]}" | sed 's/,$//')}}" >"$work/run1.log" 2>&1
sequential=$((SECONDS - start))
sequential_phase=$(phase)
echo "migration_many: ok (6 VMs, whole playbook / migrations only: ${parallel} s / ${parallel_phase} s on 2 hosts x 2 slots, ${sequential} s / ${sequential_phase} s on 1 host x 1 slot)"
