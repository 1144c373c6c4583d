# --- helpers shared by configure and release (POSIX sh, iproute2) ---
set -u
# Cloud Assistant may start us with a bare PATH; ip lives in /sbin on old images.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
MARK="failover: ENI $MAC (generated"

say() { printf 'failover-guest: %s\n' "$*"; }
warn() { printf 'failover-guest: warning: %s\n' "$*" >&2; }
die() { printf 'failover-guest: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Repeat a delete until it fails: duplicates from earlier runs go too (bounded).
del_all() {
  n=0
  while [ "$n" -lt 64 ] && "$@" 2>/dev/null; do n=$((n + 1)); done
}

in_ips() {
  for x in $IPS; do [ "$x" = "$1" ] && return 0; done
  return 1
}

# "DEV ADDR/PREFIX np|-" per IPv4 address, every interface (np: added with noprefixroute).
all_addrs() {
  ip -o -4 addr show | awk '{ d = $2; sub(/@.*/, "", d); print d, $4, (index($0, " noprefixroute ") ? "np" : "-") }'
}

preflight() {
  have ip || die "ip (iproute2) not found"
  have awk || die "awk not found"
  [ "$(id -u)" = 0 ] || die "must run as root"
}

# Deleting a primary address takes its secondaries along: those are gone, not failed.
addr_gone() {
  ! ip -o -4 addr show dev "$2" 2>/dev/null | awk '{ print $4 }' | grep -qxF "$1"
}

# Remove our IPs from every interface except $1 (empty: from all of them).
drop_addrs_elsewhere() {
  list=$(all_addrs) || die "cannot list addresses"
  while read -r d a f; do
    [ -n "$d" ] || continue
    ip=${a%/*}
    if in_ips "$ip"; then
      # kept, unless it carries the kernel's prefix route in main (an older script's or DHCP's):
      # `ip addr replace` cannot drop that route, so the address goes and comes back without it
      [ "$d" = "$1" ] && [ "$a" = "$ip/$PREFIX" ] && { [ "$f" = np ] || [ "$OLD_ROUTES" = 1 ]; } && continue
      ip addr del "$a" dev "$d" 2>/dev/null || addr_gone "$a" "$d" || die "cannot remove $a from $d"
      say "removed $a from $d"
    elif [ -n "$1" ] && [ "$d" = "$1" ]; then
      # a stale address on the ENI (DHCP, an older IP list) would shadow ours
      ip addr del "$a" dev "$d" 2>/dev/null || addr_gone "$a" "$d" || die "cannot remove stale $a from $d"
      say "removed stale $a from $d"
    fi
  done <<LIST
$list
LIST
}

drop_rules_and_table() {
  for ip in $IPS; do del_all ip rule del from "$ip"; done
  del_all ip rule del table "$TABLE"
  ip route flush table "$TABLE" >/dev/null 2>&1 || true
}
