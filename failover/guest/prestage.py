"""Pre-staged guest configuration: the standby's own OS configures the ENI the moment it appears.

For each ENI a standby may take, `render_stage` renders one POSIX sh *stage script* that,
run once on the standby (over Cloud Assistant, by `failover provision`), installs:

- `/usr/local/lib/failover/eni-<key>/configure.sh` and `release.sh`: the very scripts the
  RunCommand path would send (`render_runtime` / `render_release`), so there is one source of
  truth for what the guest does;
- `trigger.sh`: `start` runs configure; `stop` runs a runtime-only release, and only when no
  interface carries the MAC any more (a shutdown or `systemctl stop` leaves the ENI alone);
- a udev rule keyed by the ENI's MAC that tags the NIC for systemd, gives its device unit an
  alias named by the MAC (`sys-subsystem-net-devices-failover_<key>.device`) and wants
  `failover-eni@<key>.service`;
- that templated unit: `BindsTo=` the aliased device, so it starts when the NIC appears (also
  at boot: udev's coldplug replays `add`) and stops, running the release, when it goes;
- `version`, the content hash, written last: a half-done install is redone;
- with `guest.stop_notice` (graceful stops): `notice.sh`, which the unit's stop runs when the
  system is shutting down with the ENI still here, and a member key: an Ed25519 key the stage
  script makes once on the guest (`/etc/failover/notice-key.pem`, root only; OpenSSL 3), whose
  public half it prints (`failover-notice-key: ...`) for `provision` to record in the instance's
  tag `failover:notice-key`. The notice is signed with it; the replicas verify it against that
  tag (health/notice.py). The private key never leaves the instance.

The version is a hash of everything installed, so any change of the ENI's IPs, the OS family,
the table or the scripts themselves gives a new version and `provision` re-stages. The stage
script is idempotent on the guest too: with the same version installed it changes nothing.
`<key>` is the MAC without colons.

The scripts travel gzip-compressed and Base64-encoded inside the stage script: configure and
release together are larger than Cloud Assistant takes as plain text.

Windows is not pre-staged (a documented fallback, see README "Pre-staged guest
configuration"): a scheduled task on the NetworkProfile event fires when Windows has
classified a network, which needs an address first, not when the NIC arrives; there is no
per-MAC arrival trigger as plain as udev's. Windows standbys keep the RunCommand guest step.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass

from failover.guest.script import MAX_SCRIPT_BYTES, ScriptTooLarge, render_release, render_runtime
from failover.guest.validate import GuestInputError, Label, check_family, check_network
from failover.model import GuestNetwork, StagedGuest
from failover.records import NOTICE_KEY_LINE

STAGE_DIR = "/usr/local/lib/failover"
UDEV_DIR = "/etc/udev/rules.d"
UNIT_DIR = "/etc/systemd/system"
UNIT = "failover-eni@.service"
VERSION_CHARS = 16
HOTPLUG_WAIT_S = 20  # configure waits this long for the device (it is already there when udev fires)
_EOF = "FAILOVER_STAGE_EOF"
STAGED_LINE = "failover-stage: "  # what the stage script prints (engine/staging.py reads it)
KEY_FILE = "/etc/failover/notice-key.pem"
NOTICE_PATH = "/notice"  # the replicas' endpoint (server.py)
NOTICE_TIMEOUT_S = 1  # each replica's POST; the shutdown waits no longer for the notice


def mac_key(mac: str) -> str:
    return mac.lower().replace(":", "").replace("-", "")


def stage_dir(mac: str) -> str:
    return f"{STAGE_DIR}/eni-{mac_key(mac)}"


def udev_rule(mac: str) -> str:
    key = mac_key(mac)
    return (
        f"# failover: ENI {mac} (generated; pre-staged hot-plug trigger)\n"
        f'SUBSYSTEM=="net", ACTION!="remove", ATTR{{address}}=="{mac}", TAG+="systemd", '
        f'ENV{{SYSTEMD_ALIAS}}+="/sys/subsystem/net/devices/failover_{key}", '
        f'ENV{{SYSTEMD_WANTS}}+="failover-eni@{key}.service"\n'
    )


def unit_file() -> str:
    """One template for every ENI: `%i` is the MAC key the udev rule names."""
    return (
        "# failover: pre-staged ENI configuration (generated)\n"
        "[Unit]\n"
        "Description=failover: configure ENI %i when it appears, release it when it goes\n"
        "BindsTo=sys-subsystem-net-devices-failover_%i.device\n"
        "After=sys-subsystem-net-devices-failover_%i.device\n"
        # stopped before the network at shutdown, so the stop hook's notice still gets out
        "After=network.target\n"
        "\n[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart=/bin/sh {STAGE_DIR}/eni-%i/trigger.sh start\n"
        f"ExecStop=/bin/sh {STAGE_DIR}/eni-%i/trigger.sh stop\n"
        "TimeoutSec=90\n"
    )


def trigger_script(mac: str) -> str:
    d = stage_dir(mac)
    return (
        "#!/bin/sh\n"
        f"# failover: pre-staged trigger for ENI {mac} (generated)\n"
        '# FAILOVER_STAGE_ROOT=DIR: the scripts live under DIR (the lab)\n'
        f'D="${{FAILOVER_STAGE_ROOT:-}}{d}"\n'
        "# FAILOVER_SYSTEM_STOPPING=1 stands for systemd's own word (the lab has no systemd)\n"
        'stopping() { [ "${FAILOVER_SYSTEM_STOPPING:-}" = 1 ] || '
        '[ "$(systemctl is-system-running 2>/dev/null)" = stopping ]; }\n'
        'case "$1" in\n'
        f'  start) FAILOVER_WAIT_S="${{FAILOVER_WAIT_S:-{HOTPLUG_WAIT_S}}}" '
        'exec /bin/sh "$D/configure.sh" ;;\n'
        "  stop)\n"
        "    # only when the NIC is gone: a shutdown or a manual stop leaves the ENI configured;\n"
        "    # a shutdown of the holder tells the replicas (graceful stop) when that is staged\n"
        "    for a in /sys/class/net/*/address; do\n"
        '      read -r found < "$a" 2>/dev/null || continue\n'
        f'      if [ "$found" = "{mac}" ]; then\n'
        '        [ -f "$D/notice.sh" ] && stopping && exec /bin/sh "$D/notice.sh"\n'
        "        exit 0\n"
        "      fi\n"
        "    done\n"
        '    FAILOVER_PERSIST=0 exec /bin/sh "$D/release.sh" ;;\n'
        '  *) echo "usage: trigger.sh start|stop" >&2; exit 2 ;;\n'
        "esac\n"
    )


def notice_script(mac: str, notify: tuple[str, ...]) -> str:
    """Signs "going down" with the member key and POSTs it to every replica at once.

    The signed text names the key (the replicas find the member by its tag), the time (a notice
    older than a short window is refused) and a random nonce (each is accepted once). Any
    failure sends nothing: the replicas' own probes still see the stop, `fall` rounds later.
    """
    posts = "\n".join(f"post {to}" for to in notify)
    return (
        "#!/bin/sh\n"
        f"# failover: graceful stop notice for ENI {mac}'s holder (generated)\n"
        'R="${FAILOVER_STAGE_ROOT:-}"\n'
        f'K="$R{KEY_FILE}"\n'
        '[ -r "$K" ] && [ -s "$K.pub" ] && command -v openssl >/dev/null 2>&1 || exit 0\n'
        'read -r PUB < "$K.pub" || [ -n "$PUB" ] || exit 0\n'
        # the shell's pid is nonce enough (unique within the window); few processes: a shutdown
        # is a busy moment, and every fork is time before the replicas hear of it
        'MSG="failover-notice v1 going-down $PUB $(date +%s) $$"\n'
        "printf '%s' \"$MSG\" > \"$K.msg\" || exit 0\n"
        'SIG=$(openssl pkeyutl -sign -inkey "$K" -rawin -in "$K.msg" | base64 -w 0)\n'
        '[ -n "$SIG" ] || exit 0\n'
        "post() {\n"
        "  if command -v curl >/dev/null 2>&1; then\n"
        f'    curl -sS -m {NOTICE_TIMEOUT_S} --noproxy "*" -o /dev/null --data-binary "$MSG $SIG" '
        f'"http://$1{NOTICE_PATH}" &\n'
        "  else\n"
        f'    wget -q -T {NOTICE_TIMEOUT_S} -O /dev/null --post-data="$MSG $SIG" "http://$1{NOTICE_PATH}" &\n'
        "  fi\n"
        "}\n"
        f"{posts}\n"
        "wait\n"
    )


@dataclass(frozen=True)
class StagedFile:
    path: str
    content: str
    mode: str


@dataclass(frozen=True)
class Stage:
    """What `failover provision` installs on a standby for one ENI, and its stage script."""

    network: GuestNetwork
    family: str
    version: str
    files: tuple[StagedFile, ...]
    script: str

    def to_dict(self) -> dict[str, object]:
        return {
            "os": self.family, "mac": self.network.mac, "version": self.version,
            "files": [{"path": f.path, "mode": f.mode, "content": f.content} for f in self.files],
            "stage_script_bytes": len(self.script.encode()),
        }

    def to_text(self) -> str:
        out = [f"# pre-staged configuration for ENI {self.network.mac} (os={self.family}), "
               f"version {self.version}; installed by `failover provision` over Cloud Assistant "
               f"as a {len(self.script.encode())}-byte stage script"]
        if any(f.path.endswith("/notice.sh") for f in self.files):
            out.append(f"# the stage script also makes the member's stop-notice key {KEY_FILE} on the "
                       "guest (Ed25519, mode 600, never sent) and prints its public half for the "
                       "instance tag failover:notice-key")
        for f in self.files:
            out += [f"# ===== file {f.path} (mode {f.mode}) =====", f.content.rstrip("\n")]
        return "\n".join(out) + "\n"


def staged_files(network: GuestNetwork, family: str, *, persist: bool = True,
                 notify: tuple[str, ...] = ()) -> tuple[StagedFile, ...]:
    d = stage_dir(network.mac)
    notice = (StagedFile(f"{d}/notice.sh", notice_script(network.mac, notify), "755"),) if notify else ()
    return (
        StagedFile(f"{d}/configure.sh", render_runtime(network, family, wait_s=HOTPLUG_WAIT_S,
                                                       persist=persist), "755"),
        StagedFile(f"{d}/release.sh", render_release(network, family, persist=persist), "755"),
        StagedFile(f"{d}/trigger.sh", trigger_script(network.mac), "755"),
        StagedFile(f"{UDEV_DIR}/90-failover-eni-{mac_key(network.mac)}.rules", udev_rule(network.mac), "644"),
        StagedFile(f"{UNIT_DIR}/{UNIT}", unit_file(), "644"),
        *notice,
    )


def version_of(files: tuple[StagedFile, ...]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.path}\0{f.mode}\0{len(f.content)}\0".encode())
        h.update(f.content.encode())
    return h.hexdigest()[:VERSION_CHARS]


def _packed(content: str) -> str:
    # mtime 0: the same content always packs to the same bytes (the script is reproducible)
    raw = base64.b64encode(gzip.compress(content.encode(), mtime=0)).decode("ascii")
    return "\n".join(raw[i:i + 76] for i in range(0, len(raw), 76))


def _key_lines() -> list[str]:
    """The member key, made once (never replaced: the replicas know its public half by tag),
    and its public half kept beside it: the stop hook signs without deriving it again."""
    return [
        f'K="$R{KEY_FILE}"',
        'if [ ! -s "$K" ]; then',
        "  command -v openssl >/dev/null 2>&1 || die 'openssl not found (the stop notice needs it)'",
        '  mkdir -p "$(dirname "$K")" && (umask 077 && openssl genpkey -algorithm ed25519 '
        '-out "$K.failover-new" >/dev/null 2>&1) && mv -f "$K.failover-new" "$K" '
        "|| die 'cannot make the notice key (Ed25519 needs OpenSSL 3)'",
        "fi",
        'if [ ! -s "$K.pub" ]; then',
        "  openssl pkey -in \"$K\" -pubout -outform DER | tail -c 32 | base64 | tr -d '\\n' "
        '> "$K.pub" || die "cannot write $K.pub"',
        "fi",
        # the stop hook signs with `pkeyutl -rawin` (OpenSSL 3): refused here, not at shutdown
        "printf probe > \"$K.msg\" && openssl pkeyutl -sign -inkey \"$K\" -rawin -in \"$K.msg\" "
        ">/dev/null 2>&1 || die 'openssl cannot sign with Ed25519 here (the stop notice needs OpenSSL 3)'",
        "printf '%s%s\\n' '" + NOTICE_KEY_LINE + "' \"$(cat \"$K.pub\")\"",
    ]


def _stage_script(network: GuestNetwork, version: str, files: tuple[StagedFile, ...]) -> str:
    d = stage_dir(network.mac)
    keyed = any(f.path.endswith("/notice.sh") for f in files)
    out = [
        "#!/bin/sh",
        f"# failover guest stage: ENI {network.mac}, version {version} (generated by failover)",
        "# FAILOVER_STAGE_ROOT=DIR: install under DIR (the lab); nothing is reloaded then",
        f"MAC='{network.mac}'",
        f"VERSION='{version}'",
        'R="${FAILOVER_STAGE_ROOT:-}"',
        f'D="$R{d}"',
        'die() { printf "failover-guest: error: %s\\n" "$*" >&2; exit 1; }',
        *(_key_lines() if keyed else []),
        'if [ -f "$D/version" ] && [ "$(cat "$D/version")" = "$VERSION" ]; then',
        f'  echo "{STAGED_LINE}unchanged $VERSION"; exit 0',
        "fi",
        "command -v base64 >/dev/null 2>&1 || die 'base64 not found'",
        "command -v gzip >/dev/null 2>&1 || die 'gzip not found'",
        # the version goes first: an interrupted install never looks complete
        'rm -f "$D/version"',
        "put() {",
        '  mkdir -p "$(dirname "$R$1")" || die "cannot create the directory of $1"',
        '  base64 -d | gzip -dc > "$R$1.failover-new" && chmod "$2" "$R$1.failover-new" '
        '&& mv -f "$R$1.failover-new" "$R$1" || die "cannot write $1"',
        "}",
    ]
    if not keyed:  # a stop notice no longer configured: no hook sends one any more
        out.append('rm -f "$D/notice.sh"')
    for f in files:
        out += [f"put '{f.path}' {f.mode} <<'{_EOF}'", _packed(f.content), _EOF]
    out += [
        'if [ -z "$R" ]; then',
        "  command -v udevadm >/dev/null 2>&1 && udevadm control --reload",
        "  command -v systemctl >/dev/null 2>&1 && systemctl daemon-reload",
        "fi",
        'printf "%s\\n" "$VERSION" > "$D/version.failover-new" && mv -f "$D/version.failover-new" '
        '"$D/version" || die "cannot write the version"',
        f'echo "{STAGED_LINE}installed $VERSION"',
        "",
    ]
    return "\n".join(out)


def render_stage(family: str, network: GuestNetwork, *, persist: bool = True,
                 label: Label | None = None, notify: tuple[str, ...] = ()) -> Stage:
    """The stage for one ENI on one OS family; GuestInputError names the field."""
    lab = label or (lambda name: name)
    check_family(family, lab)
    if family == "windows":
        raise GuestInputError(lab("os"), "windows standbys are not pre-staged: their guest step stays "
                                         "RunCommand (see README, pre-staged guest configuration)")
    n = check_network(network, lab)
    files = staged_files(n, family, persist=persist, notify=notify)
    version = version_of(files)
    script = _stage_script(n, version, files)
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        raise ScriptTooLarge(f"the stage script is {len(script.encode())} bytes; Cloud Assistant takes "
                             f"{MAX_SCRIPT_BYTES}")
    return Stage(n, family, version, files, script)


class Stager:
    """`ports.GuestStager`: what the engine's staging plan is handed."""

    def stage(self, family: str, network: GuestNetwork, *, persist: bool,
              notify: tuple[str, ...] = ()) -> StagedGuest:
        s = render_stage(family, network, persist=persist, notify=notify)
        return StagedGuest(s.version, s.script)
