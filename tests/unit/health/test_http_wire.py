"""The raw http probe's verdict from the bytes so far: undecided until they decide, the same
reasons as the streams client."""

from __future__ import annotations

import pytest

from failover.health.http_wire import BAD, MAX_BODY, verdict

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


def test_the_status_line_decides_without_body_contains() -> None:
    assert verdict(b"HTTP/1.1 20", False, 200, None) is None
    assert verdict(b"HTTP/1.1 200 OK\r\n", False, 200, None) == ""
    assert verdict(b"HTTP/1.1 503 Busy\r\n", False, 200, None) == "status 503"


def test_not_http_or_closed_before_a_status_line_is_a_bad_response() -> None:
    assert verdict(b"SSH-2.0-OpenSSH\r\n", False, 200, None) == BAD
    assert verdict(b"HTTP/1.1 2", True, 200, None) == BAD
    assert verdict(b"", True, 200, None) == BAD


def test_a_sized_body_waits_for_its_bytes() -> None:
    assert verdict(OK_HEAD + b"he", False, 200, "hello") is None
    assert verdict(OK_HEAD + b"hello", False, 200, "hello") == ""
    assert verdict(OK_HEAD + b"world", False, 200, "hello") == "body mismatch"
    assert verdict(OK_HEAD + b"he", True, 200, "hello") == BAD  # closed early


def test_headers_split_across_reads() -> None:
    assert verdict(b"HTTP/1.1 200 OK\r\nContent-Le", False, 200, "x") is None
    assert verdict(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", False, 200, "x") is None
    assert verdict(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", False, 200, "x") == ""


def test_chunked_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert verdict(head + b"3\r\nfoo\r\n", False, 200, "foobar") is None
    assert verdict(head + b"3\r\nfoo\r\n3\r\nbar\r\n0\r\n\r\n", False, 200, "foobar") == ""
    assert verdict(head + b"zz\r\n", False, 200, "foo") == BAD
    assert verdict(head + b"3\r\nfo", True, 200, "foo") == BAD


def test_a_body_to_the_close_is_judged_at_the_close_or_at_its_cap() -> None:
    head = b"HTTP/1.0 200 OK\r\n\r\n"
    assert verdict(head + b"ready", False, 200, "ready") is None
    assert verdict(head + b"ready", True, 200, "ready") == ""
    assert verdict(head + b"x" * MAX_BODY + b"ready", False, 200, "ready") == "body mismatch"


@pytest.mark.parametrize("n", [150])
def test_too_many_headers_is_a_bad_response(n: int) -> None:
    buf = b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * n + b"\r\n"
    assert verdict(buf, False, 200, "ok") == BAD
