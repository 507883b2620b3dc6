#!/usr/bin/env bash
# Builds the one static vmkit executable into libexec/ and links every module to it:
#   plugins/modules/<module> -> ../../libexec/vmkit
# With --collection, also builds the Galaxy tarball into build/ and checks Galaxy's size limit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=x86_64-unknown-linux-musl
galaxy_limit_bytes=$((20 * 1000 * 1000))

die() { echo "build.sh: $*" >&2; exit 1; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  rustup target add "$target"
fi
# ring (TLS) compiles C: the musl target needs musl-gcc.
command -v musl-gcc >/dev/null || die "musl-gcc is missing: apt-get install musl-tools"

cd "$repo"
cargo build --release --locked --target "$target" -p vmkit
exe="${CARGO_TARGET_DIR:-$repo/target}/$target/release/vmkit"

kind=$(file -b "$exe")
case "$kind" in
  *"statically linked"* | *"static-pie linked"*) ;;
  *) die "$exe is not statically linked: $kind" ;;
esac
install -D -m 0755 "$exe" libexec/vmkit

modules=$(libexec/vmkit modules)
for module in $modules; do
  [ -f "plugins/modules/$module.py" ] || die "module $module has no plugins/modules/$module.py (its documentation)"
  ln -sfn ../../libexec/vmkit "plugins/modules/$module"
done
# A module that was removed from the executable must not keep a dangling entry point.
for link in plugins/modules/*; do
  [ -L "$link" ] || continue
  grep -qx "$(basename "$link")" <<<"$modules" || rm -f "$link"
done
echo "libexec/vmkit: $(stat -c %s libexec/vmkit) bytes, $kind"
echo "modules: $(echo $modules)"

if [ "${1:-}" = "--collection" ]; then
  mkdir -p build
  rm -f build/os_migrate-vmware_migration_kit-*.tar.gz
  ansible-galaxy collection build --force --output-path build . >/dev/null
  tarball=$(ls build/os_migrate-vmware_migration_kit-*.tar.gz)
  size=$(stat -c %s "$tarball")
  [ "$size" -le "$galaxy_limit_bytes" ] || die "$tarball is $size bytes: over Galaxy's 20 MB upload limit"
  echo "$tarball: $size bytes"
fi
