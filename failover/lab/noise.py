"""The bench's noisy-network part: both contenders under packet loss and a CPU hog, counting
the failovers nobody asked for.

Both run at once for the same minutes in the same conditions: the controller (at whatever
health settings the lab's controllers run, recorded) over `i1`/`i2`, keepalived at the given
`VrrpSettings` over `k1`/`k2`. The bench runs this at each row of its matrix, so both sides
are always at the same window. Nothing fails; every move of the service is a false failover.

Loss: this kernel has no `sch_netem`, so each instance namespace drops a share of what enters
and leaves it (`! lo`) with iptables' `statistic` match, counted per rule (the proof the loss
was there). A packet between two instances (a VRRP advert) passes two such filters; a probe
and its answer pass one each way. CPU: one busy loop per instance namespace, bounded by its
own deadline, so nothing spins on if the bench dies.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from failover.lab import analysis, netns
from failover.lab.keepalived import KeepalivedPair, VrrpSettings
from failover.lab.runtime import PY, Lab
from failover.lab.sides import FailoverSide, KeepalivedSide
from failover.lab.spec import Member

IPTABLES = "/usr/sbin/iptables-legacy"  # the kernel's ip_tables has `statistic`; nf_tables may not
SAMPLE_S = 0.5
HOG = ("import time\nend = time.monotonic() + {s}\nx = 0\n"
       "while time.monotonic() < end:\n    x += 1\n")

Say = Callable[[str], None]


@dataclass(frozen=True)
class NoiseOptions:
    duration_s: float = 600.0
    loss: float = 0.05
    hogs: bool = True
    vrrp: VrrpSettings = field(default_factory=VrrpSettings)  # keepalived's, at the same window as ours


def loss_rules(loss: float) -> list[list[str]]:
    share = f"{loss:.4f}"
    return [[chain, flag, "lo", "-m", "statistic", "--mode", "random", "--probability", share, "-j", "DROP"]
            for chain, flag in (("INPUT", "!"), ("OUTPUT", "!"))]


def _with_iface(rule: list[str]) -> list[str]:
    chain, bang, lo, *rest = rule
    return [chain, bang, "-i" if chain == "INPUT" else "-o", lo, *rest]


def add_loss(ns: str, loss: float) -> None:
    for rule in loss_rules(loss):
        netns.run(netns.in_ns(ns, [IPTABLES, "-A", *_with_iface(rule)]))


def remove_loss(ns: str, loss: float) -> None:
    for rule in loss_rules(loss):
        netns.run(netns.in_ns(ns, [IPTABLES, "-D", *_with_iface(rule)]), check=False)


def dropped(ns: str) -> int:
    """Packets the loss rules of `ns` dropped so far."""
    out = netns.run(netns.in_ns(ns, [IPTABLES, "-L", "-v", "-x", "-n"]), check=False)
    total = 0
    for line in out.splitlines():
        fields = line.split()
        if "DROP" in fields and "statistic" in line and fields[0].isdigit():
            total += int(fields[0])
    return total


class Noise:
    """Loss and hogs in the given instance namespaces, always taken away again."""

    def __init__(self, lab: Lab, members: tuple[Member, ...], opts: NoiseOptions) -> None:
        self.lab = lab
        self.namespaces = [lab.spec.ns(m.role) for m in members]
        self.opts = opts
        self.hogs: list[int] = []

    def __enter__(self) -> Noise:
        try:
            for ns in self.namespaces:
                add_loss(ns, self.opts.loss)
                if self.opts.hogs:
                    code = HOG.format(s=self.opts.duration_s + 5)
                    proc = netns.spawn(ns, [PY, "-c", code], self.lab.dir / f"hog-{ns}.log")
                    self.hogs.append(proc.pid)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for ns in self.namespaces:
            with suppress(netns.LabError):
                remove_loss(ns, self.opts.loss)
        netns.stop_pids(self.hogs, grace_s=2.0)

    def drops(self) -> dict[str, int]:
        return {ns: dropped(ns) for ns in self.namespaces}


def run_noise(lab: Lab, opts: NoiseOptions, say: Say) -> dict[str, Any]:
    ours = FailoverSide(lab)
    ours.wait_ready(60.0)
    pair = KeepalivedPair(lab.spec, lab.dir / f"ka-noise-{opts.vrrp.advert_int:g}", opts.vrrp)
    ka = KeepalivedSide(lab, pair)
    try:
        ka.start()
        result = _watch(lab, ours, ka, opts, say)
    finally:
        for m in lab.spec.vrrp:
            pair.stop(m)
            pid = lab.pid(f"service-{m.instance_id}")
            if pid:
                netns.stop_pids([pid], grace_s=1.0)
    return result


def _watch(lab: Lab, ours: FailoverSide, ka: KeepalivedSide, opts: NoiseOptions, say: Say) -> dict[str, Any]:
    holder, master = ours.holder(), ka.holder()
    samples = {"failover": [holder], "keepalived": [master]}
    two_masters = 0
    ka_lines_before = {m.instance_id: _transitions(ka.pair, m) for m in lab.spec.vrrp}
    say(f"noise: {opts.loss:.0%} loss in and out of every instance, "
        f"{'a CPU hog in each' if opts.hogs else 'no CPU hog'}, {opts.duration_s:g}s")
    started = time.time()
    with Noise(lab, (*lab.spec.members, *lab.spec.vrrp), opts) as noise:
        deadline = time.monotonic() + opts.duration_s
        next_say = time.monotonic() + 60
        while time.monotonic() < deadline:
            samples["failover"].append(ours.holder())
            samples["keepalived"].append(ka.holder())
            two_masters += int(_masters(ka.pair) > 1)
            if time.monotonic() >= next_say:
                say(f"  noise: {time.time() - started:.0f}s, holder {samples['failover'][-1]}, "
                    f"VIP on {samples['keepalived'][-1]}")
                next_say += 60
            time.sleep(SAMPLE_S)
        drops = noise.drops()
    ended = time.time()
    journal = _failovers_between(lab, started, ended)
    ka_takeovers = sum(
        sum(1 for line in _transitions(ka.pair, m)[len(ka_lines_before[m.instance_id]):]
            if line.endswith(" MASTER"))
        for m in lab.spec.vrrp)
    return {
        "settings": {
            "duration_s": opts.duration_s, "loss_each_way": opts.loss, "cpu_hogs": opts.hogs,
            "failover_window": {k: lab.health[k] for k in ("interval_s", "timeout_s", "fall", "rise")},
            "keepalived": {"advert_int": opts.vrrp.advert_int, "script_interval_s": opts.vrrp.script_interval,
                           "fall": opts.vrrp.fall, "rise": opts.vrrp.rise},
            "sample_s": SAMPLE_S,
        },
        "failover": {"false_failovers": len(journal), "holder_changes": _changes(samples["failover"]),
                     "journal": journal},
        "keepalived": {"false_failovers": ka_takeovers, "vip_changes": _changes(samples["keepalived"]),
                       "samples_with_two_masters": two_masters},
        "dropped_packets": drops,
        "goal": {"zero_false_failovers_for_us": not journal and _changes(samples["failover"]) == 0},
    }


def _transitions(pair: KeepalivedPair, m: Member) -> list[str]:
    try:
        text = pair.paths(m)["transitions"].read_text()
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _masters(pair: KeepalivedPair) -> int:
    n = 0
    for m in pair.spec.vrrp:
        out = netns.ip(pair.spec.ns(m.role), "-o", "-4", "addr", "show", "dev", "eth0", check=False)
        n += int(f" {pair.spec.vip}/" in out)
    return n


def _changes(samples: list[str | None]) -> int:
    seen = [s for s in samples if s is not None]
    return sum(1 for a, b in itertools.pairwise(seen) if a != b)


def _failovers_between(lab: Lab, started: float, ended: float) -> list[dict[str, Any]]:
    hist = lab.cli_json("history")
    out = []
    for e in hist if isinstance(hist, list) else []:
        t = analysis._ts(e.get("started_at"))
        if t is not None and started <= t <= ended + 1.0:
            out.append({k: e.get(k) for k in ("started_at", "from", "to", "trigger", "result", "reason")})
    return out
