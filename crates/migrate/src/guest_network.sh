# Runs inside the converted Linux guest (virt-v2v-in-place --run, or virt-customize --run).
#
# On VMware the guest named its NICs after their PCI slots (ens192, ens224, ...). On KVM the
# same NICs are virtio devices in other slots, so the kernel names them ens3, ens4, ... and every
# interface configuration written for ens192 no longer applies: the guest boots unreachable.
# The NICs keep their MACs (the migration creates each Neutron port with the VMware NIC's MAC),
# so a udev rule that gives each MAC its old name back makes the old configuration apply as it
# was, whatever tool wrote it. Which old name belongs to which MAC is read from the guest's own
# network configuration: the name whose static configuration holds an address the guest reported
# on that MAC; or, with one NIC and one configured interface, that one.
#
# POSIX sh and awk only: the guest's shell may be dash or busybox.
#
# Usage: keep_nic_names ROOT MAC=ADDR,ADDR... ...   (ROOT is / in the guest)

# Prints "NAME ADDRESS" for every address of every interface configured under root $1 (and
# "NAME -" for an interface configured without one, e.g. by DHCP).
configured_interfaces() {
  root=$1
  # ifupdown (Debian, Ubuntu before netplan): "iface NAME inet static" then "address A[/len]".
  for f in "$root"/etc/network/interfaces "$root"/etc/network/interfaces.d/*; do
    [ -f "$f" ] || continue
    awk '
      $1 == "iface" { name = ($2 == "lo" ? "" : $2); if (name != "") print name, "-"; next }
      $1 == "auto" || $1 ~ /^allow-/ || $1 == "mapping" || $1 == "source" { name = ""; next }
      name != "" && $1 == "address" { sub(/\/.*/, "", $2); print name, $2 }
    ' "$f"
  done
  # netplan (Ubuntu): an interface is a key under "ethernets:"; its addresses follow, in a list
  # or a flow sequence. A key whose block matches by MAC already follows its NIC: left out.
  for f in "$root"/etc/netplan/*.yaml "$root"/etc/netplan/*.yml; do
    [ -f "$f" ] || continue
    awk '
      function indent(line) { match(line, /^ */); return RLENGTH }
      /^[ \t]*(#|$)/ { next }
      {
        i = indent($0)
        if ($1 == "ethernets:") { eth = i; name = ""; child = -1; next }
        if (eth >= 0 && i <= eth) { eth = -1; name = "" }
        if (eth < 0) next
        if (child < 0 && i > eth) child = i
        if (i == child) {
          name = $1; sub(/:$/, "", name); gsub(/["\047]/, "", name)
          if (name != "") seen[name] = 1
          next
        }
        if (name == "") next
        if ($1 == "macaddress:") by_mac[name] = 1
        line = $0
        while (match(line, /[0-9A-Fa-f:.]+\/[0-9]+/)) {
          address = substr(line, RSTART, RLENGTH); sub(/\/.*/, "", address)
          if (address ~ /[.:]/) found[++n] = name " " address
          line = substr(line, RSTART + RLENGTH)
        }
      }
      END {
        for (k in seen) if (!(k in by_mac)) print k, "-"
        for (k = 1; k <= n; k++) { split(found[k], p, " "); if (!(p[1] in by_mac)) print found[k] }
      }
    ' eth=-1 child=-1 "$f"
  done
  # NetworkManager keyfiles: interface-name= and address1=A/len,gateway; a profile bound to a
  # MAC (mac-address=) follows its NIC already.
  for f in "$root"/etc/NetworkManager/system-connections/*; do
    [ -f "$f" ] || continue
    awk -F= '
      $1 == "interface-name" { name = $2 }
      $1 == "mac-address" && $2 != "" { by_mac = 1 }
      $1 ~ /^address[0-9]+$/ { a = $2; sub(/[\/,].*/, "", a); addresses[++n] = a }
      END { if (name == "" || by_mac) exit; print name, "-"; for (k = 1; k <= n; k++) print name, addresses[k] }
    ' "$f"
  done
  # initscripts (RHEL, SUSE): ifcfg-NAME with DEVICE= and IPADDR[n]=.
  for f in "$root"/etc/sysconfig/network-scripts/ifcfg-* "$root"/etc/sysconfig/network/ifcfg-*; do
    [ -f "$f" ] || continue
    base=${f##*/ifcfg-}
    [ "$base" = lo ] && continue
    awk -F= -v name="$base" '
      { gsub(/["\047]/, "", $2) }
      $1 == "DEVICE" && $2 != "" { name = $2 }
      $1 ~ /^IPADDR[0-9]*$/ { a = $2; sub(/\/.*/, "", a); addresses[++n] = a }
      END { print name, "-"; for (k = 1; k <= n; k++) print name, addresses[k] }
    ' "$f"
  done
  # systemd-networkd: [Match] Name= and [Network] Address=.
  for f in "$root"/etc/systemd/network/*.network; do
    [ -f "$f" ] || continue
    awk -F= '
      $1 == "Name" && $2 !~ /[*?]/ { name = $2 }
      $1 == "Address" { a = $2; sub(/\/.*/, "", a); addresses[++n] = a }
      END { if (name == "") exit; print name, "-"; for (k = 1; k <= n; k++) print name, addresses[k] }
    ' "$f"
  done
}

# A name udev may set and a rule may quote: what the kernel accepts, nothing a rule would parse.
valid_name() {
  case $1 in
    '' | *[!A-Za-z0-9._-]* | lo) return 1 ;;
  esac
  [ "${#1}" -le 15 ]
}

# The configured name holding one of the addresses in $2 (comma-separated) and not yet taken.
name_by_address() {
  for address in $(printf '%s' "$2" | tr ',' ' '); do
    printf '%s\n' "$1" | awk -v a="$address" -v taken=" $taken " '
      $2 == a && index(taken, " " $1 " ") == 0 { print $1; exit }'
  done | head -n 1
}

keep_nic_names() {
  root=$1
  shift
  configured=$(configured_interfaces "$root" | sort -u)
  taken="" rules="" unmatched=""
  # Two passes: first by address; then, if exactly one NIC and one configured name are left
  # (a NIC on DHCP, or a guest that reported no address), those two belong together.
  for nic in "$@"; do
    mac=${nic%%=*}
    found=$(name_by_address "$configured" "${nic#*=}")
    if [ -z "$found" ]; then
      unmatched="$unmatched $mac"
      continue
    fi
    taken="$taken $found"
    rules="$rules $mac=$found"
  done
  left=$(printf '%s\n' "$configured" | awk -v taken=" $taken " '
    NF == 2 && index(taken, " " $1 " ") == 0 { print $1 }' | sort -u)
  set -- $unmatched
  if [ "$#" -eq 1 ] && [ "$(printf '%s\n' "$left" | grep -c .)" -eq 1 ]; then
    rules="$rules $1=$left"
  else
    for mac in $unmatched; do
      echo "vmkit: no configured interface holds an address of $mac; its name is left to the guest"
    done
  fi
  text=""
  for rule in $rules; do
    mac=${rule%%=*} name=${rule#*=}
    if ! valid_name "$name"; then
      echo "vmkit: interface name '$name' of $mac cannot be kept"
      continue
    fi
    echo "vmkit: $mac keeps the name $name"
    text="${text}SUBSYSTEM==\"net\", ACTION==\"add\", ATTR{address}==\"$mac\", NAME=\"$name\"
"
  done
  [ -n "$text" ] || return 0
  mkdir -p "$root/etc/udev/rules.d"
  {
    echo "# Written by os_migrate.vmware_migration_kit (vmkit) during the migration from VMware:"
    echo "# each NIC keeps the name its configuration was written for."
    printf '%s' "$text"
  } >"$root/etc/udev/rules.d/70-vmkit-persistent-net.rules"
}
