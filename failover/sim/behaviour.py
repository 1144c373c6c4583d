"""How the emulated API misbehaves besides taking time: describe lag, a hidden InstanceId
while Attaching, crashed guests that stall detaches. Read from the world's `timing` mapping.

    timing:
      describe_lag_s: 1.0            # describes show the old state this long after a call
      hide_attaching_instance: true  # InstanceId "" while an ENI is Attaching
      crash_stall_share: 0.5         # share of detaches from a crashed guest that stall

The fixed profile has none of it unless asked; the realistic profile has all of it (the
defaults are in REALISTIC). `describe_lag_s` is scaled by `time_scale` like every duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from failover.sim.draws import TimingError, number, time_scale

KEYS = frozenset({"describe_lag_s", "hide_attaching_instance", "crash_stall_share"})


@dataclass(frozen=True)
class Behaviour:
    describe_lag_s: float = 0.0
    hide_attaching_instance: bool = False
    crash_stall_share: float = 0.0


# Assumptions (no public measurement exists): a second of eventual consistency after a
# write, the attach target not yet filled in, and a crashed kernel that as often as not never
# acknowledges the unplug.
REALISTIC = Behaviour(describe_lag_s=1.0, hide_attaching_instance=True, crash_stall_share=0.5)


def make_behaviour(cfg: Mapping[str, Any]) -> Behaviour:
    """The behaviour of a `timing` mapping; errors name the key path."""
    base = REALISTIC if cfg.get("profile") == "realistic" else Behaviour()
    hide = cfg.get("hide_attaching_instance", base.hide_attaching_instance)
    if not isinstance(hide, bool):
        raise TimingError("timing.hide_attaching_instance", "must be true or false")
    lag = number(cfg, "describe_lag_s", "timing", base.describe_lag_s)
    return Behaviour(
        describe_lag_s=lag * time_scale(cfg),
        hide_attaching_instance=hide,
        crash_stall_share=number(cfg, "crash_stall_share", "timing", base.crash_stall_share, hi=1.0),
    )
