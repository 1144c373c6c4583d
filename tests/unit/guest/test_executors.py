"""Executors against a fake of our own CloudPort: what they send, and how failure reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from failover.guest import CloudAssistantGuest, GuestError, GuestInputError, NoopGuest, make_guest
from failover.guest.executors import reason, wait_for
from failover.model import CallTrace, CommandResult, GuestNetwork, Priority, ScriptLanguage


@dataclass
class FakeCloud:
    """Only run_script matters to the guest executor."""

    result: CommandResult = field(default_factory=lambda: CommandResult("t-1", "Success", 0, "ok"))
    calls: list[tuple[str, str, float, CallTrace | None]] = field(default_factory=list)
    languages: list[ScriptLanguage] = field(default_factory=list)
    priorities: list[Priority] = field(default_factory=list)

    def run_script(self, instance_id: str, script: str, *, timeout_s: float,
                   trace: CallTrace | None = None,
                   language: ScriptLanguage = ScriptLanguage.SHELL,
                   priority: Priority = Priority.FAILOVER) -> CommandResult:
        self.calls.append((instance_id, script, timeout_s, trace))
        self.languages.append(language)
        self.priorities.append(priority)
        return self.result


def test_configure_sends_the_rendered_script(net: GuestNetwork) -> None:
    cloud = FakeCloud()
    trace = CallTrace()
    out = CloudAssistantGuest(cloud, "rhel").configure("i-standby", net, timeout_s=40, trace=trace)
    assert out.ok
    [(instance, script, timeout, tr)] = cloud.calls
    assert (instance, timeout, tr) == ("i-standby", 40, trace)
    assert script.startswith("#!/bin/sh\n")
    assert "MAC='00:16:3e:00:00:50'" in script and "FAMILY='rhel'" in script
    assert 'WAIT_S="${FAILOVER_WAIT_S:-20}"' in script  # gives up before the agent's timeout


def test_release_sends_the_release_script(net: GuestNetwork) -> None:
    cloud = FakeCloud()
    CloudAssistantGuest(cloud).release("i-old", net, timeout_s=30)
    assert "# failover guest release" in cloud.calls[0][1]


def test_a_release_yields_the_api_budget_a_configure_does_not(net: GuestNetwork) -> None:
    cloud = FakeCloud()
    guest = CloudAssistantGuest(cloud)
    guest.configure("i-new", net, timeout_s=30)
    guest.release("i-old", net, timeout_s=30)
    assert cloud.priorities == [Priority.FAILOVER, Priority.ROUTINE]


def test_failure_carries_the_scripts_own_reason(net: GuestNetwork) -> None:
    out = ("failover-guest: ENI 00:16:3e:00:00:50 is eth1\n"
           "failover-guest: error: cannot add 192.168.1.50/24 to eth1\n")
    cloud = FakeCloud(CommandResult("t-9", "Failed", 1, out))
    with pytest.raises(GuestError) as err:
        CloudAssistantGuest(cloud).configure("i-standby", net, timeout_s=60)
    assert str(err.value) == ("guest configure on i-standby failed (Failed, exit 1, invocation t-9): "
                              "cannot add 192.168.1.50/24 to eth1")
    assert err.value.result is cloud.result and err.value.instance_id == "i-standby"


def test_timeout_without_error_line_uses_the_bounded_tail(net: GuestNetwork) -> None:
    cloud = FakeCloud(CommandResult("t-2", "Timeout", None, "x" * 5000))
    with pytest.raises(GuestError) as err:
        CloudAssistantGuest(cloud).configure("i-s", net, timeout_s=60)
    assert "(Timeout, exit None, invocation t-2)" in str(err.value)
    assert len(str(err.value)) < 450


def test_reason_picks_the_last_error_line() -> None:
    assert reason("a\nfailover-guest: error: one\nfailover-guest: error: two\n") == "two"
    assert reason("") == "no output"
    assert reason("a\nb\nc\nd\n") == "b | c | d"


def test_wait_is_bounded_by_the_timeout() -> None:
    assert wait_for(60) == 30 and wait_for(10) == 5 and wait_for(0.5) == 1 and wait_for(600) == 30


def test_bad_network_is_refused_before_any_call(net: GuestNetwork) -> None:
    cloud = FakeCloud()
    bad = GuestNetwork(**{**net.__dict__, "ips": ("10.9.9.9",)})
    with pytest.raises(GuestInputError, match=r"ips: 10\.9\.9\.9 is outside"):
        CloudAssistantGuest(cloud).configure("i-s", bad, timeout_s=60)
    assert cloud.calls == []


def test_windows_guests_get_their_powershell_sent_as_powershell(net: GuestNetwork) -> None:
    cloud = FakeCloud()
    guest = CloudAssistantGuest(cloud, "windows")
    guest.configure("i-win", net, timeout_s=60)
    guest.release("i-win-old", net, timeout_s=60)
    assert cloud.languages == [ScriptLanguage.POWERSHELL, ScriptLanguage.POWERSHELL]
    assert "Get-NetAdapter" in cloud.calls[0][1] and "#!/bin/sh" not in cloud.calls[0][1]
    CloudAssistantGuest(cloud, "auto").configure("i-linux", net, timeout_s=60)
    assert cloud.languages[-1] is ScriptLanguage.SHELL


def test_unknown_families_are_refused_up_front() -> None:
    with pytest.raises(GuestInputError, match="unknown family"):
        CloudAssistantGuest(FakeCloud(), "plan9")


def test_noop_runs_nothing(net: GuestNetwork) -> None:
    cloud = FakeCloud()
    g = make_guest("none", "auto", cloud)
    assert isinstance(g, NoopGuest)
    assert g.configure("i-s", net, timeout_s=1).ok and g.release("i-s", net, timeout_s=1).ok
    assert cloud.calls == []
    assert isinstance(make_guest("cloud_assistant", "debian", cloud), CloudAssistantGuest)
    with pytest.raises(GuestInputError, match="method"):
        make_guest("ssh", "auto", cloud)
