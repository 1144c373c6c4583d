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
  # the same file as persistent.CLOUD_INIT_GUARD (a unit test holds them equal)
  write_file "$ROOT/etc/cloud/cloud.cfg.d/99-failover-network-events.cfg" 644 <<'GUARD'
updates:
  network:
    when: [boot-new-instance]
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

# The ENI's addresses get no prefix route in main (noprefixroute): the primary NIC's connected
# route (metric 100 on cloud images) must keep the subnet, or traffic from the primary IP to
# same-subnet hosts leaves by the ENI (dropped by the VPC's source/destination check) and
# their packets arriving on the primary NIC fail strict rp_filter. The ENI's own table has the
# subnet. FAILOVER_OLD_ROUTES=1 is the earlier handling (a metric-0 prefix route in main),
# kept only so the lab can show the difference.
add_addr() {
  if [ "$OLD_ROUTES" = 1 ]; then
    ip addr replace "$1/$PREFIX" brd + dev "$DEV"
    return
  fi
  ip addr replace "$1/$PREFIX" brd + dev "$DEV" noprefixroute 2>/dev/null && return 0
  # kernels before 4.4 (or an old ip) lack noprefixroute: add, then take the route out of main
  ip addr replace "$1/$PREFIX" brd + dev "$DEV" || return 1
  warn "noprefixroute unsupported here: removing the main-table route to $CIDR via $DEV instead"
  del_all ip route del "$CIDR" dev "$DEV" table main
}

# NetworkManager starts its automatic DHCP profile on a hot-plugged NIC, which can put a
# default route via the ENI back into main at any renewal. With the failover profile
# persisted, that profile is activated instead (persist_nmcli); otherwise NM lets go of
# the device for this boot.
release_from_nm() {
  [ -z "$ROOT" ] && have nmcli || return 0
  [ "$(nmcli -t -f RUNNING general 2>/dev/null)" = running ] || return 0
  nmcli -g GENERAL.CONNECTION device show "$DEV" 2>/dev/null | grep -qxF "failover-$DEV" && return 0
  nmcli device set "$DEV" managed no >/dev/null 2>&1 && say "NetworkManager no longer manages $DEV (this boot)" \
    || warn "cannot take $DEV from NetworkManager: its DHCP profile may re-add routes via $DEV"
}

apply_runtime() {
  ip link set dev "$DEV" up || die "cannot bring $DEV up"
  drop_addrs_elsewhere "$DEV"
  for ip in $IPS; do
    add_addr "$ip" || die "cannot add $ip/$PREFIX to $DEV"
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
  [ "$OLD_ROUTES" = 1 ] && return 0
  # below metric 512 (amazon-ec2-net-utils' ENI metric) a main route via the ENI can win over
  # the primary NIC's (100) and carry its traffic
  low=$(ip -4 route show table main | awk -v d="$DEV" '{ m = 0; on = 0; for (i = 2; i < NF; i++) { if ($i == "dev" && $(i + 1) == d) on = 1; if ($i == "metric") m = $(i + 1) } } on && m < 512 { print; exit }')
  [ -z "$low" ] || die "the main table routes via $DEV below metric 512: $low"
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
  release_from_nm
  verify_runtime
  announce
  say "configured $DEV ($MAC): $(echo $IPS | wc -w) addresses, table $TABLE via $GW"
}

main
