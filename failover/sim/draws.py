"""The arithmetic of random transition times: log-normal laws, per-transition generators, checks.

Pure functions and frozen data, no clock and no sleeping, so the unit tests can draw
thousands of durations in milliseconds. A log-normal is given the way people quote cloud
latencies, by its median and p99: mu = ln(median), sigma = ln(p99 / median) / z(0.99).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

# hotplug: from an attach reaching InUse to the guest's pre-staged trigger running (kernel + udev)
KINDS = ("attach", "detach", "command", "stop", "start", "eip", "hotplug")
Z99 = NormalDist().inv_cdf(0.99)  # 2.3263...
_UNIT = NormalDist()


class TimingError(ValueError):
    """A bad `timing` mapping; `path` names the key, e.g. `timing.attach.p99_s`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Draw:
    """One transition's fate: how long it takes and whether it goes wrong."""

    duration_s: float
    stuck: bool = False  # a detach the guest never acknowledges: Detaching until a stop
    fails: bool = False  # an attach that falls back from Attaching to Available
    # A detach's own uniform for "does a crashed guest stall it" (eni_ops._crash_stalls), so
    # the n-th detach meets the same fate whatever else happened in between (realistic profile)
    crash_u: float | None = None


@dataclass(frozen=True)
class LogNormal:
    """Durations with a given median and p99, cut at `max_s` so every wait stays bounded."""

    median_s: float
    p99_s: float
    max_s: float

    @property
    def mu(self) -> float:
        return math.log(self.median_s)

    @property
    def sigma(self) -> float:
        return math.log(self.p99_s / self.median_s) / Z99

    def quantile(self, q: float) -> float:
        """The duration below which a share `q` (0 < q < 1) of draws fall (before the cut)."""
        return math.exp(self.mu + self.sigma * _UNIT.inv_cdf(q))

    def sample(self, u: float) -> float:
        """The duration for one uniform number `u` in [0, 1) (inverse transform sampling)."""
        u = min(max(u, 1e-12), 1.0 - 1e-12)
        return min(self.quantile(u), self.max_s)


Law = LogNormal | float  # a distribution, or a fixed number of seconds


def transition_rng(seed: int, kind: str, resource_id: str, n: int) -> random.Random:
    """The generator of the n-th transition of this kind on this resource.

    Seeded from the names, not from a shared stream, so a draw does not depend on how many
    other transitions (or threads) came first: the same world and seed give the same ENI the
    same attach times, run after run.
    """
    return random.Random(f"{seed}/{kind}/{resource_id}/{n}")


def number(cfg: Mapping[str, Any], key: str, path: str, default: float, *, lo: float = 0.0,
           hi: float | None = None, strict: bool = False) -> float:
    """A number from `cfg`, checked against [lo, hi] (or (lo, hi] when `strict`)."""
    v = cfg.get(key, default)
    bad = not isinstance(v, int | float) or isinstance(v, bool)
    if bad or (v <= lo if strict else v < lo) or (hi is not None and v > hi):
        bound = f"{'>' if strict else '>='} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
        raise TimingError(f"{path}.{key}", f"must be a number {bound}")
    return float(v)


def time_scale(cfg: Mapping[str, Any]) -> float:
    return number(cfg, "time_scale", "timing", 1.0, strict=True)


def law(spec: Any, path: str) -> LogNormal:
    """`{median_s, p99_s, max_s?}` -> LogNormal (max_s defaults to 4 x p99)."""
    if not isinstance(spec, dict):
        raise TimingError(path, "must be a mapping {median_s, p99_s, max_s?}")
    unknown = sorted(set(spec) - {"median_s", "p99_s", "max_s"})
    if unknown:
        raise TimingError(f"{path}.{unknown[0]}", "unknown key (median_s, p99_s, max_s)")
    if "median_s" not in spec:
        raise TimingError(f"{path}.median_s", "required (seconds > 0)")
    median = number(spec, "median_s", path, 0, strict=True)
    p99 = number(spec, "p99_s", path, 0, strict=True) if "p99_s" in spec else median
    if p99 < median:
        raise TimingError(f"{path}.p99_s", f"must be >= median_s ({median:g})")
    cap = number(spec, "max_s", path, 4 * p99, strict=True)
    if cap < median:
        raise TimingError(f"{path}.max_s", f"must be >= median_s ({median:g})")
    return LogNormal(median, p99, cap)
