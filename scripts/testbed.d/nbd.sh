# shellcheck shell=bash
# The test bed's NBD part: nbdkit (with its file/memory/pattern/data/sparse-random/curl plugins and
# filters), libnbd's tools (nbdinfo, nbdcopy, nbdsh + python3-libnbd for the benchmark baseline) and
# qemu-nbd. Nothing runs in the background: each test starts its own server on a Unix socket in a
# temporary directory (crates/testbed, `testbed::nbdkit`) and kills it when done.
# The conversion host's real vddk plugin and the fake VixDiskLib of nbdkit's tests are built from
# Debian's nbdkit source package by tests/vddk/build (cached under ~/.cache/vmkit/vddk) and run by
# their paths: nbdkit's own plugin directory is left as Debian ships it.
#
# Sourced by scripts/testbed, which calls nbd_up | nbd_down | nbd_status | nbd_env.

NBD_PACKAGES="nbdkit libnbd-bin python3-libnbd qemu-utils"

_nbd_missing() {
  local missing=() tool
  for tool in nbdkit nbdinfo nbdcopy nbdsh qemu-nbd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  /usr/bin/python3 -c 'import nbd' 2>/dev/null || missing+=("python3-libnbd")
  echo "${missing[*]}"
}

nbd_up() {
  local missing
  missing=$(_nbd_missing)
  if [[ -n $missing ]]; then
    echo "[nbd] installing $NBD_PACKAGES (missing: $missing)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $NBD_PACKAGES >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $NBD_PACKAGES >&2; } ||
      { echo "[nbd] apt-get install $NBD_PACKAGES failed" >&2; return 1; }
  fi
  missing=$(_nbd_missing)
  [[ -z $missing ]] || { echo "[nbd] still missing: $missing" >&2; return 1; }
  local vddk
  vddk=$("$TESTBED_REPO/tests/vddk/build") || { echo "[nbd] building the vddk plugin failed" >&2; return 1; }
  echo "[nbd] ready: $(nbdkit --version), $(nbdinfo --version | head -1), $(qemu-nbd --version | head -1), vddk plugin: $(<"$vddk/SOURCE")" >&2
}

nbd_down() {
  # Tests own their servers (killed on drop, --exit-with-parent); nothing of ours is left running.
  echo "[nbd] nothing to stop: tests start and stop their own servers" >&2
}

nbd_status() {
  local missing out
  missing=$(_nbd_missing)
  if [[ -n $missing ]]; then
    echo "[nbd] NOT READY: missing $missing (run: scripts/testbed up nbd)" >&2
    return 1
  fi
  # One real request: serve a tiny memory export and ask nbdinfo for its size.
  if ! out=$(nbdkit -U - memory size=1M --run 'nbdinfo --size "$uri"' 2>&1) || [[ $out != 1048576 ]]; then
    echo "[nbd] NOT HEALTHY: nbdkit + nbdinfo round trip failed: $out" >&2
    return 1
  fi
  if [[ -z $("$TESTBED_REPO/tests/vddk/build" --print-dir) ]]; then
    echo "[nbd] NOT READY: the vddk plugin is not built (run: scripts/testbed up nbd)" >&2
    return 1
  fi
  echo "[nbd] healthy: $(nbdkit --version), nbdinfo saw a 1 MiB export, the vddk plugin is built" >&2
}

nbd_env() {
  testbed_export VMKIT_NBDKIT_VERSION "$(nbdkit --version 2>/dev/null | awk '{print $2}')"
  local vddk
  vddk=$("$TESTBED_REPO/tests/vddk/build" --print-dir 2>/dev/null)
  if [[ -n $vddk ]]; then
    testbed_export VMKIT_TEST_VDDK_PLUGIN "$vddk/nbdkit-vddk-plugin.so"
    testbed_export VMKIT_TEST_VDDK_FAKE_LIBRARY "$vddk/lib64/libvixDiskLib.so.6"
  fi
}
