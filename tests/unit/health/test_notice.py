"""Graceful stop notices: signed by the member's own key, checked against the cloud's tag,
folded into the member's verdict as a definitive failure that holds for `fall` rounds."""

from __future__ import annotations

import base64
import socket
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from failover import metrics
from failover.config import GroupConfig
from failover.health.monitor import HealthMonitor
from failover.health.notice import PREFIX, WINDOW_S, NoticeReceiver, judge, parse
from failover.records import GOING_DOWN, Observation


class Member:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.pub = base64.b64encode(raw).decode()

    def notice(self, at: float, nonce: str = "4242", key: Ed25519PrivateKey | None = None) -> bytes:
        signed = f"{PREFIX} {self.pub} {int(at)} {nonce}"
        sig = base64.b64encode((key or self.key).sign(signed.encode())).decode()
        return f"{signed} {sig}".encode()


def count(result: str) -> float:
    return metrics.REGISTRY.get_sample_value("failover_stop_notices_total", {"result": result}) or 0.0


def receiver(keys: dict[str, str], now: float) -> tuple[NoticeReceiver, list[str]]:
    down: list[str] = []
    return NoticeReceiver(lambda: keys, down.append, clock=lambda: now), down


def test_a_members_signed_notice_is_accepted_once() -> None:
    m = Member()
    rec, down = receiver({"i-1": m.pub, "i-2": Member().pub}, 1000.0)
    before = count("accepted")
    assert rec(m.notice(1000.0), "192.168.1.10") == (202, "accepted")
    assert down == ["i-1"]
    assert count("accepted") - before == 1
    assert rec(m.notice(1000.0), "192.168.1.10") == (403, "replayed")  # the same notice again
    assert down == ["i-1"]


@pytest.mark.parametrize("case,expected", [
    ("other key signed", "bad_signature"),  # someone on the network with a key of their own
    ("not a member's key", "unknown_key"),
    ("old", "stale"),
    ("from the future", "stale"),
])
def test_forged_or_old_notices_are_refused_and_change_nothing(case: str, expected: str) -> None:
    m = Member()
    stranger = Member()
    now = 1000.0
    body = {"other key signed": m.notice(now, key=stranger.key),
            "not a member's key": stranger.notice(now),
            "old": m.notice(now - WINDOW_S - 2),
            "from the future": m.notice(now + WINDOW_S + 2)}[case]
    rec, down = receiver({"i-1": m.pub}, now)
    before = count(expected)
    assert rec(body, "10.0.0.66") == (403, expected)
    assert down == [] and count(expected) - before == 1


@pytest.mark.parametrize("body", [b"", b"hello", b"x" * 600, "é".encode(),
                                  f"{PREFIX} k 12 n !!notbase64".encode(),
                                  f"{PREFIX} k notanumber n AAAA".encode()])
def test_malformed_notices_are_refused(body: bytes) -> None:
    rec, down = receiver({}, 1000.0)
    assert rec(body, "10.0.0.66") == (400, "malformed") and down == []
    assert parse(body) is None


def test_judge_is_pure_and_orders_its_reasons() -> None:
    n = parse(Member().notice(1000.0))
    assert n is not None
    assert judge(None, None, False, 1000.0, {}) == "malformed"
    assert judge(n, None, False, 1000.0, {}) == "unknown_key"
    assert judge(n, "i-1", False, 1000.0, {}) == "bad_signature"
    assert judge(n, "i-1", True, 1000.0 + WINDOW_S + 1, {}) == "stale"
    assert judge(n, "i-1", True, 1000.0, {n.nonce: 999.0}) == "replayed"
    assert judge(n, "i-1", True, 1000.0, {}) == "accepted"


def test_an_accepted_notice_takes_the_member_down_at_once_and_holds_for_fall_rounds() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    g = GroupConfig.model_validate({
        "name": "a", "network_interface": "eni-a", "members": ["i-1", "i-2"],
        "checks": [{"type": "tcp", "port": port}], "health": {"fall": 3, "rise": 1, "interval_s": 0.2},
    })
    other = GroupConfig.model_validate({
        "name": "b", "network_interface": "eni-b", "members": ["i-3", "i-4"], "checks": [{"type": "tcp", "port": port}],
    })
    seen: list[Observation] = []
    mon = HealthMonitor([g, other], controller_id="c",
                        addresses=lambda: {"i-1": "127.0.0.1", "i-2": "127.0.0.1", "i-3": "127.0.0.1",
                                           "i-4": "127.0.0.1"},
                        sink=seen.append)
    mon.start(scheduled=False)
    try:
        def round_() -> None:
            for job in mon.job_ids:
                mon.run_round(job)

        round_()
        assert mon.member_up("a", "i-1") is True
        before = len(seen)
        mon.going_down("i-1")
        # published at once, without a round, as a down vote whose reason is the member's word
        votes = [o for o in seen[before:] if o.instance == "i-1"]
        assert votes and votes[-1].up is False and GOING_DOWN in votes[-1].reason
        assert mon.member_up("a", "i-1") is False and mon.member_up("a", "i-2") is True
        assert not [o for o in seen[before:] if o.group == "b"]  # not a member there
        round_()  # the service still answers (draining): it stays down meanwhile
        assert mon.member_up("a", "i-1") is False
        time.sleep(3 * 0.2 + 0.05)  # fall x interval: the hold is over, the probes judge again
        round_()
        assert mon.member_up("a", "i-1") is True
    finally:
        mon.stop()
        srv.close()
