"""The `realistic` timing profile: cloud-like durations and failures, reproducible from a seed.

    timing:
      profile: realistic
      seed: 42                      # default: the world's seed
      time_scale: 0.1               # every duration x 0.1: the same shapes, ten times faster
      attach: {median_s: 5, p99_s: 30, max_s: 120}
      detach: {median_s: 4, p99_s: 30}
      command_s: 0.5                # a fixed number of seconds instead of a distribution
      stuck_detach_share: 0.02      # detaches the guest never acknowledges (until a stop)
      attach_failure_share: 0.02    # attaches that fall back Attaching -> Available
      describe_lag_s: 1.0           # and the rest of `behaviour.py`, on by default here
      qps: {DescribeNetworkInterfaces: 50}   # the gateway's throttling, per real second

Attach and detach default to what Alibaba's own waits imply (no public measurement exists):
attach median 5 s / p99 30 s, detach 4 s / 30 s. The other kinds are assumptions, stated
here: command 1 s / 5 s, force stop 5 s / 20 s, start 20 s / 60 s, EIP 1 s / 5 s, the
guest's hot-plug trigger 0.3 s / 1.5 s after InUse (pre-staged configuration). Every law
is cut at `max_s` (default 4 x p99). Failures are on by default (2 % each, assumed; give 0 to
turn them off), and so are the misbehaviours of `behaviour.py` (describe lag and the rest).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from failover.sim.behaviour import KEYS as BEHAVIOUR_KEYS
from failover.sim.draws import (
    KINDS,
    Draw,
    Law,
    LogNormal,
    TimingError,
    law,
    number,
    time_scale,
    transition_rng,
)

DEFAULT_LAWS: dict[str, Law] = {
    "attach": LogNormal(5.0, 30.0, 120.0),
    "detach": LogNormal(4.0, 30.0, 120.0),
    "command": LogNormal(1.0, 5.0, 20.0),
    "stop": LogNormal(5.0, 20.0, 80.0),
    "start": LogNormal(20.0, 60.0, 240.0),
    "eip": LogNormal(1.0, 5.0, 20.0),
    # PCI hot-plug of the NIC, udev and the systemd unit: an assumption, no published figure
    "hotplug": LogNormal(0.3, 1.5, 6.0),
}
KEYS = frozenset({"profile", "seed", "time_scale", "stuck_detach_share", "attach_failure_share",
                  "qps", *KINDS, *(f"{k}_s" for k in KINDS), *BEHAVIOUR_KEYS})
# Failures are on by default: a cloud-like run meets them (assumed shares, no public figure).
STUCK_DETACH_SHARE = 0.02
ATTACH_FAILURE_SHARE = 0.02


class Realistic:
    """A `Timing` with a `draw`: each transition gets its own generator (see `transition_rng`)."""

    def __init__(self, laws: Mapping[str, Law], *, scale: float, seed: int,
                 stuck_detach_share: float, attach_failure_share: float) -> None:
        self.laws = dict(laws)
        self.scale = scale
        self.seed = seed
        self.stuck_detach_share = stuck_detach_share
        self.attach_failure_share = attach_failure_share
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def draw(self, kind: str, resource_id: str) -> Draw:
        with self._lock:
            n = self._counts.get((kind, resource_id), 0)
            self._counts[(kind, resource_id)] = n + 1
        return self.draw_nth(kind, resource_id, n)

    def draw_nth(self, kind: str, resource_id: str, n: int) -> Draw:
        """The n-th transition's draw (pure: the same arguments give the same answer)."""
        rng = transition_rng(self.seed, kind, resource_id, n)
        u, v, w = rng.random(), rng.random(), rng.random()
        dist = self.laws.get(kind, 0.0)
        base = dist.sample(u) if isinstance(dist, LogNormal) else dist
        return Draw(
            duration_s=base * self.scale,
            stuck=kind == "detach" and v < self.stuck_detach_share,
            fails=kind == "attach" and v < self.attach_failure_share,
            crash_u=w if kind == "detach" else None,
        )

    def __call__(self, kind: str, resource_id: str) -> float:
        return self.draw(kind, resource_id).duration_s


def realistic(cfg: Mapping[str, Any], seed: int) -> Realistic:
    """Builds the profile from the world's `timing` mapping; errors name the key path."""
    unknown = sorted(str(k) for k in set(cfg) - KEYS)
    if unknown:
        raise TimingError(f"timing.{unknown[0]}", "unknown key for profile realistic "
                          f"(known: {', '.join(sorted(KEYS))})")
    laws = dict(DEFAULT_LAWS)
    for kind in KINDS:
        if kind in cfg and f"{kind}_s" in cfg:
            raise TimingError(f"timing.{kind}", f"give {kind} or {kind}_s, not both")
        if kind in cfg:
            laws[kind] = law(cfg[kind], f"timing.{kind}")
        elif f"{kind}_s" in cfg:
            laws[kind] = number(cfg, f"{kind}_s", "timing", 0.0)
    own_seed = cfg.get("seed", seed)
    if not isinstance(own_seed, int) or isinstance(own_seed, bool):
        raise TimingError("timing.seed", "must be an integer")
    return Realistic(
        laws,
        scale=time_scale(cfg),
        seed=own_seed,
        stuck_detach_share=number(cfg, "stuck_detach_share", "timing", STUCK_DETACH_SHARE, hi=1.0),
        attach_failure_share=number(cfg, "attach_failure_share", "timing", ATTACH_FAILURE_SHARE,
                                    hi=1.0),
    )
