"""The SDK gateway's pure parts: proxy guard, credentials from named variables, secrets."""

from __future__ import annotations

import pytest

from failover.cloud.sdk import USER_AGENT, SdkGateway, proxy_hijack
from failover.config import CloudConfig, ConfigError, EnvCredentials


def test_proxy_for_the_protocol_hijacks_a_loopback_endpoint() -> None:
    env = {"HTTP_PROXY": "http://proxy:3128"}
    assert proxy_hijack("127.0.0.1:18765", "http", env) == "HTTP_PROXY"
    assert proxy_hijack("localhost:18765", "http", {"http_proxy": "x"}) == "http_proxy"
    assert proxy_hijack("127.0.0.1:18765", "https", env) is None
    assert proxy_hijack("ecs.cn-hangzhou.aliyuncs.com", "http", env) is None
    assert proxy_hijack(None, "http", env) is None
    assert proxy_hijack("127.0.0.1:18765", "http", {}) is None


def test_refuses_to_start_when_a_proxy_would_capture_the_emulator() -> None:
    cfg = CloudConfig(region="cn-hangzhou", endpoint="127.0.0.1:18765", protocol="http")
    with pytest.raises(ConfigError) as exc:
        SdkGateway(cfg, environ={"HTTP_PROXY": "http://proxy:3128", "ALIBABA_CLOUD_ACCESS_KEY_ID": "a"})
    assert exc.value.problems[0].startswith("cloud.endpoint: HTTP_PROXY is set")


def test_named_variables_missing_are_reported_by_config_key() -> None:
    creds = EnvCredentials(access_key_id_env="MY_AK", access_key_secret_env="MY_SK",
                           security_token_env="MY_TOKEN")
    cfg = CloudConfig(region="r", endpoint="127.0.0.1:1", protocol="http", credentials=creds)
    with pytest.raises(ConfigError) as exc:
        SdkGateway(cfg, environ={"MY_AK": "id"})
    assert exc.value.problems == [
        "cloud.credentials.access_key_secret_env: environment variable MY_SK is not set",
        "cloud.credentials.security_token_env: environment variable MY_TOKEN is not set",
    ]


def test_repr_never_shows_a_secret() -> None:
    creds = EnvCredentials(access_key_id_env="MY_AK", access_key_secret_env="MY_SK")
    cfg = CloudConfig(region="r", endpoint="127.0.0.1:1", protocol="http", credentials=creds)
    gw = SdkGateway(cfg, environ={"MY_AK": "AKIDX", "MY_SK": "TOPSECRET-123"})
    assert "TOPSECRET" not in repr(gw)
    assert "TOPSECRET" not in repr(vars(gw).get("where"))
    assert USER_AGENT.startswith("failover/")


def test_ready_fetches_the_default_chains_credentials_and_leaves_static_keys_alone() -> None:
    """A refresh (RAM role, RRSA, STS) is a round trip: `ready` makes it before the fencing
    check, so the check stays right before the request leaves."""
    cfg = CloudConfig(region="cn-hangzhou", endpoint="127.0.0.1:1", protocol="http")
    gw = SdkGateway(cfg, environ={})
    fetched: list[str] = []

    class Chain:
        def get_credential(self) -> None:
            fetched.append("credential")

    gw._credential = Chain()
    gw.ready()
    assert fetched == ["credential"]

    class Broken:
        def get_credential(self) -> None:
            raise RuntimeError("no metadata service")

    gw._credential = Broken()
    gw.ready()  # the call itself reports it, with its action
    static = SdkGateway(CloudConfig(region="cn-hangzhou", credentials=EnvCredentials(
        access_key_id_env="MY_AK", access_key_secret_env="MY_SK")), environ={"MY_AK": "a", "MY_SK": "b"})
    static.ready()
