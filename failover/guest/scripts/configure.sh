# --- configure: bring the ENI up here, replies leaving by it ---
devs_by_mac() {
  found=
  for p in /sys/class/net/*; do
    [ -r "$p/address" ] || continue
    [ "$(cat "$p/address" 2>/dev/null)" = "$MAC" ] || continue
    # bridges, bonds, VLANs and enslaved ports share the MAC but are not the ENI
    [ -d "$p/bridge" ] || [ -d "$p/bonding" ] || [ -e "$p/master" ] && continue
    [ -e "/proc/net/vlan/${p##*/}" ] && continue
    found="$found ${p##*/}"
  done
  echo $found
}

# Hot-plug can lag behind the attach: wait for the interface.
wait_dev() {
  deadline=$(( $(date +%s) + WAIT_S ))
  while :; do
    if [ -n "$DEVICE" ]; then
      if [ -e "/sys/class/net/$DEVICE" ]; then
        got=$(cat "/sys/class/net/$DEVICE/address" 2>/dev/null)
        [ "$got" = "$MAC" ] || die "$DEVICE has MAC $got, not the ENI's $MAC: not touching it"
        DEV=$DEVICE
        return 0
      fi
    else
      DEV=$(devs_by_mac)
      case "$DEV" in
        *' '*) die "several interfaces carry MAC $MAC: $DEV" ;;
        ?*) return 0 ;;
      esac
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "no interface with MAC $MAC appeared within ${WAIT_S}s (is the ENI attached here?)"
    sleep 0.2 2>/dev/null || sleep 1
  done
}

# write_file PATH MODE < content: back up a foreign file once, never our own.
write_file() {
  f=$1
  mkdir -p "${f%/*}" || return 1
  cat > "$f.failover-new" && chmod "$2" "$f.failover-new" || return 1
  if [ -f "$f" ]; then
    if cmp -s "$f.failover-new" "$f" 2>/dev/null; then rm -f "$f.failover-new"; return 0; fi
    if ! grep -qF "$MARK" "$f"; then
      cp -p "$f" "$f.failover-bak" || return 1
      say "backed up $f to $f.failover-bak"
    fi
  fi
  mv -f "$f.failover-new" "$f" || return 1
  say "wrote $f"
}

guard_cloud_init() {
  [ -d "$ROOT/etc/cloud" ] || return 0
  write_file "$ROOT/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg" 644 <<'GUARD'
network: {config: disabled}
GUARD
}

os_field() {
  for f in "$ROOT/etc/os-release" "$ROOT/usr/lib/os-release"; do
    [ -r "$f" ] || continue
    sed -n "s/^$1=//p" "$f" | tr -d "\"'" | head -n 1
    return 0
  done
}

detect_family() {
  id=$(os_field ID); like=$(os_field ID_LIKE); ver=$(os_field VERSION_ID)
  if have netplan && [ -d "$ROOT/etc/netplan" ]; then
    major=${ver%%.*}
    case "$id:$major" in
      ubuntu:1[0-9] | ubuntu:2[01]) echo netplan-legacy ;;
      *) echo netplan ;;
    esac
    return 0
  fi
  if [ -z "$ROOT" ] && have nmcli && [ "$(nmcli -t -f RUNNING general 2>/dev/null)" = running ]; then
    echo nmcli; return 0
  fi
  case " $id $like " in
    *[\ -]suse\ * | *\ sles\ * | *\ opensuse*)
      [ -d "$ROOT/etc/sysconfig/network" ] && { echo suse; return 0; } ;;
  esac
  [ -d "$ROOT/etc/sysconfig/network-scripts" ] && { echo rhel; return 0; }
  [ -f "$ROOT/etc/network/interfaces" ] && { echo debian; return 0; }
  echo unknown
}

persist() {
  fam=$FAMILY
  [ "$fam" = auto ] && fam=$(detect_family)
  say "persistent configuration: $fam"
  if [ "$fam" = nmcli ] && [ -n "$ROOT" ]; then
    warn "nmcli writes through NetworkManager, not under FAILOVER_ROOT: skipped"
    return 0
  fi
  case "$fam" in
    unknown) warn "cannot tell this OS's network configuration family"; return 1 ;;
    *) "persist_$(echo "$fam" | tr - _)" ;;
  esac
}

apply_runtime() {
  ip link set dev "$DEV" up || die "cannot bring $DEV up"
  drop_addrs_elsewhere "$DEV"
  for ip in $IPS; do
    ip addr replace "$ip/$PREFIX" brd + dev "$DEV" || die "cannot add $ip/$PREFIX to $DEV"
  done
  # the primary ENI keeps the only default route of the main table
  del_all ip route del default dev "$DEV" table main
  drop_rules_and_table
  ip route add "$CIDR" dev "$DEV" src "$PRIMARY" table "$TABLE" || die "cannot add $CIDR to table $TABLE"
  ip route add default via "$GW" dev "$DEV" table "$TABLE" || die "cannot add default via $GW to table $TABLE"
  for ip in $IPS; do
    ip rule add from "$ip" lookup "$TABLE" priority "$PRIO" || die "cannot add rule from $ip to table $TABLE"
  done
  ip route flush cache >/dev/null 2>&1 || true
}

verify_runtime() {
  have_addrs=$(ip -o -4 addr show dev "$DEV" | awk '{ print $4 }')
  rules=$(ip rule show)
  for ip in $IPS; do
    printf '%s\n' "$have_addrs" | grep -qxF "$ip/$PREFIX" || die "$ip/$PREFIX is not on $DEV after configuring"
    printf '%s\n' "$rules" | grep -qF "from $ip lookup " || die "no rule from $ip after configuring"
  done
  ip route show table "$TABLE" | awk -v gw="$GW" -v d="$DEV" '$1 == "default" && $3 == gw && $5 == d { ok = 1 } END { exit !ok }' \
    || die "table $TABLE has no default via $GW dev $DEV"
  ip -4 route show table main | awk -v d="$DEV" '$1 == "default" { for (i = 2; i < NF; i++) if ($i == "dev" && $(i + 1) == d) bad = 1 } END { exit bad }' \
    || die "a default route via $DEV is still in the main table"
}

# Gratuitous ARP so neighbours forget the old holder's MAC now, not at ARP timeout.
# arping sends at once but then lingers a second: it runs on in the background.
announce() {
  if ! have arping; then
    say "arping not found: no gratuitous ARP (neighbours relearn on their own)"
    return 0
  fi
  for ip in $IPS; do
    # iputils syntax first, then Thomas Habets' arping
    ( arping -q -U -c 1 -I "$DEV" -s "$ip" "$ip" || arping -q -U -c 1 -i "$DEV" -S "$ip" "$ip" ) >/dev/null 2>&1 &
  done
}

main() {
  preflight
  wait_dev
  say "ENI $MAC is $DEV"
  if [ "$PERSIST" = 1 ]; then
    persist || warn "persistent configuration incomplete: $DEV works now, but may not after a reboot"
  fi
  apply_runtime
  verify_runtime
  announce
  say "configured $DEV ($MAC): $(echo $IPS | wc -w) addresses, table $TABLE via $GW"
}

main
