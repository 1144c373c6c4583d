"""Helpers for the emulator suite: expected SDK errors and polling through the SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_ecs20140526 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

REGION = "cn-hangzhou"


def expect_error(
    code: str, status: int, call: Callable[[], Any], kind: type[Exception] = ClientException
) -> Any:
    with pytest.raises(kind) as info:
        call()
    err: Any = info.value
    assert (err.code, err.status_code) == (code, status), f"{err.code} {err.status_code}: {err.message}"
    assert err.request_id and err.request_id != "None"
    return err


def eni_status(ecs: Any, eni_id: str) -> tuple[str, str]:
    body = ecs.describe_network_interface_attribute(
        m.DescribeNetworkInterfaceAttributeRequest(region_id=REGION, network_interface_id=eni_id)
    ).body
    return body.status, body.instance_id


def attach(ecs: Any, eni: str, instance: str) -> Any:
    return ecs.attach_network_interface(
        m.AttachNetworkInterfaceRequest(region_id=REGION, network_interface_id=eni, instance_id=instance)
    )


def detach(ecs: Any, eni: str, instance: str) -> Any:
    return ecs.detach_network_interface(
        m.DetachNetworkInterfaceRequest(region_id=REGION, network_interface_id=eni, instance_id=instance)
    )
