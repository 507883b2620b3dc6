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
quiet() { # run a command, showing its output only when it fails
  local out rc
  out=$(mktemp)
  "$@" >"$out" 2>&1; rc=$?
  [ "$rc" -eq 0 ] && tail -n 1 "$out" || cat "$out"
  rm -f "$out"
  return "$rc"
}
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
# files) on the test bed; they share tests/playbooks/e2e/.
# Each prints its playbook output only when it fails.
for script in "$repo"/tests/playbooks/*.sh; do
  [ -e "$script" ] && [ "$script" != "${BASH_SOURCE[0]}" ] && [ "$(basename "$script")" != run.sh ] || continue
  check "$(basename "$script")" quiet bash "$script"
done

[ "$failed" -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "playbooks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
