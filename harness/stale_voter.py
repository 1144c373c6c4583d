"""A voter whose rounds stop while its ZooKeeper session lives (the stale-voter trial's replica).

It joins as a controller with the product's coordination code, publishes the given verdict
every `--every` seconds (each publish carries its round time, as the health monitor does) until
the file `--freeze` exists, then keeps its session but publishes nothing more: a replica whose
probe loop is wedged. Prints {"event": "frozen", "t"} when it stops. SIGTERM ends it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

from failover.config import ZookeeperConfig
from failover.coordination import connect
from failover.records import Observation


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--instance", required=True)
    ap.add_argument("--down", action="store_true")
    ap.add_argument("--every", type=float, default=0.2)
    ap.add_argument("--freeze", required=True)
    args = ap.parse_args()
    coord = connect(ZookeeperConfig(hosts=args.hosts, root=args.root, session_timeout_s=2.0,
                                    connect_timeout_s=10.0), args.id)
    coord.join()
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    frozen = False
    while not stop:
        if not frozen and os.path.exists(args.freeze):
            frozen = True
            print(json.dumps({"event": "frozen", "t": time.monotonic()}), flush=True)
        if not frozen:
            coord.observations.publish(Observation(args.id, args.group, args.instance,
                                                   not args.down, time.time(), "stale-voter"))
        time.sleep(args.every)
    coord.close()


if __name__ == "__main__":
    main()
