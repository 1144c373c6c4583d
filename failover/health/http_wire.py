"""An HTTP/1.1 response judged from the bytes received so far (pure).

The raw-socket http probe (`http_probe.start_http`) feeds it everything read until then and
whether the peer has closed; it answers with the probe's reason ("" = up) as soon as the bytes
decide, or None while they do not yet. Same rules as the streams client in `http_probe`: the
status must be `expect_status`; with `body_contains`, the first MAX_BODY bytes of the body
(sized, chunked or up to the close) must contain it.
"""

from __future__ import annotations

MAX_BODY = 64 * 1024  # body_contains looks at the start of the body only
MAX_HEADERS = 100
MAX_HEAD_BYTES = 64 * 1024  # status line and headers; more is not an HTTP server we probe
BAD = "bad response"


class BadResponse(Exception):
    """The peer did not answer in HTTP."""


def parse_status(line: bytes) -> int:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise BadResponse("not an HTTP status line")
    return int(parts[1])


def _line_end(buf: bytes, start: int) -> int:
    """Index just past the next line's "\\n" from `start`, or -1."""
    i = buf.find(b"\n", start)
    return -1 if i < 0 else i + 1


def _headers(buf: bytes, start: int) -> tuple[dict[str, str], int] | None:
    """Headers from `start`, and where the body starts; None while the blank line is missing."""
    headers: dict[str, str] = {}
    pos = start
    for _ in range(MAX_HEADERS):
        end = _line_end(buf, pos)
        if end < 0:
            return None
        line = buf[pos:end]
        pos = end
        if line in (b"\r\n", b"\n"):
            return headers, pos
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    raise BadResponse("too many headers")


def _chunked(data: bytes, eof: bool) -> bytes | None:
    body = b""
    pos = 0
    while len(body) < MAX_BODY:
        end = _line_end(data, pos)
        if end < 0:
            return _short(eof)
        try:
            size = int(data[pos:end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise BadResponse("bad chunk size") from None
        if size == 0:
            break
        if len(data) < end + size:
            return _short(eof)
        body += data[end:end + size]
        after = _line_end(data, end + size)
        if after < 0:
            return _short(eof)
        pos = after
    return body[:MAX_BODY]


def _short(eof: bool) -> bytes | None:
    """Not enough bytes yet: None, or BadResponse once the peer has closed."""
    if eof:
        raise BadResponse("the response ended early")
    return None


def _body(data: bytes, headers: dict[str, str], eof: bool) -> bytes | None:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(data, eof)
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        want = min(int(length), MAX_BODY)
        return data[:want] if len(data) >= want else _short(eof)
    if eof or len(data) >= MAX_BODY:
        return data[:MAX_BODY]
    return None


def verdict(buf: bytes, eof: bool, expect_status: int, body_contains: str | None) -> str | None:
    """The probe's reason once `buf` (everything received; `eof`: the peer closed) decides."""
    try:
        end = _line_end(buf, 0)
        if end < 0:
            if eof or len(buf) > MAX_HEAD_BYTES:
                return BAD
            return None
        status = parse_status(buf[:end])
        if status != expect_status:
            return f"status {status}"
        if body_contains is None:
            return ""
        found = _headers(buf, end)
        if found is None:
            return BAD if eof or len(buf) > MAX_HEAD_BYTES else None
        headers, start = found
        body = _body(buf[start:], headers, eof)
    except BadResponse:
        return BAD
    if body is None:
        return None
    return "" if body_contains in body.decode("utf-8", errors="replace") else "body mismatch"
