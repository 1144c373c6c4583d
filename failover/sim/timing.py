"""How long each transition takes: a pluggable function of (transition kind, resource id).

The world's `timing` mapping picks a profile (`profile: fixed` by default, with the
`attach_s`, `detach_s`, ... keys). Other profiles (e.g. a measured "realistic" one) register in
`PROFILES`; all take the timing mapping and a seeded random generator.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

# kind: attach, detach, command, stop, start, eip
Timing = Callable[[str, str], float]
DEFAULTS = {"attach_s": 0.0, "detach_s": 0.0, "command_s": 0.0, "stop_s": 0.0, "start_s": 0.0, "eip_s": 0.0}


def fixed(cfg: Mapping[str, Any], rng: random.Random) -> Timing:
    values = {k: float(cfg.get(k, v)) for k, v in DEFAULTS.items()}

    def duration(kind: str, resource_id: str) -> float:
        return values.get(f"{kind}_s", 0.0)

    return duration


PROFILES: dict[str, Callable[[Mapping[str, Any], random.Random], Timing]] = {"fixed": fixed}


def make_timing(cfg: Mapping[str, Any], seed: int) -> Timing:
    profile = str(cfg.get("profile", "fixed"))
    if profile not in PROFILES:
        raise ValueError(
            f"timing.profile: unknown profile {profile!r} (known: {', '.join(sorted(PROFILES))})"
        )
    return PROFILES[profile](cfg, random.Random(seed))
