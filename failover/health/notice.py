"""Graceful stop notices: a member's signed "going down", checked, then handed to the monitor.

keepalived's master sends a priority-0 advert as it stops, so its peer takes over at once; a
probe only sees a stop a round or more later (`fall` rounds, or one ecs_status round for a
stop the cloud already shows). With pre-staged guest configuration and `guest.stop_notice`,
the unit bound to the ENI's NIC runs `notice.sh` when the holder shuts down: one POST of

    failover-notice v1 going-down <public key> <unix time> <nonce> <signature>

to every replica's `/notice` (server.py). The signature is Ed25519 over everything before it,
made with the member's own key: made on the guest when it was staged, never leaving it. Its
public half is the instance's tag `failover:notice-key`, written by `failover provision` and
read with the members' addresses (DescribeInstances): the cloud, not the sender, says whose key
it is. A notice is accepted when the key is a member's, the signature holds, its time is within
`WINDOW_S` of this replica's clock and its nonce was not seen before. What can go wrong:
- someone on the network without the key: cannot sign; refused (`bad_signature`,
  `unknown_key`), counted, logged with the sender's address, nothing else happens;
- a notice captured and sent again: the same nonce is refused for the window; a later replay
  is stale. Inside the window it repeats what the member itself said moments ago;
- a stolen key (root on the member) or a forged tag (TagResources in the account): both are
  already the power to stop that member.

Accepted, the notice does not decide anything itself: the monitor folds a definitive failure
of each of the member's checks into its hysteresis (as for an ecs_status Stopping) and
publishes its vote at once; the leader's quorum decides as for any vote. The member stays down
in this replica's eyes for `fall` rounds (its service may answer a moment longer while it
drains); then its probes judge it again.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from failover import metrics

log = logging.getLogger("failover.health")

PREFIX = "failover-notice v1 going-down"
WINDOW_S = 30.0  # a notice this much older or newer than this replica's clock is refused
MAX_BODY = 512
RESULTS = metrics.STOP_NOTICE_RESULTS


@dataclass(frozen=True)
class Notice:
    key: str  # Base64 of the 32-byte public key
    at: float
    nonce: str
    signed: bytes  # what the signature covers
    signature: bytes


def parse(body: bytes) -> Notice | None:
    """The notice in `body`, or None when it is not one."""
    if len(body) > MAX_BODY:
        return None
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    signed, sep, sig = text.rpartition(" ")
    words = signed.split(" ")
    if not sep or len(words) != 6 or " ".join(words[:3]) != PREFIX or not words[4].isdigit():
        return None
    try:
        signature = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return None
    return Notice(words[3], float(words[4]), words[5], signed.encode(), signature)


def judge(notice: Notice | None, member: str | None, signature_ok: bool, now: float,
          seen: Mapping[str, float]) -> str:
    """What becomes of a notice (one of RESULTS): pure, every input given."""
    if notice is None:
        return "malformed"
    if member is None:
        return "unknown_key"
    if not signature_ok:
        return "bad_signature"
    if abs(now - notice.at) > WINDOW_S:
        return "stale"
    if notice.nonce in seen:
        return "replayed"
    return "accepted"


def signature_holds(key_b64: str, notice: Notice) -> bool:
    try:
        raw = base64.b64decode(key_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(notice.signature, notice.signed)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


class NoticeReceiver:
    """The `/notice` handler: `(body, sender) -> (HTTP status, word)`.

    `keys`: instance -> its `failover:notice-key` tag, as the cloud last listed it.
    `going_down(instance)`: the monitor's; the member's verdicts turn down at once.
    """

    def __init__(self, keys: Callable[[], Mapping[str, str]], going_down: Callable[[str], object],
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._going_down = going_down
        self._clock = clock
        self._seen: dict[str, float] = {}  # nonce -> when accepted
        self._lock = threading.Lock()

    def __call__(self, body: bytes, sender: str) -> tuple[int, str]:
        notice = parse(body)
        member = None
        if notice is not None:
            member = next((m for m, k in self._keys().items() if k == notice.key), None)
        ok = notice is not None and member is not None and signature_holds(notice.key, notice)
        now = self._clock()
        with self._lock:
            self._seen = {n: t for n, t in self._seen.items() if now - t <= 2 * WINDOW_S}
            result = judge(notice, member, ok, now, self._seen)
            if result == "accepted" and notice is not None:
                self._seen[notice.nonce] = now
        metrics.record_stop_notice(result)
        if result != "accepted" or member is None:
            log.warning("stop notice refused: %s", result, extra={"sender": sender,
                                                                  "instance": member})
            return (400 if result == "malformed" else 403), result
        log.warning("stop notice: %s is going down", member, extra={"sender": sender,
                                                                   "instance": member})
        self._going_down(member)
        return 202, result
