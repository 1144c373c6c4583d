"""Graceful stops on the engine's side: provision records the member key the guest printed; a
failover decided on a member's own "going down" says so in its reason (the journal's cause)."""

from __future__ import annotations

from typing import Any

from failover.config import GroupConfig
from failover.engine import staging
from failover.engine.decide import Snapshot, decide
from failover.engine.view import EniSeen, build_view
from failover.guest.prestage import Stager
from failover.model import (
    CallTrace,
    CommandResult,
    EniState,
    EniStatus,
    InstanceInfo,
    Priority,
    ScriptLanguage,
)
from failover.records import GOING_DOWN, NOTICE_KEY_TAG, GroupState, Observation
from tests.unit.engine.fakes import FakeCloud, FakeProvisioning

KEY = "ui1LcIht5diul9fB5F3kHHX+m7xraV/9LT6iFN/UM/E="
ENI = EniState("eni-a", EniStatus.IN_USE, "i-a", "00:16:3e:00:00:50", "192.168.1.50",
               ("192.168.1.50", "192.168.1.51"), "vsw-a", "vpc-a", "z1")


def group(**guest: Any) -> GroupConfig:
    return GroupConfig.model_validate({
        "name": "web", "network_interface": "eni-a", "members": ["i-a", "i-b"],
        "service_ips": ["192.168.1.51"], "checks": [{"type": "tcp", "port": 80}],
        "guest": {"prestage": True, **guest}})


class Guest(FakeCloud):
    def __init__(self, output: str) -> None:
        super().__init__({"eni-a": "i-a"})
        self.output = output
        self.scripts: list[str] = []

    def run_script(self, instance_id: str, script: str, *, timeout_s: float,
                   trace: CallTrace | None = None, language: ScriptLanguage = ScriptLanguage.SHELL,
                   priority: Priority = Priority.FAILOVER) -> CommandResult:
        self.scripts.append(script)
        return CommandResult("t-1", "Success", 0, self.output)


def running(i: str) -> InstanceInfo:
    return InstanceInfo(i, "Running", "192.168.1.10", "z1", "vpc-a", "vsw-a", "ecs.g7")


def test_provision_records_the_member_key_the_stage_script_printed() -> None:
    g = group(stop_notice=["192.168.1.2:9108", "192.168.1.3:9108"])
    p = staging.plan(0, g, ENI, "192.168.1.0/24", {"i-a": running("i-a"), "i-b": running("i-b")}, Stager())
    assert p.stage is not None and "notice.sh" in p.stage.script and len(p.actions) == 2
    cloud = Guest(f"failover-notice-key: {KEY}\nfailover-stage: installed {p.stage.version}\n")
    prov = FakeProvisioning()
    outcomes = staging.apply(p, cloud, prov)
    assert all(o.ok for o in outcomes)
    assert [c for c in prov.calls if c[2] == NOTICE_KEY_TAG] == [("tag", "i-a", NOTICE_KEY_TAG, KEY),
                                                                 ("tag", "i-b", NOTICE_KEY_TAG, KEY)]


def test_without_a_stop_notice_no_key_is_made_or_recorded() -> None:
    g = group()
    p = staging.plan(0, g, ENI, "192.168.1.0/24", {"i-a": running("i-a"), "i-b": running("i-b")}, Stager())
    assert p.stage is not None and "genpkey" not in p.stage.script  # (its notice.sh is removed)
    prov = FakeProvisioning()
    staging.apply(p, Guest(f"failover-stage: installed {p.stage.version}\n"), prov)
    assert not [c for c in prov.calls if c[2] == NOTICE_KEY_TAG]


def _decision(reason: str) -> Any:
    g = group()
    votes = {"i-a": {c: Observation(c, "web", "i-a", False, 100.0, reason) for c in ("c1", "c2")},
             "i-b": {c: Observation(c, "web", "i-b", True, 100.0) for c in ("c1", "c2")}}
    state = GroupState("web", holder="i-a", configured="i-a")
    view = build_view(g, state, votes, 2, eni=EniSeen(EniStatus.IN_USE, "i-a"),
                      ready={"i-b": True})
    (action,) = decide(Snapshot(200.0, (view,), ()))
    return action


def test_a_failover_on_the_members_own_word_says_so_in_its_reason() -> None:
    told = _decision(f"0:tcp:80: {GOING_DOWN}")
    assert told.to_instance == "i-b" and GOING_DOWN in told.reason
    probed = _decision("0:tcp:80: refused")
    assert probed.to_instance == "i-b" and GOING_DOWN not in probed.reason
