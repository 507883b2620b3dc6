#!/usr/bin/env bash
# Smoke test of the test bed's OpenStack with clients we did not write (Debian's `openstack` CLI,
# losetup, dd, curl): tokens, a volume whose file appears, a loop device over it, attach/detach to
# the conversion host, a port with a fixed MAC and IPv4 + IPv6, a boot-from-volume server.
# Removes everything it created. Last line: "N passed, N failed"; exit status 1 on any failure.
#   scripts/testbed up openstack && tests/smoke/openstack.sh
set -uo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [ -z "${VMKIT_TEST_LOOP_VOLUME_DIR:-}" ]; then
  env_lines=$(bash "$REPO/scripts/testbed.d/openstack.sh" env) || {
    echo "the test bed's OpenStack is not up: scripts/testbed up openstack; eval \"\$(scripts/testbed env openstack)\""
    echo "0 passed, 1 failed"
    exit 1
  }
  eval "$env_lines"
fi
export OS_CLOUD=$VMKIT_TEST_CLOUD

PREFIX=smoke-$$
passed=0 failed=0
declare -a cleanup=()
step() { # description command...
  local what=$1 out t0=$SECONDS; shift
  if out=$(set -o pipefail; "$@" 2>&1); then
    passed=$((passed + 1)); printf 'PASS %-52s %3ds %s\n' "$what" $((SECONDS - t0)) "$(tail -n1 <<<"$out" | cut -c1-70)"
  else
    failed=$((failed + 1)); printf 'FAIL %-52s %3ds\n%s\n' "$what" $((SECONDS - t0)) "$out"
  fi
}
# A hung API must fail the step, not the whole run.
openstack() { timeout 180 /usr/bin/openstack "$@"; }
field() { openstack "$@" -f value; }
wait_for() { # kind id field value [seconds]
  local deadline=$((SECONDS + ${5:-120})) now
  [ -n "$2" ] || { echo "no $1 to wait for (its creation failed)"; return 1; }
  while :; do
    now=$(field "$1" show "$2" -c "$3") || return 1
    [ "$now" = "$4" ] && { echo "$1 $2 $3=$now"; return 0; }
    case $now in error* | ERROR*) echo "$1 $2 $3=$now"; return 1 ;; esac
    [ $SECONDS -lt $deadline ] || { echo "timeout: $1 $2 $3=$now, want $4"; return 1; }
    sleep 1
  done
}
wait_gone() { # kind id
  local deadline=$((SECONDS + 120))
  [ -n "$2" ] || { echo "no $1 to wait for (its creation failed)"; return 1; }
  while openstack "$1" show "$2" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "timeout: $1 $2 still exists"; return 1; }
    sleep 1
  done
  echo "$1 $2 gone"
}
on_exit() {
  local i
  for ((i = ${#cleanup[@]} - 1; i >= 0; i--)); do eval "${cleanup[i]}" >/dev/null 2>&1 || true; done
}
trap on_exit EXIT

step "token with password (cloud $VMKIT_TEST_CLOUD)" field token issue -c expires
step "token with application credential ($VMKIT_TEST_CLOUD_APPCRED)" \
  field --os-cloud "$VMKIT_TEST_CLOUD_APPCRED" token issue -c expires
step "admin token ($VMKIT_TEST_CLOUD_ADMIN)" field --os-cloud "$VMKIT_TEST_CLOUD_ADMIN" token issue -c expires
step "metadata service gives the conversion host's uuid" \
  bash -o pipefail -c "curl -fsS '$VMKIT_TEST_METADATA_URL' | jq -e --arg id '$VMKIT_TEST_CONVERSION_HOST_ID' '.uuid == \$id'"

# --- a volume is a file, and a loop device over that file is its block device ---------------------
VOLUME_TYPE=${VMKIT_TEST_VOLUME_TYPES##*,}
VOL=$(field volume create --size 1 --type "$VOLUME_TYPE" "$PREFIX-data" -c id) || VOL=
cleanup+=("openstack volume delete $VOL")
step "volume create 1 GiB, type $VOLUME_TYPE" wait_for volume "$VOL" status available
VOLFILE=$VMKIT_TEST_LOOP_VOLUME_DIR/volume-$VOL
step "its file is in VMKIT_TEST_LOOP_VOLUME_DIR, 1 GiB" \
  bash -o pipefail -c "[ \$(stat -c %s '$VOLFILE') = 1073741824 ] && du -k --apparent-size '$VOLFILE'"
LOOP=$(losetup --find --show "$VOLFILE" 2>&1) || LOOP=
cleanup+=("[ -n '$LOOP' ] && losetup -d '$LOOP'")
step "loop device over the volume file" test -b "$LOOP"
BLOCK=$(mktemp)
cleanup+=("rm -f $BLOCK")
head -c 65536 /dev/urandom >"$BLOCK"
step "write 64 KiB at 1 MiB through the loop device (O_DIRECT)" \
  dd if="$BLOCK" of="$LOOP" bs=64K seek=16 oflag=direct conv=notrunc,fsync status=none
step "read the same bytes back from the volume file" \
  bash -o pipefail -c "dd if='$VOLFILE' bs=64K skip=16 count=1 status=none | cmp - '$BLOCK'"
step "detach the loop device" losetup -d "$LOOP"

# --- attach to and detach from the conversion host --------------------------------------------------
CH=$VMKIT_TEST_CONVERSION_HOST_ID
step "conversion host is ACTIVE" wait_for server "$CH" status ACTIVE 5
step "attach the volume to the conversion host" openstack server add volume "$CH" "$VOL"
cleanup+=("openstack server remove volume $CH $VOL")
step "volume in-use" wait_for volume "$VOL" status in-use
step "attachment names the conversion host" \
  bash -o pipefail -c "openstack volume show $VOL -f json -c attachments | jq -e '.attachments[0].server_id == \"$CH\"'"
step "detach the volume (service token)" openstack server remove volume "$CH" "$VOL"
step "volume available again" wait_for volume "$VOL" status available

# --- a port with a fixed MAC and fixed IPv4 + IPv6 -----------------------------------------------------
MAC=fa:16:3e:$(printf '%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
IP4=10.20.0.$((10 + RANDOM % 80))
IP6=fd00:20::$(printf '%x' $((0x1000 + RANDOM % 4096)))
PORT=$(field port create --network "$VMKIT_TEST_NETWORK" --mac-address "$MAC" \
  --fixed-ip "subnet=$VMKIT_TEST_SUBNET_V4,ip-address=$IP4" \
  --fixed-ip "subnet=$VMKIT_TEST_SUBNET_V6,ip-address=$IP6" \
  --security-group "$VMKIT_TEST_SECURITY_GROUP" "$PREFIX-port" -c id 2>&1) || PORT=
cleanup+=("[ -n '$PORT' ] && openstack port delete $PORT")
step "port with fixed MAC $MAC, $IP4, $IP6" \
  bash -o pipefail -c "openstack port show '$PORT' -f json | jq -e '.mac_address == \"$MAC\" and
    ([.fixed_ips[].ip_address] | sort) == ([\"$IP4\", \"$IP6\"] | sort)'"

# --- boot from volume -------------------------------------------------------------------------------
BOOT=$(field volume create --size 1 --type "${VMKIT_TEST_VOLUME_TYPES%%,*}" --bootable "$PREFIX-boot" -c id) || BOOT=
cleanup+=("openstack volume delete $BOOT")
step "bootable volume available" wait_for volume "$BOOT" status available
SERVER=$(field server create --flavor 2vcpu-4gib-disk0 --volume "$BOOT" --nic "port-id=$PORT" \
  --key-name "$VMKIT_TEST_KEYPAIR" "$PREFIX-server" -c id 2>&1) || SERVER=
cleanup+=("[ -n '$SERVER' ] && openstack server delete --wait $SERVER")
step "boot-from-volume server ACTIVE" wait_for server "$SERVER" status ACTIVE
step "its port is bound to it with the fixed MAC" \
  bash -o pipefail -c "openstack port show '$PORT' -f json | jq -e '.device_id == \"$SERVER\" and .status == \"ACTIVE\" and .mac_address == \"$MAC\"'"
step "server delete" openstack server delete --wait "$SERVER"
step "server gone" wait_gone server "$SERVER"
step "boot volume available after the server" wait_for volume "$BOOT" status available

# --- cleanup, checked ---------------------------------------------------------------------------------
trap - EXIT
step "port delete" openstack port delete "$PORT"
step "volumes delete" openstack volume delete "$VOL" "$BOOT"
step "volumes gone" bash -o pipefail -c "$(declare -f wait_gone); wait_gone volume $VOL && wait_gone volume $BOOT"
step "volume files gone" bash -o pipefail -c "[ -n '$VOL' ] && [ -n '$BOOT' ] && ! ls '$VMKIT_TEST_LOOP_VOLUME_DIR/volume-$VOL' '$VMKIT_TEST_LOOP_VOLUME_DIR/volume-$BOOT' 2>/dev/null"
step "no loop device left over the volume dir" \
  bash -o pipefail -c "! losetup -l -n -O BACK-FILE | grep -F '$VMKIT_TEST_LOOP_VOLUME_DIR/'"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
