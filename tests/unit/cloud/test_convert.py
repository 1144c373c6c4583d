from __future__ import annotations

from failover.cloud import convert
from failover.model import EniStatus

ENI = {
    "NetworkInterfaceId": "eni-svc", "Status": "InUse", "Type": "Secondary", "InstanceId": "i-1",
    "VpcId": "vpc-a", "VSwitchId": "vsw-a", "ZoneId": "cn-hangzhou-h",
    "MacAddress": "00:16:3e:00:00:50", "PrivateIpAddress": "192.168.1.50",
    "PrivateIpSets": {"PrivateIpSet": [
        {"PrivateIpAddress": "192.168.1.51", "Primary": False},
        {"PrivateIpAddress": "192.168.1.50", "Primary": True},
    ]},
}


def test_eni_state_primary_first_then_secondaries() -> None:
    s = convert.eni_state(ENI)
    assert s.status is EniStatus.IN_USE
    assert s.instance_id == "i-1"
    assert s.primary_ip == "192.168.1.50"
    assert s.private_ips == ("192.168.1.50", "192.168.1.51")
    assert (s.mac, s.vswitch_id, s.vpc_id, s.zone_id) == (
        "00:16:3e:00:00:50", "vsw-a", "vpc-a", "cn-hangzhou-h")


def test_eni_state_available_has_no_holder_and_primary_from_sets() -> None:
    d = {**ENI, "Status": "Available", "InstanceId": ""}
    del d["PrivateIpAddress"]
    s = convert.eni_state(d)
    assert s.instance_id is None
    assert s.private_ips[0] == "192.168.1.50"


def test_unknown_or_missing_eni_status_is_that_enis_unknown_state() -> None:
    assert convert.eni_state({**ENI, "Status": "Creating"}).status is EniStatus.UNKNOWN
    missing = {k: v for k, v in ENI.items() if k != "Status"}
    assert convert.eni_state(missing).status is EniStatus.UNKNOWN
    assert convert.eni_state(missing).instance_id == "i-1"  # the rest of the ENI is still read


def test_instance_info() -> None:
    info = convert.instance_info({
        "InstanceId": "i-1", "Status": "Running", "InstanceType": "ecs.g7.large",
        "ZoneId": "z-h", "VpcAttributes": {"VpcId": "vpc-a", "VSwitchId": "vsw-a",
                                           "PrivateIpAddress": {"IpAddress": ["192.168.1.10"]}},
        "NetworkInterfaces": {"NetworkInterface": [
            {"NetworkInterfaceId": "eni-p", "Type": "Primary", "PrimaryIpAddress": "192.168.1.10"},
            {"NetworkInterfaceId": "eni-svc", "Type": "Secondary"}]},
    })
    assert info.primary_ip == "192.168.1.10"
    assert info.eni_ids == ("eni-p", "eni-svc")
    assert (info.vpc_id, info.vswitch_id, info.zone_id) == ("vpc-a", "vsw-a", "z-h")


def test_missing_wrappers_give_empty_lists() -> None:
    assert convert.items({}, "Instances", "Instance") == []
    assert convert.items({"Instances": {}}, "Instances", "Instance") == []
    assert convert.statuses({"RequestId": "x"}) == {}


def test_assistant_status_is_a_string() -> None:
    body = {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": [
        {"InstanceId": "i-1", "CloudAssistantStatus": "true"},
        {"InstanceId": "i-2", "CloudAssistantStatus": "false"}]}}
    assert convert.assistant_online(body) == {"i-1": True, "i-2": False}


def test_invocation_result_running_then_done() -> None:
    def body(status: str, code: int | None, out: str) -> dict[str, object]:
        row = {"InstanceId": "i-1", "InvocationStatus": status, "ExitCode": code, "Output": out}
        return {"Invocation": {"InvocationResults": {"InvocationResult": [row]}}}

    running = convert.invocation_result(body("Running", 0, ""), "t-1", "i-1")
    assert running is not None and running.exit_code is None and not running.ok
    done = convert.invocation_result(body("Success", 0, "hi\n"), "t-1", "i-1")
    assert done is not None and done.ok and done.output == "hi\n"
    failed = convert.invocation_result(body("Failed", 3, "boom"), "t-1", "i-1")
    assert failed is not None and failed.exit_code == 3 and not failed.ok
    assert convert.invocation_result({"Invocation": {}}, "t-1", "i-1") is None


def test_invocation_result_from_describe_invocations_picks_this_run_and_instance() -> None:
    def inv(invoke_id: str, *rows: tuple[str, str, int]) -> dict[str, object]:
        return {"InvokeId": invoke_id, "InvocationStatus": "Running", "InvokeInstances": {
            "InvokeInstance": [{"InstanceId": i, "InvocationStatus": st, "ExitCode": code,
                                "Output": f"{invoke_id}/{i}"} for (i, st, code) in rows]}}

    body = {"Invocations": {"Invocation": [inv("t-0", ("i-1", "Failed", 1)),
                                           inv("t-1", ("i-2", "Running", 0),
                                               ("i-1", "Success", 0))]}}
    res = convert.invocation_result(body, "t-1", "i-1")
    assert res is not None and res.ok and res.output == "t-1/i-1"
    running = convert.invocation_result(body, "t-1", "i-2")
    assert running is not None and running.exit_code is None
    assert convert.invocation_result({"Invocations": {"Invocation": []}}, "t-1", "i-1") is None


def test_invocation_error_code_becomes_output_when_there_is_none() -> None:
    row = {"InstanceId": "i-1", "InvocationStatus": "Aborted", "ErrorCode": "InstanceNotRunning",
           "ErrorInfo": "the instance is not running"}
    res = convert.invocation_result(
        {"Invocation": {"InvocationResults": {"InvocationResult": [row]}}}, "t-1", "i-1")
    assert res is not None and res.output.startswith("InstanceNotRunning")


def test_eip_and_vswitch_and_types() -> None:
    eip = convert.eip_info({"AllocationId": "eip-a", "IpAddress": "47.100.0.1", "Status": "InUse",
                            "InstanceId": "eni-svc", "InstanceType": "NetworkInterface",
                            "PrivateIpAddress": "192.168.1.50", "Mode": "NAT"})
    assert eip.instance_id == "eni-svc" and eip.mode == "NAT"
    assert convert.eip_info({"AllocationId": "eip-b", "Status": "Available"}).instance_id is None
    vsw = convert.vswitch_info({"VSwitchId": "vsw-a", "VpcId": "vpc-a", "ZoneId": "z",
                                "CidrBlock": "192.168.1.0/24"})
    assert vsw.cidr == "192.168.1.0/24"
    lim = convert.instance_type_limits({"InstanceTypeId": "ecs.g7.large", "EniQuantity": 3,
                                        "EniPrivateIpAddressQuantity": 10})
    assert (lim.max_enis, lim.ips_per_eni) == (3, 10)
