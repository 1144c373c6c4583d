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
- `version`, the content hash, written last: a half-done install is redone.

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

STAGE_DIR = "/usr/local/lib/failover"
UDEV_DIR = "/etc/udev/rules.d"
UNIT_DIR = "/etc/systemd/system"
UNIT = "failover-eni@.service"
VERSION_CHARS = 16
HOTPLUG_WAIT_S = 20  # configure waits this long for the device (it is already there when udev fires)
_EOF = "FAILOVER_STAGE_EOF"
STAGED_LINE = "failover-stage: "  # what the stage script prints (engine/staging.py reads it)


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
        'case "$1" in\n'
        f'  start) FAILOVER_WAIT_S="${{FAILOVER_WAIT_S:-{HOTPLUG_WAIT_S}}}" '
        'exec /bin/sh "$D/configure.sh" ;;\n'
        "  stop)\n"
        "    # only when the NIC is gone: a shutdown or a manual stop leaves the ENI configured\n"
        "    for a in /sys/class/net/*/address; do\n"
        f'      [ "$(cat "$a" 2>/dev/null)" = "{mac}" ] && exit 0\n'
        "    done\n"
        '    FAILOVER_PERSIST=0 exec /bin/sh "$D/release.sh" ;;\n'
        '  *) echo "usage: trigger.sh start|stop" >&2; exit 2 ;;\n'
        "esac\n"
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
        for f in self.files:
            out += [f"# ===== file {f.path} (mode {f.mode}) =====", f.content.rstrip("\n")]
        return "\n".join(out) + "\n"


def staged_files(network: GuestNetwork, family: str, *, persist: bool = True) -> tuple[StagedFile, ...]:
    d = stage_dir(network.mac)
    return (
        StagedFile(f"{d}/configure.sh", render_runtime(network, family, wait_s=HOTPLUG_WAIT_S,
                                                       persist=persist), "755"),
        StagedFile(f"{d}/release.sh", render_release(network, family, persist=persist), "755"),
        StagedFile(f"{d}/trigger.sh", trigger_script(network.mac), "755"),
        StagedFile(f"{UDEV_DIR}/90-failover-eni-{mac_key(network.mac)}.rules", udev_rule(network.mac), "644"),
        StagedFile(f"{UNIT_DIR}/{UNIT}", unit_file(), "644"),
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


def _stage_script(network: GuestNetwork, version: str, files: tuple[StagedFile, ...]) -> str:
    d = stage_dir(network.mac)
    out = [
        "#!/bin/sh",
        f"# failover guest stage: ENI {network.mac}, version {version} (generated by failover)",
        "# FAILOVER_STAGE_ROOT=DIR: install under DIR (the lab); nothing is reloaded then",
        f"MAC='{network.mac}'",
        f"VERSION='{version}'",
        'R="${FAILOVER_STAGE_ROOT:-}"',
        f'D="$R{d}"',
        'die() { printf "failover-guest: error: %s\\n" "$*" >&2; exit 1; }',
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
                 label: Label | None = None) -> Stage:
    """The stage for one ENI on one OS family; GuestInputError names the field."""
    lab = label or (lambda name: name)
    check_family(family, lab)
    if family == "windows":
        raise GuestInputError(lab("os"), "windows standbys are not pre-staged: their guest step stays "
                                         "RunCommand (see README, pre-staged guest configuration)")
    n = check_network(network, lab)
    files = staged_files(n, family, persist=persist)
    version = version_of(files)
    script = _stage_script(n, version, files)
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        raise ScriptTooLarge(f"the stage script is {len(script.encode())} bytes; Cloud Assistant takes "
                             f"{MAX_SCRIPT_BYTES}")
    return Stage(n, family, version, files, script)


class Stager:
    """`ports.GuestStager`: what the engine's staging plan is handed."""

    def stage(self, family: str, network: GuestNetwork, *, persist: bool) -> StagedGuest:
        s = render_stage(family, network, persist=persist)
        return StagedGuest(s.version, s.script)
