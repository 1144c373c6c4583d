"""Payload decoding, the group-state merge, retention and names: the pure rules of the journal."""

from __future__ import annotations

import pytest

from failover.config import ZkAuth
from failover.coordination.codec import (
    RecordSummary,
    Undecodable,
    acked,
    controller_id_of,
    decode_observation,
    decode_record,
    encode,
    encode_observation,
    merge_group_state,
    newest_first,
    prunable,
)
from failover.coordination.layout import Layout, check_name
from failover.coordination.session import ZkAuthError, auth_settings
from failover.model import Trigger
from failover.records import FailoverRecord, GroupState, Observation


def test_observation_round_trip_and_garbage() -> None:
    obs = Observation("ctl-a", "web", "i-1", False, 12.5, "refused")
    assert decode_observation(encode_observation(obs), "ctl-a", "web", "i-1") == obs
    for raw in (b"", b"\xff", b"[]", b'{"up": "yes", "at": 1}', b'{"up": true}',
                b'{"up": true, "at": NaN}', b'{"up": true, "at": 1, "reason": 5}'):
        with pytest.raises(Undecodable):
            decode_observation(raw, "c", "g", "i")


def test_record_decode_reports_what_is_wrong() -> None:
    rec = FailoverRecord("f1", "web", "i-a", "i-b", Trigger.DRILL, "drill", 1.0, 3)
    assert decode_record(encode(rec.to_dict())) == rec
    with pytest.raises(Undecodable, match="failover record"):
        decode_record(encode({"id": "f1"}))
    with pytest.raises(Undecodable, match="not JSON"):
        decode_record(b"{oops")


def test_controller_id_of_tolerates_garbage() -> None:
    assert controller_id_of(b'{"id": "ctl-a"}') == "ctl-a"
    assert controller_id_of(b"junk") is None
    assert controller_id_of(b'{"id": 7}') is None


def test_merge_keeps_an_operators_ack() -> None:
    seen = GroupState("web", "i-a", 0.0, (1.0, 2.0, 3.0), True, "flapping")
    current = acked(seen)
    ours = GroupState("web", "i-b", 50.0, (1.0, 2.0, 3.0, 4.0), True, "flapping")
    merged = merge_group_state(ours, seen, current)
    assert (merged.blocked, merged.blocked_reason) == (False, "")
    assert merged.holder == "i-b" and merged.cooldown_until == 50.0
    assert merged.recent_failovers == (4.0,)  # the window restarts at the ack


def test_merge_without_ack_is_last_writer_wins() -> None:
    seen = GroupState("web", "i-a")
    current = GroupState("web", "i-a", cooldown_until=9.0)
    ours = GroupState("web", "i-b", blocked=True, blocked_reason="flapping")
    assert merge_group_state(ours, seen, current) == ours


def test_prunable_keeps_newest_and_running() -> None:
    recs = [RecordSummary("run", 0.0, False)] + [RecordSummary(f"f{i}", float(i + 1), True)
                                                for i in range(5)]
    assert prunable(recs, 3) == ["f1", "f0"]  # run is old but unfinished: kept
    assert prunable(recs, 10) == []
    with pytest.raises(ValueError, match="retention"):
        prunable(recs, 0)


def test_newest_first_limits() -> None:
    recs = [FailoverRecord(f"f{i}", "web", None, "i-b", Trigger.AUTO, "", float(i), 1) for i in range(4)]
    assert [r.id for r in newest_first(recs, 2)] == ["f3", "f2"]
    with pytest.raises(ValueError, match="limit"):
        newest_first(recs, -1)


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "x\n", "zookeeper", "a" * 201])
def test_bad_names_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match="failover id"):
        check_name("failover id", bad)


def test_layout_paths() -> None:
    lay = Layout("/failover")
    assert lay.observation("web", "i-1", "ctl-a") == "/failover/observations/web/i-1/ctl-a"
    assert lay.record("web", "f1") == "/failover/journal/web/f1"
    assert lay.claim("r1") == "/failover/requests/r1/claim"
    assert Layout("/").epoch == "/epoch"
    with pytest.raises(ValueError, match=r"zookeeper\.root"):
        Layout("relative")
    with pytest.raises(ValueError, match="group"):
        lay.group("a/b")


def test_auth_settings_build_a_digest_acl_without_leaking() -> None:
    auth = ZkAuth(credential_env="CRED")
    data, acl = auth_settings(auth, {"CRED": "ctl:pa:ss"})
    assert data == [("digest", "ctl:pa:ss")]
    assert acl is not None and acl[0].id.scheme == "digest" and acl[0].id.id.startswith("ctl:")
    assert "pa:ss" not in acl[0].id.id
    assert auth_settings(None, {}) == (None, None)
    with pytest.raises(ZkAuthError, match="CRED is not set") as err:
        auth_settings(auth, {"CRED": ""})
    assert "credential_env" in str(err.value)
