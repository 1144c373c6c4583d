"""A hand-written classic RPC (HMAC-SHA1) signer and raw HTTP, independent of the SDK and the emulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
import uuid
from typing import Any
from urllib.parse import quote, urlencode


def _pct(s: str) -> str:
    return quote(s, safe="~")


def rpc_sign(params: dict[str, str], secret: str, method: str = "GET") -> dict[str, str]:
    signed = dict(params)
    canonical = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(signed.items()))
    to_sign = f"{method}&{_pct('/')}&{_pct(canonical)}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    signed["Signature"] = base64.b64encode(digest).decode()
    return signed


def rpc_params(action: str, ak: str, version: str = "2014-05-26", **extra: str) -> dict[str, str]:
    return {
        "Action": action,
        "Version": version,
        "Format": "JSON",
        "AccessKeyId": ak,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "RegionId": "cn-hangzhou",
        **extra,
    }


def raw(
    endpoint: str, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def rpc_get(endpoint: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    return raw(endpoint, "GET", "/?" + urlencode(params, quote_via=quote))


def rpc_post_form(endpoint: str, params: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = urlencode(params, quote_via=quote).encode()
    return raw(endpoint, "POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
