"""The Alibaba RPC wire protocol: request parsing, parameter decoding, signatures, error bodies.

Pure functions over bytes and dicts; the HTTP server hands them what it read. Everything a
client can send badly ends as an `ApiError`, which the server turns into Alibaba's JSON error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus

ECS_VERSION = "2014-05-26"
VPC_VERSION = "2016-04-28"
HOSTS = {ECS_VERSION: "ecs.aliyuncs.com", VPC_VERSION: "vpc.aliyuncs.com"}
MAX_BODY = 256 * 1024
MAX_QUERY = 64 * 1024
# parameters of the classic RPC signature that are not business input (left out of ClientToken checks)
SIGNING_PARAMS = frozenset(
    {
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
        "AccessKeyId",
        "SecurityToken",
        "Format",
        "Action",
        "Version",
    }
)
_TIMESTAMP_SKEW_S = 900
_AUTH_RE = re.compile(
    r"^ACS3-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]*),\s*Signature=([0-9a-fA-F]+)$"
)


class ApiError(Exception):
    """An answer Alibaba would give as an error: code, HTTP status, message."""

    def __init__(self, code: str, status: int, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.retry_after_ms = retry_after_ms


def missing(name: str) -> ApiError:
    return ApiError(
        "MissingParameter",
        400,
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
    )


def invalid(name: str, why: str = "is not valid") -> ApiError:
    return ApiError("InvalidParameter", 400, f'The specified parameter "{name}" {why}.')


def new_request_id() -> str:
    return str(uuid.uuid4()).upper()


def error_body(err: ApiError, request_id: str, version: str | None) -> dict[str, Any]:
    host = HOSTS.get(version or "", "ecs.aliyuncs.com")
    product = "Vpc" if version == VPC_VERSION else "Ecs"
    return {
        "RequestId": request_id,
        "HostId": host,
        "Code": err.code,
        "Message": err.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product={product}&requestId={request_id}",
    }


@dataclass
class Request:
    """One parsed cloud API call: what the signature and the operations need."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, list[str]]  # lower-case name -> values in arrival order
    body: bytes
    query_params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def action(self) -> str | None:
        return self.header("x-acs-action") or self.params.get("Action")

    @property
    def version(self) -> str | None:
        return self.header("x-acs-version") or self.params.get("Version")

    def business_params(self) -> dict[str, str]:
        return {k: v for k, v in self.params.items() if k not in SIGNING_PARAMS}


def _decode_pairs(raw: bytes, what: str) -> list[tuple[str, str]]:
    try:
        text = raw.decode("ascii")
        return parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=2000
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError("InvalidParameter", 400, f"The {what} is malformed or not valid UTF-8: {e}.") from None


def parse_request(method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Request:
    """Turns the raw request into a `Request`; query and form-body parameters are merged."""
    path, _, query = target.partition("?")
    if len(query) > MAX_QUERY:
        raise ApiError("InvalidParameter", 400, "The query string is too long.")
    hdrs: dict[str, list[str]] = {}
    for name, value in headers:
        hdrs.setdefault(name.lower(), []).append(value)
    query_pairs = _decode_pairs(query.encode("latin-1", "replace"), "query string")
    params: dict[str, str] = {}
    for k, v in query_pairs:
        params[k] = v
    query_params = dict(params)
    ctype = (hdrs.get("content-type") or [""])[0].split(";")[0].strip().lower()
    if body and ctype == "application/x-www-form-urlencoded":
        for k, v in _decode_pairs(body, "form body"):
            params[k] = v
    return Request(method, path or "/", params, hdrs, body, query_params)


# --- parameter accessors (each names the parameter in its error) ---


def get_str(p: dict[str, str], name: str, required: bool = False, max_len: int = 4096) -> str | None:
    v = p.get(name)
    if v is None or v == "":
        if required:
            raise missing(name)
        return None
    if len(v) > max_len:
        raise invalid(name, f"is longer than {max_len} characters")
    return v


def req_str(p: dict[str, str], name: str) -> str:
    v = get_str(p, name, required=True)
    assert v is not None
    return v


def get_int(
    p: dict[str, str], name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
) -> int | None:
    v = p.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(v, 10)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise invalid(name, f"must be between {lo} and {hi}")
    return n


def get_bool(p: dict[str, str], name: str, default: bool = False) -> bool:
    v = p.get(name)
    if v is None or v == "":
        return default
    if v.lower() in ("true", "1"):
        return True
    if v.lower() in ("false", "0"):
        return False
    raise invalid(name, "must be true or false")


def get_list(p: dict[str, str], name: str, max_items: int = 100) -> list[str]:
    """`Name.1, Name.2, ...` in index order (the SDK's list flattening)."""
    found: dict[int, str] = {}
    prefix = name + "."
    for k, v in p.items():
        if k.startswith(prefix):
            idx = k[len(prefix) :]
            if not idx.isdigit() or int(idx) < 1:
                raise invalid(k, "has an invalid list index")
            found[int(idx)] = v
    if len(found) > max_items:
        raise invalid(name, f"has more than {max_items} items")
    return [found[i] for i in sorted(found) if found[i] != ""]


def get_json_list(p: dict[str, str], name: str, max_items: int = 100) -> list[str] | None:
    """A parameter that travels as a JSON array string (`InstanceIds`)."""
    v = p.get(name)
    if v is None or v == "":
        return None
    try:
        data = json.loads(v)
    except ValueError:
        raise invalid(name, "must be a JSON array of strings") from None
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise invalid(name, "must be a JSON array of strings")
    if len(data) > max_items:
        raise invalid(name, f"has more than {max_items} items")
    return data


def get_csv(p: dict[str, str], name: str, max_items: int = 50) -> list[str]:
    v = get_str(p, name)
    items = [x.strip() for x in v.split(",") if x.strip()] if v else []
    if len(items) > max_items:
        raise invalid(name, f"has more than {max_items} items")
    return items


# --- signatures ---


def _enc(s: str) -> str:
    return quote(s, safe="~", encoding="utf-8")


def acs3_string_to_sign(req: Request, signed_headers: list[str]) -> str:
    canonical_query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(req.query_params.items()))
    canonical_headers = "".join(
        f"{h}:{','.join(sorted(v.strip() for v in req.headers.get(h, [])))}\n" for h in signed_headers
    )
    canonical = "\n".join(
        [
            req.method,
            req.path,
            canonical_query,
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(req.body).hexdigest(),
        ]
    )
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rpc_string_to_sign(req: Request) -> str:
    canonical = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(req.params.items()) if k != "Signature")
    return f"{req.method}&%2F&{quote_plus(canonical, safe='~')}"


def _secret_for(keys: dict[str, str], ak: str) -> str:
    secret = keys.get(ak)
    if secret is None:
        raise ApiError("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found.")
    return secret


def _check_time(value: str | None, now: float, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> None:
    if value is None:
        return
    try:
        t = datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise ApiError("IllegalTimestamp", 400, 'The input parameter "Timestamp" is not valid.') from None
    if abs(t - now) > _TIMESTAMP_SKEW_S:
        raise ApiError(
            "IllegalTimestamp", 400, 'The input parameter "Timestamp" that is expired or not yet valid.'
        )


def _mismatch(string_to_sign: str) -> ApiError:
    """The real API's text: its own string-to-sign after the colon. The classic SDK
    (aliyun-python-sdk-core) compares it with its own to tell a wrong secret apart."""
    return ApiError(
        "SignatureDoesNotMatch",
        400,
        f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}",
    )


def verify_signature(req: Request, keys: dict[str, str], now: float) -> tuple[str, str | None]:
    """Checks the ACS3 or classic RPC signature; returns (access key id, nonce)."""
    auth = req.header("authorization")
    if auth is not None:
        m = _AUTH_RE.match(auth.strip())
        if m is None:
            raise ApiError(
                "IncompleteSignature", 400, "The request signature does not conform to Aliyun standards."
            )
        ak, signed, signature = m.group(1), m.group(2).split(";"), m.group(3).lower()
        secret = _secret_for(keys, ak)
        if any(h != h.lower() or h not in req.headers for h in signed):
            raise ApiError("IncompleteSignature", 400, "A signed header is missing from the request.")
        _check_time(req.header("x-acs-date"), now)
        expected = hmac.new(
            secret.encode(), acs3_string_to_sign(req, signed).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _mismatch(acs3_string_to_sign(req, signed))
        return ak, req.header("x-acs-signature-nonce")
    signature_b64 = req.params.get("Signature")
    ak = req.params.get("AccessKeyId")
    if not signature_b64 or not ak:
        raise ApiError(
            "IncompleteSignature", 400, "The request is not signed (no Authorization, no Signature)."
        )
    secret = _secret_for(keys, ak)
    method = req.params.get("SignatureMethod", "HMAC-SHA1")
    if method != "HMAC-SHA1":
        raise ApiError("IncompleteSignature", 400, f"SignatureMethod {method!r} is not supported.")
    _check_time(req.params.get("Timestamp"), now)
    digest = hmac.new((secret + "&").encode(), rpc_string_to_sign(req).encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), signature_b64):
        raise _mismatch(rpc_string_to_sign(req))
    return ak, req.params.get("SignatureNonce")


# --- paging ---

T = TypeVar("T")


def page(
    items: list[T],
    p: dict[str, str],
    max_results: int,
    default_size: int = 10,
    token_mode: bool = True,
    min_results: int = 1,
) -> tuple[list[T], dict[str, Any]]:
    """NextToken/MaxResults paging when asked (or PageNumber/PageSize), as the real API does."""
    if token_mode and ("MaxResults" in p or "NextToken" in p):
        size = get_int(p, "MaxResults", default_size) or default_size
        size = min(max(size, min_results), max_results)
        token = p.get("NextToken") or ""
        start = 0
        if token:
            if not token.isdigit() or int(token) > len(items):
                raise invalid("NextToken")
            start = int(token)
        chunk = items[start : start + size]
        nxt = str(start + size) if start + size < len(items) else ""
        return chunk, {"NextToken": nxt, "TotalCount": len(items), "MaxResults": size}
    number = get_int(p, "PageNumber", 1, lo=1, hi=10**9) or 1
    size = get_int(p, "PageSize", default_size, lo=1, hi=max_results) or default_size
    start = (number - 1) * size
    fields: dict[str, Any] = {"TotalCount": len(items), "PageNumber": number, "PageSize": size}
    if token_mode:
        fields["NextToken"] = ""
    return items[start : start + size], fields
