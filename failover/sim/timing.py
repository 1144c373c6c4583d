"""How long each transition takes, and how it ends: pluggable profiles keyed by `timing.profile`.

The world's `timing` mapping picks a profile: `fixed` (the default: `attach_s`, `detach_s`, ...
seconds, 0 = instant) or `realistic` (log-normal durations, stuck detaches, failed attaches;
see `realistic.py`). Every profile is a `Timing`: called with (transition kind, resource id) it
returns a duration; a profile that also decides outcomes has a `draw` method returning a `Draw`.
`time_scale` multiplies every duration of either profile (0.1 = ten times faster).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from failover.sim.draws import KINDS, Draw, TimingError, time_scale
from failover.sim.realistic import realistic

__all__ = ["Draw", "Timing", "TimingError", "draw", "make_timing", "throttles"]

# kind: attach, detach, command, stop, start, eip
Timing = Callable[[str, str], float]
DEFAULTS = {f"{k}_s": 0.0 for k in KINDS}


def fixed(cfg: Mapping[str, Any], seed: int) -> Timing:
    scale = time_scale(cfg)
    values = {k: float(cfg.get(k, v)) * scale for k, v in DEFAULTS.items()}

    def duration(kind: str, resource_id: str) -> float:
        return values.get(f"{kind}_s", 0.0)

    return duration


def draw(timing: Timing, kind: str, resource_id: str) -> Draw:
    """The transition's `Draw`: from the profile's own `draw`, else a plain duration."""
    decide = getattr(timing, "draw", None)
    if callable(decide):
        result = decide(kind, resource_id)
        assert isinstance(result, Draw)
        return result
    return Draw(timing(kind, resource_id))


def throttles(cfg: Mapping[str, Any]) -> dict[str, int]:
    """`timing.qps: {Action: limit}`: the gateway's per-action requests per second."""
    raw = cfg.get("qps") or {}
    if not isinstance(raw, dict):
        raise TimingError("timing.qps", "must map API action names to requests per second")
    out: dict[str, int] = {}
    for action, limit in raw.items():
        if not isinstance(action, str) or not action:
            raise TimingError("timing.qps", "keys must be API action names (or *)")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise TimingError(f"timing.qps.{action}", "must be an integer >= 1")
        out[action] = limit
    return out


PROFILES: dict[str, Callable[[Mapping[str, Any], int], Timing]] = {
    "fixed": fixed,
    "realistic": realistic,
}


def make_timing(cfg: Mapping[str, Any], seed: int) -> Timing:
    profile = str(cfg.get("profile", "fixed"))
    if profile not in PROFILES:
        raise TimingError(
            "timing.profile", f"unknown profile {profile!r} (known: {', '.join(sorted(PROFILES))})"
        )
    throttles(cfg)
    return PROFILES[profile](cfg, seed)

