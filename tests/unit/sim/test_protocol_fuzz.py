"""The request parser and the whole cloud pipeline under arbitrary input: only Alibaba errors come out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failover.sim.protocol import ApiError, get_int, get_list, parse_request
from failover.sim.server import Emulator
from failover.sim.world_file import load_world
from harness.sim import small_world

text = st.text(st.characters(codec="utf-8"), max_size=40)
raw_bytes = st.binary(max_size=200)
headers = st.lists(
    st.tuples(
        st.sampled_from(
            ["x-acs-action", "x-acs-version", "authorization", "content-type", "x-acs-date", "host", "x-junk"]
        ),
        text,
    ),
    max_size=6,
)


@settings(max_examples=250, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT"]), target=text, hdrs=headers, body=raw_bytes)
def test_parse_request_raises_only_api_errors(
    method: str, target: str, hdrs: list[tuple[str, str]], body: bytes
) -> None:
    try:
        req = parse_request(method, target, hdrs, body)
    except ApiError as e:
        assert e.code and 400 <= e.status < 600
        return
    assert isinstance(req.params, dict)
    for name in ("MaxResults", "PageSize"):
        try:
            get_int(req.params, name, 10, lo=1, hi=100)
            get_list(req.params, name)
        except ApiError as e:
            assert e.code == "InvalidParameter"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    # never started: the pipeline is exercised directly, without sockets
    emu = Emulator(load_world(small_world()), "127.0.0.1", 0)
    yield emu
    emu.httpd.server_close()
    emu.state.close()


query_keys = st.sampled_from(
    [
        "Action",
        "Version",
        "RegionId",
        "NetworkInterfaceId",
        "NetworkInterfaceId.1",
        "InstanceIds",
        "MaxResults",
        "NextToken",
        "Signature",
        "AccessKeyId",
        "SignatureMethod",
        "Timestamp",
        "%ff",
        "a.b.c",
    ]
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(pairs=st.lists(st.tuples(query_keys, text), max_size=8), hdrs=headers, body=raw_bytes)
def test_pipeline_answers_every_input_with_a_json_error_or_success(
    emulator: Emulator, pairs: list[tuple[str, str]], hdrs: list[tuple[str, str]], body: bytes
) -> None:
    from urllib.parse import quote

    target = "/?" + "&".join(f"{quote(k, safe='%')}={quote(v)}" for k, v in pairs)
    status, payload, _extra, drop = emulator.call("POST", target, hdrs, body, "RID")
    assert not drop
    assert payload["RequestId"] == "RID"
    if status != 200:
        assert {"Code", "Message", "HostId", "Recommend"} <= set(payload)
        assert 400 <= status < 600 and status != 500
