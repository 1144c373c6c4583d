"""The wire protocol over HTTP: both signature styles, dispatch, Alibaba-style errors, bad input."""

from __future__ import annotations

import logging
import socket
import struct
import time
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from harness.sim import SimServer
from tests.integration.sim.rpc import raw, rpc_get, rpc_params, rpc_post_form, rpc_sign
from tests.integration.sim.util import REGION, expect_error

ERROR_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}


def describe(ecs: Any) -> Any:
    return ecs.describe_network_interfaces(m.DescribeNetworkInterfacesRequest(region_id=REGION))


def test_bad_secret_is_signature_does_not_match_in_both_signature_modes(sim: SimServer) -> None:
    err = expect_error("SignatureDoesNotMatch", 400, lambda: describe(sim.ecs_client(secret="wrong")))
    assert set(err.data) >= ERROR_KEYS
    expect_error(
        "SignatureDoesNotMatch",
        400,
        lambda: describe(sim.ecs_client(secret="wrong", signature_algorithm="v2")),
    )


def test_unknown_access_key(sim: SimServer) -> None:
    from alibabacloud_ecs20140526.client import Client

    cfg = sim.sdk_config()
    cfg.access_key_id = "AKIDUNKNOWN"
    expect_error("InvalidAccessKeyId.NotFound", 404, lambda: describe(Client(cfg)))


def test_v2_signature_mode_of_the_sdk_is_accepted(sim: SimServer) -> None:
    body = describe(sim.ecs_client(signature_algorithm="v2")).body
    assert body.request_id and len(body.network_interface_sets.network_interface_set) == 3
    vpc_body = (
        sim.vpc_client(signature_algorithm="v2")
        .describe_eip_addresses(
            __import__("alibabacloud_vpc20160428.models", fromlist=["x"]).DescribeEipAddressesRequest(
                region_id=REGION
            )
        )
        .body
    )
    assert vpc_body.total_count == 1


def test_classic_rpc_get_and_form_post_signed_by_hand(sim: SimServer) -> None:
    params = rpc_sign(rpc_params("DescribeInstanceStatus", sim.access_key_id), sim.access_key_secret, "GET")
    status, body, headers = rpc_get(sim.endpoint, params)
    assert (
        status == 200 and body["TotalCount"] == 2 and headers["content-type"].startswith("application/json")
    )
    params = rpc_sign(rpc_params("DescribeInstanceStatus", sim.access_key_id), sim.access_key_secret, "POST")
    status, body, _ = rpc_post_form(sim.endpoint, params)
    assert status == 200 and body["TotalCount"] == 2
    # the nonce of a signed request cannot be replayed
    status, body, _ = rpc_post_form(sim.endpoint, params)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")
    tampered = {
        **rpc_sign(rpc_params("DescribeInstanceStatus", sim.access_key_id), sim.access_key_secret),
        "PageSize": "1",
    }
    status, body, _ = rpc_get(sim.endpoint, tampered)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_request_ids_are_unique(sim: SimServer, ecs: Any) -> None:
    ids = {describe(ecs).body.request_id for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("target", "code", "status"),
    [
        ("/?Action=NoSuchThing&Version=2014-05-26", "InvalidAction.NotFound", 404),
        (
            "/?Action=DescribeEipAddresses&Version=2014-05-26",
            "InvalidAction.NotFound",
            404,
        ),  # a VPC action on ECS
        ("/?Action=DescribeInstances", "MissingParameter", 400),
        ("/?Version=2014-05-26", "MissingParameter", 400),
        ("/?Action=DescribeInstances&Version=1999-01-01", "InvalidVersion", 400),
        ("/?Action=DescribeInstances&Version=2014-05-26", "IncompleteSignature", 400),
        ("/?Action=DescribeInstances&Version=2014-05-26&Bad=%FF%FE", "InvalidParameter", 400),
        ("/?Action=DescribeInstances&Version=2014-05-26&%", "IncompleteSignature", 400),
    ],
)
def test_dispatch_and_gateway_errors(sim: SimServer, target: str, code: str, status: int) -> None:
    got, body, _ = raw(sim.endpoint, "POST", target)
    assert (got, body["Code"]) == (status, code)
    assert set(body) >= ERROR_KEYS


def test_wrong_types_and_missing_region_are_alibaba_errors(sim: SimServer) -> None:
    signed = rpc_sign(
        rpc_params("DescribeNetworkInterfaces", sim.access_key_id, MaxResults="many"), sim.access_key_secret
    )
    status, body, _ = rpc_get(sim.endpoint, signed)
    assert (status, body["Code"]) == (400, "InvalidParameter") and "MaxResults" in body["Message"]
    params = rpc_params("DescribeNetworkInterfaces", sim.access_key_id)
    del params["RegionId"]
    status, body, _ = rpc_get(sim.endpoint, rpc_sign(params, sim.access_key_secret))
    assert (status, body["Code"]) == (400, "MissingParameter")
    other = rpc_sign(
        rpc_params("DescribeNetworkInterfaces", sim.access_key_id, RegionId="us-east-1"),
        sim.access_key_secret,
    )
    assert rpc_get(sim.endpoint, other)[1]["Code"] == "InvalidRegionId.NotFound"


def test_oversized_and_broken_requests_never_take_the_server_down(sim: SimServer, ecs: Any) -> None:
    status, body, _ = raw(
        sim.endpoint, "POST", "/", b"x" * 300_000, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, body["Code"]) == (400, "InvalidParameter")
    status, body, _ = raw(sim.endpoint, "POST", "/", b"", {"Content-Length": "abc"})
    assert body["Code"] == "InvalidParameter"
    status, body, _ = raw(sim.endpoint, "DELETE", "/?Action=DescribeInstances&Version=2014-05-26")
    assert (status, body["Code"]) == (403, "UnsupportedHTTPMethod")
    host, port = sim.endpoint.rsplit(":", 1)
    for garbage in (
        b"\xff\xfe GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    ):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(garbage)
            reply = b""
            while chunk := s.recv(65536):  # headers and body may come in separate segments
                reply += chunk
        assert b'"Code"' in reply and b"RequestId" in reply
    assert describe(ecs).status_code == 200


def test_a_client_that_resets_mid_request_costs_a_debug_line_not_a_traceback(
    sim: SimServer, ecs: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # What a SIGKILLed controller does to its keep-alive connection.
    caplog.set_level(logging.DEBUG, logger="failover.sim")
    host, port = sim.endpoint.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"GET /?Action=Describe")  # half a request line: the server is reading
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()  # linger 0: a reset, not a FIN
    deadline = time.monotonic() + 5
    while not any("went away" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the server never saw the reset"
        time.sleep(0.02)
    assert "Traceback" not in capfd.readouterr().err
    assert describe(ecs).status_code == 200


def test_control_api_rejects_bad_input_and_never_shows_secrets(sim: SimServer) -> None:
    from harness.sim import SimControlError

    with pytest.raises(SimControlError) as info:
        sim.control.request("POST", "/faults", {"action": "X", "status": 200, "code": "Y"})
    assert info.value.status == 400 and "status" in info.value.body
    with pytest.raises(SimControlError) as info:
        sim.control.request("POST", "/nowhere", {})
    assert info.value.status == 404
    with pytest.raises(SimControlError) as info:
        sim.control.instance_action("i-nope", "crash")
    assert info.value.status == 404
    with pytest.raises(SimControlError) as info:
        sim.control.start("i-primary")  # it is running
    assert info.value.status == 409
    assert sim.access_key_secret not in str(sim.control.state())


def test_control_and_cloud_are_not_mixed(sim: SimServer) -> None:
    status, body, _ = raw(sim.endpoint, "GET", "/_sim/state?Action=DescribeInstances&Version=2014-05-26")
    assert status == 200 and "instances" in body and "Code" not in body
    status, body, _ = raw(sim.endpoint, "GET", "/state?Action=DescribeInstances&Version=2014-05-26")
    assert body["Code"] == "InvalidAction.NotFound"


def test_client_exception_is_raised_for_4xx(sim: SimServer, ecs: Any) -> None:
    with pytest.raises(ClientException) as info:
        ecs.describe_network_interface_attribute(
            m.DescribeNetworkInterfaceAttributeRequest(region_id=REGION, network_interface_id="eni-nope")
        )
    assert info.value.data["HostId"] == "ecs.aliyuncs.com"
