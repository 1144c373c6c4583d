"""Injected trouble: error rules, per-action latency and per-action QPS limits.

A rule matches an action (or `*`) and fires with a probability or for the next `count` calls;
it answers an error (any code/status, optionally `x-acs-retry-after`), drops the connection, or
only delays the answer. The QPS limiter is a one-second sliding window, answered the way
Alibaba's gateway throttles: 400 `Throttling.User` with `x-acs-retry-after` in milliseconds.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from failover.sim.protocol import ApiError


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    action: str = "*"
    code: str | None = None
    status: int = 400
    message: str = "Injected fault."
    retry_after_ms: int | None = None
    probability: float | None = None
    count: int | None = None
    drop_connection: bool = False
    delay_s: float = 0.0
    match: dict[str, str] | None = None  # request parameters the call must carry, e.g. {InstanceId: i-x}
    fired: int = 0


@dataclass
class Verdict:
    """What to do with one call: wait `delay_s`, then drop, fail with `error`, or carry on."""

    delay_s: float = 0.0
    drop: bool = False
    error: ApiError | None = None


def parse_rule(d: Any) -> FaultRule:
    if not isinstance(d, dict):
        raise FaultSpecError("fault: expected a JSON object")
    known = {f for f in FaultRule.__dataclass_fields__ if f != "fired"}
    unknown = set(d) - known
    if unknown:
        raise FaultSpecError(f"fault: unknown field {sorted(unknown)[0]!r}")
    rule = FaultRule(**d)
    checks = [
        ("action", isinstance(rule.action, str) and rule.action != ""),
        ("code", rule.code is None or (isinstance(rule.code, str) and rule.code != "")),
        ("status", isinstance(rule.status, int) and 400 <= rule.status <= 599),
        ("message", isinstance(rule.message, str)),
        (
            "retry_after_ms",
            rule.retry_after_ms is None or (isinstance(rule.retry_after_ms, int) and rule.retry_after_ms > 0),
        ),
        (
            "probability",
            rule.probability is None
            or (isinstance(rule.probability, int | float) and 0 <= rule.probability <= 1),
        ),
        ("count", rule.count is None or (isinstance(rule.count, int) and rule.count > 0)),
        ("drop_connection", isinstance(rule.drop_connection, bool)),
        ("delay_s", isinstance(rule.delay_s, int | float) and 0 <= rule.delay_s <= 300),
        ("match", rule.match is None or (isinstance(rule.match, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in rule.match.items()))),
    ]
    for name, ok in checks:
        if not ok:
            raise FaultSpecError(f"fault.{name}: invalid value {getattr(rule, name)!r}")
    if rule.code is None and not rule.drop_connection and not rule.delay_s:
        raise FaultSpecError("fault: give code, drop_connection or delay_s")
    if rule.probability is None and rule.count is None:
        rule.probability = 1.0
    return rule


class Faults:
    """Thread-safe: rules, latencies and limits are read on every call."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.latency: dict[str, float] = {}
        self.qps: dict[str, int] = {}
        self._windows: dict[str, deque[float]] = {}

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def set_latency(self, action: str, seconds: float) -> None:
        with self._lock:
            if seconds <= 0:
                self.latency.pop(action, None)
            else:
                self.latency[action] = seconds

    def set_qps(self, action: str, limit: int | None) -> None:
        with self._lock:
            if not limit:
                self.qps.pop(action, None)
                for counted in [action] if action != "*" else list(self._windows):
                    if counted not in self.qps:
                        self._windows.pop(counted, None)
            else:
                self.qps[action] = limit

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [asdict(r) for r in self.rules],
                "latency": dict(self.latency),
                "qps": dict(self.qps),
            }

    def judge(self, action: str, now: float, params: dict[str, str] | None = None) -> Verdict:
        """Decides one call's fate; throttling comes first, as it does at the gateway. A rule
        with `match` fires only on calls whose parameters carry those values."""
        with self._lock:
            verdict = Verdict(delay_s=self.latency.get(action, self.latency.get("*", 0.0)))
            throttled = self._throttle(action, now)
            if throttled is not None:
                verdict.error = throttled
                return verdict
            for rule in self.rules:
                if rule.action not in ("*", action):
                    continue
                if rule.match and any((params or {}).get(k) != v for k, v in rule.match.items()):
                    continue
                if rule.count is not None:
                    if rule.fired >= rule.count:
                        continue
                elif rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                verdict.delay_s += rule.delay_s
                verdict.drop = rule.drop_connection
                if rule.code is not None:
                    verdict.error = ApiError(rule.code, rule.status, rule.message, rule.retry_after_ms)
                break
            self.rules = [r for r in self.rules if r.count is None or r.fired < r.count]
            return verdict

    def _throttle(self, action: str, now: float) -> ApiError | None:
        # `*` sets every action's limit, each counted on its own, as the gateway counts per
        # action and account (one window for all actions throttled three replicas reading at
        # well under each action's limit).
        limit = self.qps.get(action, self.qps.get("*"))
        if limit is None:
            return None
        window = self._windows.setdefault(action, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            retry_ms = max(1, int((window[0] + 1.0 - now) * 1000) + 1)
            return ApiError("Throttling.User", 400, "Request was denied due to user flow control.", retry_ms)
        window.append(now)
        return None
