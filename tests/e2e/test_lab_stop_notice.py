"""Graceful stops in the lab: the staged unit's stop hook on the shutting-down holder signs a
"going down" notice and POSTs it to every replica; the failover that follows gives it as its
cause. A notice forged by someone on the network (a key of their own) is refused and moves
nothing."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from failover.lab import matrix, netns, render
from failover.lab.runtime import PY, Lab
from failover.lab.spec import METRICS_PORT
from failover.records import GOING_DOWN, NOTICE_KEY_TAG

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]

POST = ("import sys,urllib.request as u,urllib.error as e\n"
        "try:\n"
        " r=u.build_opener(u.ProxyHandler({})).open(u.Request(sys.argv[1],data=sys.argv[2].encode()),timeout=5)\n"
        " print(r.status)\n"
        "except e.HTTPError as x:\n"
        " print(x.code)\n")


def test_the_holders_signed_notice_fails_over_and_a_forged_one_does_not(lab: Lab) -> None:
    lab.up()
    side = matrix.apply(lab, matrix.STOP_NOTICE, lambda _: None)
    holder = side.wait_ready(60.0)
    other = next(m.instance_id for m in lab.spec.members if m.instance_id != holder)
    real_key = next(i for i in lab.sim("state")["instances"] if i["id"] == holder)["tags"][NOTICE_KEY_TAG]
    # someone on the client's network names the holder's key but signs with a key of their own
    signed = f"failover-notice v1 going-down {real_key} {int(time.time())} 1"
    sig = base64.b64encode(Ed25519PrivateKey.generate().sign(signed.encode())).decode()
    url = f"http://{lab.spec.controllers[0].vpc_ip}:{METRICS_PORT}/notice"
    out = netns.run(netns.in_ns(lab.spec.client_ns, [PY, "-c", POST, url, f"{signed} {sig}"]))
    assert out.strip() == "403"
    time.sleep(2.0)
    assert lab.holder() == holder
    side.inject("stop", holder)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and lab.holder() != other:
        time.sleep(0.1)
    assert lab.holder() == other
    history = lab.cli_json("history")
    assert isinstance(history, list)
    moved = [e for e in history if e.get("from") == holder and e.get("to") == other]
    assert moved and GOING_DOWN in moved[-1]["reason"], moved
    side.restore("stop", holder)
    assert render.stop_notice_guest(lab.spec)["stop_notice"]  # what the row staged
