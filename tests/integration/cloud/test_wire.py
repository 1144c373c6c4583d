"""What the adapter puts on the wire, seen by a capturing loopback server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from failover import __version__
from failover.config import CloudConfig
from harness.cloud import new_cloud

SEEN: list[dict[str, Any]] = []


class Capture(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        SEEN.append({"path": self.path, "headers": dict(self.headers.items())})
        body = json.dumps({"RequestId": "RID-WIRE", "InstanceStatuses": {"InstanceStatus": [
            {"InstanceId": "i-1", "Status": "Running"}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    SEEN.clear()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_region_user_agent_and_batched_ids(server: str) -> None:
    cloud = new_cloud(cfg=CloudConfig(region="cn-test", endpoint=server, protocol="http"),
                      rate_per_s=100)
    ids = [f"i-{n}" for n in range(120)]
    assert cloud.instance_statuses(ids) == {"i-1": "Running"}
    assert len(SEEN) == 3  # 50 + 50 + 20: DescribeInstanceStatus pages hold at most 50
    first = SEEN[0]
    assert "RegionId=cn-test" in first["path"]  # the SDK does not add it by itself
    assert "InstanceId.50=i-49" in first["path"] and "InstanceId.51" not in first["path"]
    headers = {k.lower(): v for k, v in first["headers"].items()}
    assert headers["x-acs-action"] == "DescribeInstanceStatus"
    assert f"failover/{__version__}" in headers["user-agent"]
    assert "x-acs-retry-attempts" not in headers  # the SDK's own retries are off
