"""Health checking: probes (I/O), hysteresis (pure), scheduling.

- `hysteresis`, `evaluate`, `plan`: pure functions over data (the quorum rule
  over replicas' votes is `failover.quorum`, shared with the engine).
- `probes`, `http_probe`: the I/O, on one asyncio loop (`loop`).
- `monitor.HealthMonitor`: APScheduler rounds -> verdicts -> `VerdictSink`.
- `verify.ProbeVerifier`: `ports.Verifier` for the failover's verify step.
"""

from failover.health.evaluate import MemberHealth
from failover.health.hysteresis import CheckState, after_probe, member_up
from failover.health.monitor import HealthMonitor, RoundReport
from failover.health.verify import ProbeVerifier

__all__ = [
    "CheckState",
    "HealthMonitor",
    "MemberHealth",
    "ProbeVerifier",
    "RoundReport",
    "after_probe",
    "member_up",
]
