"""The comparison matrix: configurations that set both contenders, each row naming both sides.

(1) `defaults`: the product's defaults (interval 1 s, timeout 0.5 s, fall 3, polling 0.2 s)
    against keepalived's (advert_int 1 s) with the usual vrrp_script (every 1 s, fall 3).
    This is also the equal-window row at 1 s: ours fall x interval = 3 s against keepalived's
    3 x advert_int + skew.
(2) `window-0.5`, `window-0.2`: equal detection windows. Ours fall 3 x interval; keepalived
    3 x advert_int. How they still differ: keepalived adds skew ((256 - priority) / 256 x
    advert_int: 0.61 x advert_int for the lab's backup at priority 100) to its master-down
    timer, and ours adds the probe timeout (a crash answers nothing: each probe waits it out)
    and the quorum round-trip through ZooKeeper. keepalived's vrrp_script runs in whole
    seconds (keepalived 2.2), so its hang window cannot follow: fall 2 x 1 s at 0.5, 1 x 1 s
    at 0.2 (the nearest it gets to 3 x the advert).
(3) the noise part at each of these same settings, both sides at once.
Every row runs against the lab's instant cloud (attach, detach, Cloud Assistant take 0 s);
the realistic part (parts.realistic) is the cloud-timed picture.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from failover.lab import bench, noise, render
from failover.lab.keepalived import VrrpSettings
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide

INSTANT = "instant cloud (attach, detach, Cloud Assistant 0 s)"


@dataclass(frozen=True)
class Config:
    id: str
    n: str  # the row's number in the README matrix
    title: str
    interval_s: float
    timeout_s: float
    advert_int: float
    script_fall: int
    fall: int = 3
    rise: int = 2
    note: str = ""
    status_interval_s: float | None = None  # the ecs_status check's own cadence (None: the interval)
    modes: tuple[str, ...] | None = None  # None: the bench's modes
    keepalived_of: str | None = None  # keepalived's settings equal that row's: its figures are reused
    stop_notice: bool = False  # pre-staged guest configuration whose unit sends the stop notice

    def health(self) -> dict[str, Any]:
        return render.default_health(self.interval_s, self.timeout_s, self.fall, self.rise)

    def vrrp(self) -> VrrpSettings:
        return VrrpSettings(self.advert_int, script_interval=1, fall=self.script_fall, rise=2)

    def ours(self) -> dict[str, Any]:
        status = {} if self.status_interval_s is None else {"ecs_status_interval_s": self.status_interval_s}
        notice = {"stop_notice": "signed by the member's staged unit"} if self.stop_notice else {}
        return {**self.health(), "poll_dense_s": render.product_poll_dense_s(), **status, **notice,
                "cloud": INSTANT}

    def keepalived(self) -> dict[str, Any]:
        v = self.vrrp()
        return {"advert_int": v.advert_int, "script_interval_s": v.script_interval, "fall": v.fall,
                "rise": v.rise, "backup_priority": 100, "unicast": True, "vrrp_version": 3}


def _product() -> Config:
    h = render.product_health()
    return Config("defaults", "1", "product defaults vs keepalived defaults (also the equal window at 1 s)",
                  h["interval_s"], h["timeout_s"], advert_int=1.0, script_fall=3, fall=h["fall"],
                  rise=h["rise"])


CONFIGS: tuple[Config, ...] = (
    _product(),
    Config("window-0.5", "2a", "equal detection window, 0.5 s", 0.5, 0.25, advert_int=0.5, script_fall=2),
    Config("window-0.2", "2b", "equal detection window, 0.2 s", 0.2, 0.15, advert_int=0.2, script_fall=1),
)
DEFAULTS = CONFIGS[0]
WINDOWS = CONFIGS[1:]
# A graceful stop: keepalived tells its peer at once (priority 0); ours has no agent on the
# instance and reads Stopping from the cloud, so a faster ecs_status cadence is its lever.
STATUS_FAST = Config("defaults-status-0.25", "1'", "as (1), the ecs_status check every 0.25 s",
                     DEFAULTS.interval_s, DEFAULTS.timeout_s, advert_int=1.0, script_fall=3,
                     status_interval_s=0.25, modes=("stop",), keepalived_of=DEFAULTS.id,
                     note="keepalived's figures are row (1)'s, same settings")
# The same stop told by the member itself, as keepalived's priority-0 advert is: the staged
# unit's stop hook signs a notice and POSTs it to every replica (health/notice.py).
STOP_NOTICE = Config("defaults-stop-notice", "1''", "as (1), the member's signed stop notice",
                     DEFAULTS.interval_s, DEFAULTS.timeout_s, advert_int=1.0, script_fall=3,
                     modes=("stop",), keepalived_of=DEFAULTS.id, stop_notice=True,
                     note="keepalived's figures are row (1)'s, same settings")


def apply(lab: Lab, cfg: Config, say: bench.Say) -> FailoverSide:
    """Every controller restarted with this row's settings; back to a healthy group."""
    say(f"[{cfg.id}] ours: {cfg.ours()}; keepalived: {cfg.keepalived()}")
    # Row (1'')'s staged triggers must not configure the NIC in the other rows.
    lab.restart_with_guest(render.stop_notice_guest(lab.spec) if cfg.stop_notice else {},
                           health=cfg.health(), cloud={"poll_dense_s": render.product_poll_dense_s()},
                           status_interval_s=cfg.status_interval_s)
    side = FailoverSide(lab)
    side.wait_ready(60.0)
    return side


def row(result: dict[str, Any], cfg: Config) -> dict[str, Any]:
    """The matrix row of `cfg` in `result` (made on first use, in run order)."""
    rows: list[dict[str, Any]] = result.setdefault("matrix", [])
    for r in rows:
        if r["id"] == cfg.id:
            return r
    r = {"id": cfg.id, "n": cfg.n, "title": cfg.title, "ours": {"settings": cfg.ours()},
         "keepalived": {"settings": cfg.keepalived()}, "note": cfg.note}
    rows.append(r)
    return r


def run_rto(lab: Lab, cfg: Config, opts: bench.BenchOptions, say: bench.Say,
            result: dict[str, Any]) -> bench.Trace | None:
    side = apply(lab, cfg, say)
    modes = tuple(m for m in opts.modes if cfg.modes is None or m in cfg.modes)
    opts = replace(opts, raw_dir=f"raw/{cfg.id}", modes=modes)  # each row's trial logs apart
    ours, trace = bench.run_side(lab, side, opts, say)
    theirs: dict[str, Any] = {}
    shared = next((r for r in result.get("matrix") or [] if r["id"] == cfg.keepalived_of), None)
    if shared is not None:
        theirs = {m: s for m, s in ((shared.get("rto") or {}).get("keepalived") or {}).items() if m in modes}
    elif opts.keepalived:
        try:
            theirs = bench.run_keepalived(lab, cfg.vrrp(), opts, say)
        except Exception as e:
            say(f"[{cfg.id}] keepalived failed: {str(e)[:200]}")
            theirs = {"error": str(e)[:300]}
    row(result, cfg)["rto"] = {"failover": ours, "keepalived": theirs}
    return trace


def run_noise(lab: Lab, cfg: Config, opts: bench.BenchOptions, say: bench.Say,
              result: dict[str, Any]) -> None:
    apply(lab, cfg, say)
    row(result, cfg)["noise"] = noise.run_noise(
        lab, noise.NoiseOptions(opts.noise_s, opts.loss, vrrp=cfg.vrrp()), say)
