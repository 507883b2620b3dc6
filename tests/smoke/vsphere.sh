#!/usr/bin/env bash
# Smoke test of the test bed's vSphere simulator with a client we did not write (govmomi, in
# tests/vcsim/smoke): login, properties against tests/fixtures/vms.yaml, point-in-time snapshots,
# QueryChangedDiskAreas, hooks, server-side session ends. Needs `scripts/testbed up vsphere`.
# Prints one line per check and "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail

TESTBED_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VMKIT_TESTBED_DIR=${VMKIT_TESTBED_DIR:-$TESTBED_REPO/.testbed}
export TESTBED_REPO VMKIT_TESTBED_DIR

fail() {
  echo "not ok - $*"
  echo "0 passed, 1 failed"
  exit 1
}

if [[ -z ${VMKIT_TEST_VSPHERE_URL:-} ]]; then
  env=$("$TESTBED_REPO/scripts/testbed" env vsphere) ||
    fail "the vSphere simulator is not up: run scripts/testbed up vsphere; eval \"\$(scripts/testbed env vsphere)\""
  eval "$env"
fi

# shellcheck source=../../scripts/testbed.d/vsphere.sh
source "$TESTBED_REPO/scripts/testbed.d/vsphere.sh"
vsphere_go_build tests/vcsim/smoke "$VSPHERE_SMOKE" || fail "cannot build tests/vcsim/smoke"
exec "$VSPHERE_SMOKE"
