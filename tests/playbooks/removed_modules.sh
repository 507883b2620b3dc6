#!/usr/bin/env bash
# The 2.x modules this collection does not ship fail with meta/runtime.yml's tombstone: that they
# were removed, why, and what replaces them.
set -uo pipefail
declare -A replacement=(
  [generate_heat_template]=create_server [create_heat_stack]=create_network_port
  [export_flavor]=import_flavor [import_vmware_volume]=migrate [warn]=ansible.builtin.debug
)
rc=0
for module in "${!replacement[@]}"; do
  out=$(ANSIBLE_LOCALHOST_WARNING=false ansible localhost -i localhost, -c local -m "os_migrate.vmware_migration_kit.$module" -a 'msg=x' 2>&1)
  if grep -q "has been removed" <<<"$out" && grep -q "${replacement[$module]}" <<<"$out"; then
    echo "ok: $module"
  else
    echo "FAILED: $module is not a tombstone naming ${replacement[$module]}: $out"; rc=1
  fi
done
[ "$rc" -eq 0 ] && echo "removed_modules: ok"
exit "$rc"
