"""Every Prometheus metric of the product, defined in one place (the metrics contract).

Other packages record through the small functions at the bottom so none of
them imports prometheus-client; dashboards and alert rules are tested
against `ALL_METRICS`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

# No `*_created` sample per counter and histogram child: nothing reads them (rules and dashboards
# use rates and buckets), and at 1,000 groups they were half of a scrape's ~27,000 series (and
# of its CPU, which the probe rounds share).
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated

REGISTRY = CollectorRegistry(auto_describe=True)
# process_* (CPU, memory, open fds), python_info and python_gc_*: the default registry has them,
# a custom one only when asked; a leaking or wedged replica shows here first.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

# The ECS instance label. `instance` is the label Prometheus gives the scrape target, so a metric
# label of that name was stored as `exported_instance` (and clobbered the target under
# `honor_labels`). Call sites keep passing `instance=`: `_EcsGauge` renames it, so code written
# against the old label keeps working (migration note: deploy/README.md, "Metric labels").
ECS_INSTANCE = "ecs_instance"


class _EcsGauge(Gauge):
    """A gauge labelled (group, ecs_instance) that also accepts the old keyword `instance=`."""

    def labels(self, *labelvalues: Any, **labelkwargs: Any) -> _EcsGauge:
        if "instance" in labelkwargs:
            labelkwargs[ECS_INSTANCE] = labelkwargs.pop("instance")
        return super().labels(*labelvalues, **labelkwargs)

_STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2)

LEADER = Gauge("failover_leader", "1 while this replica is the leader", registry=REGISTRY)
ZK_CONNECTED = Gauge(
    "failover_zk_connected", "1 while the ZooKeeper session is connected", registry=REGISTRY
)
EPOCH = Gauge("failover_epoch", "Fencing epoch this replica last held as leader", registry=REGISTRY)
HEALTH_UP = _EcsGauge(
    "failover_health_up", "This replica's verdict on a member (1 up, 0 down)",
    ["group", ECS_INSTANCE], registry=REGISTRY,
)
QUORUM_UP = _EcsGauge(
    "failover_quorum_up", "The quorum's verdict on a member, as the leader computes it",
    ["group", ECS_INSTANCE], registry=REGISTRY,
)
PROBE_DURATION = Histogram(
    "failover_probe_duration_seconds", "Duration of one probe", ["check"],
    buckets=_PROBE_BUCKETS, registry=REGISTRY,
)
PROBE_FAILURES = Counter(
    "failover_probe_failures_total", "Failed probes by reason", ["group", "check", "reason"],
    registry=REGISTRY,
)
PROBE_LAG = Histogram(
    "failover_probe_lag_seconds", "A probe's start minus its round's scheduled time",
    buckets=_PROBE_BUCKETS, registry=REGISTRY,
)
HEALTH_ROUNDS_MISSED = Counter(
    "failover_health_rounds_missed_total", "Probe rounds skipped because the previous one ran late",
    registry=REGISTRY,
)
NO_HEALTHY_STANDBY = Gauge(
    "failover_no_healthy_standby", "1 when a group has no healthy standby to fail over to",
    ["group"], registry=REGISTRY,
)
STANDBY_READY = _EcsGauge(
    "failover_standby_ready", "1 when the ENI could be attached to this standby now",
    ["group", ECS_INSTANCE], registry=REGISTRY,
)
FAILOVERS = Counter(
    "failover_failovers_total", "Failovers by outcome and trigger", ["group", "result", "trigger"],
    registry=REGISTRY,
)
FAILOVER_DURATION = Histogram(
    "failover_duration_seconds", "End-to-end duration of a completed failover", ["group"],
    buckets=_STEP_BUCKETS, registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "failover_step_duration_seconds", "Duration of one failover step", ["group", "step"],
    buckets=_STEP_BUCKETS, registry=REGISTRY,
)
FAILOVER_IN_PROGRESS = Gauge(
    "failover_in_progress", "1 while a failover of the group is running", ["group"],
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "failover_escalations_total", "Detach re-issues and force-stops of a stalled holder",
    ["group", "action"], registry=REGISTRY,
)
GROUP_BLOCKED = Gauge(
    "failover_group_blocked", "1 while a group is blocked by flapping until `failover ack`",
    ["group"], registry=REGISTRY,
)
DECISIONS = Counter(
    "failover_decisions_total", "Leader decisions that blocked or skipped a failover, by reason",
    ["group", "reason"], registry=REGISTRY,
)
GROUP_SERVED = Gauge(
    "failover_group_served",
    "1 while the cloud shows the group's ENI InUse on a member whose guest step and verify "
    "succeeded (the leader's view); 0 when unserved or not known",
    ["group"], registry=REGISTRY,
)
ENI_HOLDER = _EcsGauge(
    "failover_eni_holder", "1 for the instance holding the group's ENI", ["group", ECS_INSTANCE],
    registry=REGISTRY,
)
API_CALLS = Counter(
    "failover_cloud_api_calls_total", "Cloud API calls by action and result code",
    ["action", "code"], registry=REGISTRY,
)
API_DURATION = Histogram(
    "failover_cloud_api_duration_seconds", "Cloud API call latency", ["action"],
    buckets=_API_BUCKETS, registry=REGISTRY,
)
API_THROTTLED = Counter(
    "failover_cloud_api_throttled_total", "Calls refused by the cloud's flow control", ["action"],
    registry=REGISTRY,
)
API_BUDGET_WAIT = Histogram(
    "failover_cloud_api_budget_wait_seconds", "Time a call waited for the local API budget",
    ["priority"], buckets=_API_BUCKETS, registry=REGISTRY,
)
CONFIG_RELOAD_OK = Gauge(
    "failover_config_last_reload_successful",
    "1 if the last configuration load (start-up or SIGHUP) succeeded, 0 if it was refused",
    registry=REGISTRY,
)
CONFIG_RELOAD_TIME = Gauge(
    "failover_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful configuration load", registry=REGISTRY,
)
GROUP_PAUSED = Gauge(
    "failover_group_paused_since_timestamp_seconds",
    "Unix time an operator paused the group's automatic failover (`failover pause`); 0 when not paused",
    ["group"], registry=REGISTRY,
)
GROUP_PAUSE_ALERT_AFTER = Gauge(
    "failover_group_pause_alert_after_seconds",
    "How long the group may stay paused before FailoverGroupPausedTooLong fires (policy.pause_alert_after_s)",
    ["group"], registry=REGISTRY,
)
BUILD_INFO = Gauge(
    "failover_build_info", "Always 1; labels carry the version and controller id",
    ["version", "controller"], registry=REGISTRY,
)

GUEST_PATH = Counter(
    "failover_guest_path",
    "Guest steps by the path that served them: prestaged (the standby's own hot-plug trigger, "
    "seen through the service IPs) or runcommand (the script sent over Cloud Assistant)",
    ["group", "path"], registry=REGISTRY,
)
# What becomes of a graceful stop notice (health/notice.py): the label values of STOP_NOTICES.
STOP_NOTICE_RESULTS = ("accepted", "malformed", "unknown_key", "bad_signature", "stale", "replayed")
STOP_NOTICES = Counter(
    "failover_stop_notices",
    "Graceful stop notices received from members, by what became of them: accepted (the member "
    "is taken down in this replica's verdict at once), or refused: malformed, unknown_key, "
    "bad_signature, stale (outside the time window), replayed",
    ["result"], registry=REGISTRY,
)

ALL_METRICS = (
    LEADER, ZK_CONNECTED, EPOCH, HEALTH_UP, QUORUM_UP, PROBE_DURATION, PROBE_FAILURES, PROBE_LAG,
    HEALTH_ROUNDS_MISSED, NO_HEALTHY_STANDBY, STANDBY_READY, FAILOVERS, FAILOVER_DURATION,
    STEP_DURATION, FAILOVER_IN_PROGRESS, ESCALATIONS, GROUP_BLOCKED, DECISIONS, ENI_HOLDER,
    GROUP_SERVED,
    API_CALLS, API_DURATION, API_THROTTLED, API_BUDGET_WAIT, BUILD_INFO,
    CONFIG_RELOAD_OK, CONFIG_RELOAD_TIME, GROUP_PAUSED, GROUP_PAUSE_ALERT_AFTER, GUEST_PATH,
    STOP_NOTICES,
)


def exported_names() -> set[str]:
    """Every sample name a scrape can show (histograms add _bucket/_sum/_count)."""
    names: set[str] = set()
    for m in ALL_METRICS:
        for fam in m.describe():
            base = fam.name
            if fam.type == "counter":
                names.add(base + "_total")
            elif fam.type == "histogram":
                names |= {base + s for s in ("_bucket", "_sum", "_count")}
            else:
                names.add(base)
    return names


def expose_api_actions(actions: Iterable[str]) -> None:
    """Series at 0 for these actions from the start: a scrape, an alert's rate() or a runbook's
    grep sees "none yet" rather than no series at all."""
    for action in actions:
        API_CALLS.labels(action=action, code="OK")
        API_THROTTLED.labels(action=action)


def expose_failovers(groups: Iterable[str], results: Iterable[str], triggers: Iterable[str]) -> None:
    """failover_failovers_total at 0 for every group, result and trigger from the start. A
    counter born at its first increment has no earlier sample, so Prometheus's increase() and
    rate() never count that first failover: FailoverFailed stayed silent on a real run's first
    failed failover (tests/integration/deploy/test_prometheus_live.py)."""
    kinds = [(r, t) for r in results for t in triggers]
    for group in groups:
        for result, trigger in kinds:
            FAILOVERS.labels(group=group, result=result, trigger=trigger)


def expose_guest_paths(groups: Iterable[str], paths: Iterable[str]) -> None:
    """failover_guest_path_total at 0 for every group and path, for the same reason as
    expose_failovers: the dashboard's guest-path panel has a series before the first step."""
    wanted = list(paths)
    for group in groups:
        for path in wanted:
            GUEST_PATH.labels(group=group, path=path)


def set_pause_alert_after(thresholds: dict[str, float]) -> None:
    """Per group, the pause the alert tolerates; groups no longer configured disappear."""
    GROUP_PAUSE_ALERT_AFTER.clear()
    for group, seconds in thresholds.items():
        GROUP_PAUSE_ALERT_AFTER.labels(group=group).set(seconds)


def record_api_call(action: str, code: str, duration_s: float, *, throttled: bool) -> None:
    """`throttled`: refused by the cloud's flow control (the adapter knows its codes)."""
    API_CALLS.labels(action=action, code=code).inc()
    API_DURATION.labels(action=action).observe(duration_s)
    if throttled:
        API_THROTTLED.labels(action=action).inc()


def record_budget_wait(priority: str, waited_s: float) -> None:
    API_BUDGET_WAIT.labels(priority=priority).observe(waited_s)


_PROBE_DURATION_OF: dict[str, Any] = {}  # check kind -> its child: 3,000 probes a second at 1,000 groups


def record_probe(check: str, group: str, duration_s: float, ok: bool, reason: str) -> None:
    child = _PROBE_DURATION_OF.get(check)
    if child is None:
        child = _PROBE_DURATION_OF[check] = PROBE_DURATION.labels(check=check)
    child.observe(duration_s)
    if not ok:
        PROBE_FAILURES.labels(group=group, check=check, reason=reason or "unknown").inc()


def record_probe_lags(lags_s: Iterable[float]) -> None:
    for lag in lags_s:
        PROBE_LAG.observe(max(0.0, lag))


def set_health(group: str, instance: str, up: bool) -> None:
    HEALTH_UP.labels(group=group, instance=instance).set(1 if up else 0)


def set_zk_connected(connected: bool) -> None:
    ZK_CONNECTED.set(1 if connected else 0)


def set_leader(leader: bool, epoch: int | None = None) -> None:
    LEADER.set(1 if leader else 0)
    if epoch is not None:
        EPOCH.set(epoch)


def record_config_reload(ok: bool) -> None:
    """A start-up load or a SIGHUP reload: refused reloads keep the running config (and alert)."""
    CONFIG_RELOAD_OK.set(1 if ok else 0)
    if ok:
        CONFIG_RELOAD_TIME.set(time.time())


def set_paused(group: str, since: float | None) -> None:
    """`since`: the pause's Unix time, None when the group is not paused."""
    GROUP_PAUSED.labels(group=group).set(since or 0)


# The engine's and health's series. Each series has one writer (tests/unit/metrics holds it).


def set_quorum_verdict(group: str, instance: str, up: bool) -> None:
    QUORUM_UP.labels(group=group, instance=instance).set(1 if up else 0)


def set_blocked(group: str, blocked: bool) -> None:
    GROUP_BLOCKED.labels(group=group).set(1 if blocked else 0)


def set_holder(group: str, members: Iterable[str], holder: str | None) -> None:
    """1 for the member the cloud shows holding the group's ENI, 0 for every other member."""
    for m in members:
        ENI_HOLDER.labels(group=group, instance=m).set(1 if m == holder else 0)


def set_no_healthy_standby(group: str, none: bool) -> None:
    NO_HEALTHY_STANDBY.labels(group=group).set(1 if none else 0)


def set_served(group: str, served: bool) -> None:
    GROUP_SERVED.labels(group=group).set(1 if served else 0)


def set_failover_running(group: str, running: bool) -> None:
    FAILOVER_IN_PROGRESS.labels(group=group).set(1 if running else 0)


def record_failover_end(group: str, result: str, trigger: str, duration_s: float | None) -> None:
    """A closed failover record; `duration_s` only for a completed one."""
    FAILOVERS.labels(group=group, result=result, trigger=trigger).inc()
    if duration_s is not None:
        FAILOVER_DURATION.labels(group=group).observe(duration_s)


def record_step(group: str, step: str, duration_s: float) -> None:
    STEP_DURATION.labels(group=group, step=step).observe(duration_s)


def record_escalation(group: str, action: str) -> None:
    ESCALATIONS.labels(group=group, action=action).inc()


def record_decision(group: str, reason: str) -> None:
    DECISIONS.labels(group=group, reason=reason).inc()


def set_standby_ready(group: str, ready: Mapping[str, bool], gone: Iterable[str]) -> None:
    """Per standby, ready or not; `gone`: members no longer standbys, whose series are dropped."""
    for m, ok in ready.items():
        STANDBY_READY.labels(group=group, instance=m).set(1 if ok else 0)
    for m in gone:
        STANDBY_READY.remove(group, m)


def record_rounds_missed(n: int) -> None:
    HEALTH_ROUNDS_MISSED.inc(n)


def set_build_info(version: str, controller: str) -> None:
    BUILD_INFO.labels(version=version, controller=controller).set(1)


def record_guest_path(group: str, path: str) -> None:
    """One guest step served by `path` (`prestaged` or `runcommand`)."""
    GUEST_PATH.labels(group=group, path=path).inc()


def expose_stop_notices() -> None:
    """failover_stop_notices_total at 0 for every result, as expose_failovers does."""
    for result in STOP_NOTICE_RESULTS:
        STOP_NOTICES.labels(result=result)


def record_stop_notice(result: str) -> None:
    """One graceful stop notice and what became of it (health/notice.py's results)."""
    STOP_NOTICES.labels(result=result).inc()
