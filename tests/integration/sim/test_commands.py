"""Cloud Assistant through the SDK: RunCommand, invocation states, output encodings, hooks."""

from __future__ import annotations

import base64
import threading
from typing import Any

from alibabacloud_ecs20140526 import models as m

from harness.sim import SimServer, small_world
from harness.waiting import wait_for
from tests.integration.sim.util import REGION, expect_error


def run(ecs: Any, script: str, instances: list[str], **kw: Any) -> str:
    return str(
        ecs.run_command(
            m.RunCommandRequest(
                region_id=REGION,
                type=kw.pop("type", "RunShellScript"),
                command_content=script,
                instance_id=instances,
                **kw,
            )
        ).body.invoke_id
    )


def result(ecs: Any, invoke_id: str, plain: bool = True) -> Any:
    body = ecs.describe_invocation_results(
        m.DescribeInvocationResultsRequest(
            region_id=REGION, invoke_id=invoke_id, content_encoding="PlainText" if plain else None
        )
    ).body
    return body.invocation.invocation_results.invocation_result[0]


def test_run_command_records_the_script_and_succeeds(sim: SimServer, ecs: Any) -> None:
    script = "#!/bin/sh\nip addr add 192.168.1.51/24 dev eth1\n"
    invoke = run(
        ecs, base64.b64encode(script.encode()).decode(), ["i-standby"], content_encoding="Base64", timeout=30
    )
    res = result(ecs, invoke)
    assert (res.invocation_status, res.invoke_record_status, res.exit_code) == ("Success", "Finished", 0)
    inv = ecs.describe_invocations(
        m.DescribeInvocationsRequest(region_id=REGION, invoke_id=invoke, include_output=True)
    ).body.invocations.invocation[0]
    assert inv.invocation_status == "Success"
    assert base64.b64decode(inv.command_content).decode() == script  # Base64 is the default encoding
    assert inv.invoke_instances.invoke_instance[0].instance_id == "i-standby"
    assert sim.control.state()["invocations"][0]["content"] == script


def test_injected_result_gives_failed_with_exit_code_and_output(sim: SimServer, ecs: Any) -> None:
    sim.control.command_result("i-standby", 3, "no such device")
    res = result(ecs, run(ecs, "ip link set eth1 up", ["i-standby"]))
    assert (res.invocation_status, res.exit_code, res.output, res.error_code) == (
        "Failed",
        3,
        "no such device",
        "ExitCodeNonzero",
    )
    encoded = result(ecs, run(ecs, "true", ["i-standby"]), plain=False)
    assert encoded.invocation_status == "Success"  # the injection is used once


def test_states_go_pending_running_then_final() -> None:
    with SimServer.from_world(small_world(timing={"command_s": 0.5})) as sim:
        ecs = sim.ecs_client()
        invoke = run(ecs, "echo hi", ["i-standby"])
        assert result(ecs, invoke).invocation_status == "Pending"
        wait_for(lambda: result(ecs, invoke).invocation_status == "Running", timeout=2, interval=0.01)
        wait_for(lambda: result(ecs, invoke).invocation_status == "Success", timeout=2)
        seen = [e["to"] for e in sim.control.events() if e["kind"] == "records"]
        assert seen == ["Running", "Success"]


def test_hung_instance_times_out_and_offline_agent_aborts(sim: SimServer, ecs: Any) -> None:
    sim.control.hang("i-standby")
    invoke = run(ecs, "echo hi", ["i-standby"], timeout=1)
    assert result(ecs, invoke).invocation_status in ("Pending", "Running")
    wait_for(lambda: result(ecs, invoke).invocation_status == "Timeout", timeout=3)
    assert result(ecs, invoke).error_code == "ExecutionTimeout"
    sim.control.cloud_assistant("i-primary", False)
    res = result(ecs, run(ecs, "echo hi", ["i-primary"]))
    assert (res.invocation_status, res.error_code) == ("Aborted", "ClientNotRunning")
    status = ecs.describe_cloud_assistant_status(
        m.DescribeCloudAssistantStatusRequest(region_id=REGION, instance_id=["i-primary", "i-standby"])
    ).body
    rows = {
        r.instance_id: r for r in status.instance_cloud_assistant_status_set.instance_cloud_assistant_status
    }
    assert rows["i-primary"].cloud_assistant_status == "false"
    assert rows["i-standby"].cloud_assistant_status == "true" and rows["i-standby"].invocation_count == 1


def test_run_command_errors(ecs: Any) -> None:
    expect_error("InvalidCmdType.NotFound", 403, lambda: run(ecs, "x", ["i-standby"], type="RunPythonScript"))
    expect_error("InvalidInstance.NotFound", 404, lambda: run(ecs, "x", ["i-nope"]))
    expect_error("InvalidInstance.NotMatch", 403, lambda: run(ecs, "dir", ["i-standby"], type="RunBatScript"))
    expect_error("MissingParameter", 400, lambda: run(ecs, "x", []))
    expect_error("MissingParameter", 400, lambda: run(ecs, "", ["i-standby"]))
    expect_error("InvalidParameter", 400, lambda: run(ecs, "%%%", ["i-standby"], content_encoding="Base64"))
    expect_error("CmdContent.ExceedLimit", 403, lambda: run(ecs, "x" * 20000, ["i-standby"]))
    expect_error("CmdName.ExceedLimit", 403, lambda: run(ecs, "x", ["i-standby"], name="n" * 129))


class RecordingHooks:
    """A lab-like hook that runs nothing but remembers, and takes a moment like a real script."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.release = threading.Event()

    def on_attach(self, eni_id: str, mac: str, instance_id: str) -> None:
        self.calls.append(("attach", eni_id, mac, instance_id))

    def on_detach(self, eni_id: str, instance_id: str) -> None:
        self.calls.append(("detach", eni_id, instance_id))

    def run_command(self, instance_id: str, script: str, timeout_s: float) -> tuple[int, str]:
        self.release.wait(5)
        self.calls.append(("run", instance_id, script))
        return (0, "configured") if "ok" in script else (1, "boom")


def test_hooks_see_attach_detach_and_run_the_script_in_a_worker() -> None:
    hooks = RecordingHooks()
    with SimServer.from_world(small_world(), hooks=hooks) as sim:
        ecs = sim.ecs_client()
        ecs.detach_network_interface(
            m.DetachNetworkInterfaceRequest(
                region_id=REGION, instance_id="i-primary", network_interface_id="eni-svc"
            )
        )
        ecs.attach_network_interface(
            m.AttachNetworkInterfaceRequest(
                region_id=REGION, instance_id="i-standby", network_interface_id="eni-svc"
            )
        )
        wait_for(lambda: len(hooks.calls) == 2)
        assert hooks.calls == [
            ("detach", "eni-svc", "i-primary"),
            ("attach", "eni-svc", "00:16:3e:00:00:50", "i-standby"),
        ]
        ok, bad = run(ecs, "echo ok", ["i-standby"]), run(ecs, "exit 1", ["i-standby"])
        assert result(ecs, ok).invocation_status == "Running"  # the worker is still busy
        hooks.release.set()
        wait_for(lambda: result(ecs, ok).invocation_status == "Success")
        wait_for(lambda: result(ecs, bad).invocation_status == "Failed")
        assert (result(ecs, ok).output, result(ecs, bad).exit_code) == ("configured", 1)


def test_failing_attach_hook_fails_the_attach() -> None:
    class Broken(RecordingHooks):
        def on_attach(self, eni_id: str, mac: str, instance_id: str) -> None:
            raise RuntimeError("veth move failed")

    with SimServer.from_world(small_world(), hooks=Broken()) as sim:
        ecs = sim.ecs_client()
        ecs.detach_network_interface(
            m.DetachNetworkInterfaceRequest(
                region_id=REGION, instance_id="i-primary", network_interface_id="eni-svc"
            )
        )
        ecs.attach_network_interface(
            m.AttachNetworkInterfaceRequest(
                region_id=REGION, instance_id="i-standby", network_interface_id="eni-svc"
            )
        )
        assert sim.control.eni("eni-svc")["status"] == "Available"


def test_crashed_instance_still_runs_in_the_api_but_its_agent_is_gone(sim: SimServer, ecs: Any) -> None:
    sim.control.crash("i-standby")
    status = ecs.describe_instance_status(
        m.DescribeInstanceStatusRequest(region_id=REGION, instance_id=["i-standby"])
    )
    assert status.body.instance_statuses.instance_status[0].status == "Running"
    res = result(ecs, run(ecs, "echo hi", ["i-standby"]))
    assert (res.invocation_status, res.error_code) == ("Aborted", "ClientNotRunning")
    ecs.reboot_instance(m.RebootInstanceRequest(instance_id="i-standby", force_stop=True))
    assert result(ecs, run(ecs, "echo hi", ["i-standby"])).invocation_status == "Success"  # a fresh boot


class TimedHooks:
    """Records when the guest ran each script (the lab's hook would change the network then)."""

    def __init__(self) -> None:
        self.ran_at: list[float] = []

    def on_attach(self, eni_id: str, mac: str, instance_id: str) -> None:
        return None

    def on_detach(self, eni_id: str, instance_id: str) -> None:
        return None

    def run_command(self, instance_id: str, script: str, timeout_s: float) -> tuple[int, str]:
        import time

        self.ran_at.append(time.time())
        time.sleep(0.2)  # the script's own run time
        return 0, "ran"


def test_the_script_runs_when_its_drawn_time_is_over_and_success_follows_it() -> None:
    """A client must not see the script's effect before the cloud's command time is over."""
    hooks = TimedHooks()
    with SimServer.from_world(small_world(timing={"command_s": 0.5}), hooks=hooks) as sim:
        ecs = sim.ecs_client()
        invoke = run(ecs, "echo hi", ["i-standby"])
        wait_for(lambda: result(ecs, invoke).invocation_status == "Success", timeout=3)
        created = next(e["t"] for e in sim.control.events() if e["kind"] == "invocations")
        success = next(e["t"] for e in sim.control.events() if e["kind"] == "records" and e["to"] == "Success")
    (ran_at,) = hooks.ran_at
    assert ran_at - created >= 0.5 - 0.02  # not at once: after the drawn 0.5 s
    assert success - ran_at >= 0.2 - 0.02  # Success when the script really ended
