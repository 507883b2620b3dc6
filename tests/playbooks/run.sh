#!/usr/bin/env bash
# Runs every playbook test against the built collection, installed as users install it.
# Needs scripts/build.sh --collection first. Prints "N passed, N failed".
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tarball=$(ls "$repo"/build/os_migrate-vmware_migration_kit-*.tar.gz 2>/dev/null | head -n1)
[ -n "$tarball" ] || { echo "run.sh: no collection tarball: run scripts/build.sh --collection" >&2; exit 1; }

collections=$(mktemp -d)
trap 'rm -rf "$collections"' EXIT
ansible-galaxy collection install --force -p "$collections" "$tarball" >/dev/null || exit 1
export ANSIBLE_COLLECTIONS_PATH="$collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false

passed=0 failed=0 failures=()
check() {
  local name=$1; shift
  local start=$SECONDS
  if "$@"; then passed=$((passed + 1)); echo "ok: $name ($((SECONDS - start)) s)"
  else failed=$((failed + 1)); failures+=("$name"); echo "FAILED: $name ($((SECONDS - start)) s)"; fi
}

# ansible-doc renders every module the executable has (one run for all: each run costs ~3 s).
docs_render() {
  local names module out rc=0
  names=$("$repo/libexec/vmkit" modules | sed 's/^/os_migrate.vmware_migration_kit./')
  # shellcheck disable=SC2086 # one argument per module name
  out=$(ANSIBLE_NOCOLOR=1 ansible-doc $names 2>&1)
  for module in $names; do
    # A module whose documentation does not load is left out with a warning.
    printf '%s\n' "$out" | awk -v m="$module" '/^> MODULE/ { on = index($0, m " (") > 0 } on && /OPTIONS/ { found = 1 } END { exit !found }' ||
      { echo "ansible-doc did not render the options of $module"; rc=1; }
  done
  [ "$rc" -eq 0 ] || printf '%s\n' "$out" | grep -iE 'warning|error' | head -20
  return "$rc"
}
check "ansible-doc renders every module" docs_render
check "ansible-doc -l lists the modules" bash -c \
  "[ \$(ansible-doc -l os_migrate.vmware_migration_kit | wc -l) -eq $("$repo/libexec/vmkit" modules | wc -l) ]"

for playbook in "$repo"/tests/playbooks/*.yml; do
  check "$(basename "$playbook")" ansible-playbook -i localhost, \
    -e ansible_python_interpreter="$(command -v python3)" "$playbook"
done

# End-to-end scripts (migration.yml, sync.yml/cutover.yml, many VMs, the original's example
# files) on the test bed; they share tests/playbooks/e2e/ but nothing else (each makes its own
# VMs, networks and data directory), so VMKIT_PLAYBOOK_JOBS of them (2) run at once: most of
# their time is spent waiting on Cinder and Nova, not on the CPU. Each prints its output only
# when it fails; results are reported as the scripts end.
jobs=${VMKIT_PLAYBOOK_JOBS:-2}
logs=$(mktemp -d)
trap 'rm -rf "$collections" "$logs"' EXIT
declare -A started_at=()
finish_one() { # reaps one finished script and reports it
  local pid rc name
  wait -n -p pid; rc=$?
  name=${names[$pid]}
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); tail -n 1 "$logs/$name.log"; echo "ok: $name ($((SECONDS - started_at[$name])) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); cat "$logs/$name.log"
    echo "FAILED: $name ($((SECONDS - started_at[$name])) s)"
  fi
  unset "names[$pid]"
}
declare -A names=()
# The longest first, so that the last one to start does not run alone at the end.
longest_first=(upstream_examples.sh migration_warm.sh migration_cold.sh migration_many.sh migration_inflight.sh)
scripts=()
for name in "${longest_first[@]}"; do [ -e "$repo/tests/playbooks/$name" ] && scripts+=("$repo/tests/playbooks/$name"); done
for script in "$repo"/tests/playbooks/*.sh; do
  [[ " ${longest_first[*]} " == *" $(basename "$script") "* ]] || scripts+=("$script")
done
for script in "${scripts[@]}"; do
  [ -e "$script" ] && [ "$(basename "$script")" != run.sh ] || continue
  while [ "${#names[@]}" -ge "$jobs" ]; do finish_one; done
  name=$(basename "$script")
  started_at[$name]=$SECONDS
  bash "$script" >"$logs/$name.log" 2>&1 &
  names[$!]=$name
done
while [ "${#names[@]}" -gt 0 ]; do finish_one; done

[ "$failed" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "playbooks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
