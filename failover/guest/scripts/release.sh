# --- release: leave nothing of the ENI here (a returning old holder) ---
unpersist() {
  for f in "$ROOT"/etc/netplan/*.yaml "$ROOT"/etc/sysconfig/network-scripts/ifcfg-* \
    "$ROOT"/etc/sysconfig/network-scripts/route-* "$ROOT"/etc/sysconfig/network-scripts/rule-* \
    "$ROOT"/etc/sysconfig/network/ifcfg-* "$ROOT"/etc/sysconfig/network/ifroute-* \
    "$ROOT"/etc/sysconfig/network/ifrule-* "$ROOT"/etc/network/interfaces.d/*; do
    case "$f" in *.failover-bak | *.failover-new) continue ;; esac
    [ -f "$f" ] && grep -qF "$MARK" "$f" 2>/dev/null || continue
    if [ -f "$f.failover-bak" ]; then
      mv -f "$f.failover-bak" "$f" && say "restored $f" || warn "cannot restore $f"
    else
      rm -f "$f" && say "removed $f" || warn "cannot remove $f"
    fi
    case "$f" in */etc/netplan/*) regenerate=1 ;; esac
  done
  # configure generated networkd's config from our netplan file: take that out of it too
  if [ "${regenerate:-0}" = 1 ] && have netplan; then
    netplan generate --root-dir "$ROOT/" || warn "netplan generate failed: networkd may still carry the ENI's config"
  fi
  [ -z "$ROOT" ] && have nmcli || return 0
  for name in $(nmcli -g NAME connection show 2>/dev/null | grep '^failover-'); do
    m=$(nmcli -g 802-3-ethernet.mac-address connection show "$name" 2>/dev/null | tr 'A-F' 'a-f' | tr -d '\\')
    [ "$m" = "$MAC" ] || continue
    nmcli connection delete "$name" >/dev/null && say "deleted NetworkManager profile $name" \
      || warn "cannot delete NetworkManager profile $name"
  done
}

verify_released() {
  left=$(all_addrs)
  for ip in $IPS; do
    printf '%s\n' "$left" | awk -v ip="$ip" '{ sub(/\/.*/, "", $2) } $2 == ip { found = 1 } END { exit !found }' \
      && die "$ip is still configured"
    ip rule show | grep -qF "from $ip lookup " && die "a rule from $ip is still present"
  done
  [ -z "$(ip route show table "$TABLE" 2>/dev/null)" ] || die "table $TABLE still has routes"
}

main() {
  preflight
  drop_rules_and_table
  drop_addrs_elsewhere ""
  if [ "$PERSIST" = 1 ]; then
    unpersist || warn "persistent configuration not fully removed"
  fi
  verify_released
  say "released ENI $MAC: addresses, rules and table $TABLE removed"
}

main
