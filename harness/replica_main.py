"""A replica in its own process, so a test can SIGKILL it like a crashed controller.

Prints one JSON line per leadership change: {"event": "leader"|"follower", "epoch", "t"} where
`t` is time.monotonic() (CLOCK_MONOTONIC is system-wide on Linux, so the parent can compare).
After a gap of over a second in its own loop (SIGSTOP), it keeps calling `fence()` for 3 s and
prints {"event": "woke", "fenced_ok": how many passed, "epochs": [...]}.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from failover.config import ZookeeperConfig
from failover.coordination import connect
from failover.model import NotLeader


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--session", type=float, default=2.0)
    args = ap.parse_args()
    cfg = ZookeeperConfig(hosts=args.hosts, root=args.root, session_timeout_s=args.session,
                          connect_timeout_s=10.0)
    coord = connect(cfg, args.id)
    coord.join()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    print(json.dumps({"event": "ready", "t": time.monotonic()}), flush=True)
    leading = False
    last = time.monotonic()
    woke_at: float | None = None
    fenced_ok, epochs = 0, set[int]()
    while not stop:
        now = time.monotonic()
        if now - last > 1.0:
            woke_at, fenced_ok, epochs = now, 0, set()
        last = now
        if woke_at is not None:
            try:
                epochs.add(coord.leadership.fence().epoch)
                fenced_ok += 1
            except NotLeader:
                pass
            if now - woke_at > 3.0:
                print(json.dumps({"event": "woke", "fenced_ok": fenced_ok, "epochs": sorted(epochs),
                                  "t": now}), flush=True)
                woke_at = None
        now_leading = coord.leadership.is_leader()
        if now_leading != leading:
            leading = now_leading
            epoch = coord.leadership.fence().epoch if leading else None
            print(json.dumps({"event": "leader" if leading else "follower", "epoch": epoch,
                              "t": time.monotonic()}), flush=True)
        time.sleep(0.002)
    coord.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
