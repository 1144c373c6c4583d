"""Members' primary IPs for the probes: read from the cloud a page at a time, kept, refreshed.

A probe round must never wait for the cloud: 2,000 members are 20 DescribeInstances pages,
and rounds asking for them at once (each round reading every page itself, each attempt
starting over when the budget said no) probed nobody for minutes. So the addresses are read
on a thread of their own, page by page, and every page read is kept at once: members are
probed from the first page's answer on, and a page that fails does not throw away the
others. Pages still missing are asked again after `RETRY_S`; the whole set is re-read every
`REFRESH_S` (an instance's primary IP never changes while it exists, so slowly is enough).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from failover.model import CloudError
from failover.ports import Clock, InstanceReader
from failover.records import NOTICE_KEY_TAG

log = logging.getLogger("failover.health")

PAGE = 100  # DescribeInstances takes 100 ids a call
REFRESH_S = 60.0
RETRY_S = 1.0


class MemberAddresses:
    """`get()` is what the health monitor and the verifier call: never blocks on the cloud."""

    def __init__(self, cloud: InstanceReader, instances: Sequence[str], clock: Clock, *,
                 refresh_s: float = REFRESH_S, retry_s: float = RETRY_S) -> None:
        self._cloud = cloud
        self._instances = list(dict.fromkeys(instances))
        self._clock = clock
        self._refresh_s = refresh_s
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._addresses: dict[str, str] = {}
        self._missing: frozenset[str] = frozenset()  # asked for, not listed: released or deleted
        self._notice_keys: dict[str, str] = {}  # instance -> its notice-key tag (health/notice.py)
        self._read_at: dict[int, float] = {}  # page index -> when it was last read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.complete = threading.Event()  # every page read at least once

    def get(self) -> Mapping[str, str]:
        with self._lock:
            return self._addresses

    def notice_keys(self) -> Mapping[str, str]:
        """Members' `failover:notice-key` tags, as the last read of their page listed them."""
        with self._lock:
            return self._notice_keys

    def missing(self) -> frozenset[str]:
        """Members the last successful read of their page did not list."""
        with self._lock:
            return self._missing

    @property
    def pages(self) -> list[list[str]]:
        return [self._instances[i:i + PAGE] for i in range(0, len(self._instances), PAGE)]

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="member-addresses", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.read_due()
            except Exception:  # never let the reader die unnoticed: it is all probes have
                log.exception("reading member addresses crashed; retrying")
                wait = self._retry_s
            self._stop.wait(wait)

    def read_due(self) -> float:
        """Reads every page that is due, keeping each as it comes; seconds until the next."""
        failed = False
        now = self._clock.monotonic()
        for i, page in enumerate(self.pages):
            if self._stop.is_set():
                break
            read_at = self._read_at.get(i)
            if read_at is not None and now - read_at < self._refresh_s:
                continue
            try:
                found = self._cloud.describe_instances(page)
            except CloudError as e:
                failed = True
                log.warning("could not read member addresses; keeping the last ones",
                            extra={"error": str(e), "page": i, "members": len(page)})
                continue
            self._keep(page, {m: info.primary_ip for m, info in found.items() if info.primary_ip},
                       frozenset(page) - found.keys())
            self._keep_keys(page, {m: k for m, info in found.items() if (k := info.tag(NOTICE_KEY_TAG))})
            self._read_at[i] = self._clock.monotonic()
        if len(self._read_at) == len(self.pages):
            self.complete.set()
        if failed:
            return self._retry_s
        oldest = min(self._read_at.values(), default=self._clock.monotonic())
        return max(self._retry_s, oldest + self._refresh_s - self._clock.monotonic())

    def _keep_keys(self, page: list[str], keys: Mapping[str, str]) -> None:
        with self._lock:
            merged = {k: v for k, v in self._notice_keys.items() if k not in set(page)}
            merged.update(keys)
            self._notice_keys = merged

    def _keep(self, page: list[str], found: Mapping[str, str], gone: frozenset[str]) -> None:
        with self._lock:
            self._missing = (self._missing - frozenset(page)) | gone
            # A new dict: readers hold the old one without a lock (the plans compare them).
            asked = set(page)
            merged = {k: v for k, v in self._addresses.items() if k not in asked}
            merged.update(found)
            self._addresses = merged
