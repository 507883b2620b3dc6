# Shared by the guest scripts (sourced): the cache, the machine's Debian mirror, debootstrap, chroots.
# shellcheck shell=bash

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMKIT_CACHE_DIR=${VMKIT_CACHE_DIR:-$HOME/.cache/vmkit}

guest_log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
guest_die() { guest_log "error: $*"; exit 1; }

# The first 16 hex digits of the sha256 over the given files: a cache key that changes with the recipe.
guest_hash() { cat "$@" | sha256sum | cut -c1-16; }

# The Debian mirror this machine's apt uses for bookworm (deb822 or one-line sources), so the guests are
# built from the same place as everything else and nothing else is downloaded. VMKIT_DEBIAN_MIRROR wins.
guest_mirror() {
  if [[ -n ${VMKIT_DEBIAN_MIRROR:-} ]]; then
    printf '%s\n' "$VMKIT_DEBIAN_MIRROR"
    return
  fi
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk 'BEGIN{RS="";FS="\n"} /Suites:[^\n]*bookworm( |\n|$)/ && /Components:[^\n]*main/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, a, " "); print a[2]; exit } }' "$f")
    [[ -n $uri ]] && { printf '%s\n' "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1 == "deb" && $0 ~ / bookworm / && $0 ~ / main/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
    [[ -n $uri ]] && { printf '%s\n' "$uri"; return; }
  done
  guest_die "no Debian bookworm mirror in /etc/apt; set VMKIT_DEBIAN_MIRROR"
}

# Runs a command inside a chroot in a private mount namespace, so /proc, /sys and /dev are mounted for it
# and vanish with it, whatever happens. Extra host directories: GUEST_BINDS="dir1 dir2" (same path inside);
# GUEST_DEVS="loop0 loop0p1" gives it a private /dev with only those (and GUEST_UUIDS="uuid=loop0p1").
guest_chroot() { # root cmd...
  local root=$1
  shift
  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys"
    if [[ -n ${GUEST_DEVS:-} ]]; then
      # A private /dev holding only the named devices, with the /dev/disk/by-uuid links udev would make
      # (grub-mkconfig writes root=UUID= only when that link exists).
      mount -t tmpfs -o mode=0755 guestdev "$root/dev"
      for d in null zero full random urandom tty $GUEST_DEVS; do cp -a "/dev/$d" "$root/dev/$d"; done
      ln -s /proc/self/fd "$root/dev/fd"
      mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/disk/by-uuid"
      for link in ${GUEST_UUIDS:-}; do ln -s "../../${link#*=}" "$root/dev/disk/by-uuid/${link%%=*}"; done
    else
      mount --rbind /dev "$root/dev"
    fi
    for d in ${GUEST_BINDS:-}; do mkdir -p "$root$d"; mount --bind "$d" "$root$d"; done
    exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive ${GUEST_ENV:-} "$@"
  ' guest-chroot "$root" "$@"
}

# debootstrap of bookworm (minbase) into DIR from the machine's mirror, then the given packages with apt.
guest_debootstrap() { # dir packages...
  local dir=$1
  shift
  command -v debootstrap >/dev/null || guest_die "debootstrap is missing: apt-get install debootstrap"
  local mirror
  mirror=$(guest_mirror)
  guest_log "debootstrap bookworm from $mirror into $dir"
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
    guest_die "debootstrap failed; see $dir.debootstrap.log"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$dir/etc/apt/apt.conf.d/90vmkit"
  # Services must not start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod +x "$dir/usr/sbin/policy-rc.d"
  guest_log "apt-get install $*"
  guest_chroot "$dir" apt-get install -y -q "$@" >>"$dir.debootstrap.log" 2>&1 ||
    guest_die "apt-get install failed; see $dir.debootstrap.log"
  guest_chroot "$dir" apt-get clean
}
