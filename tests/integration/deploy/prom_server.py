"""Debian's Prometheus as a real process for a test: its own port, storage and rule files.

    with PrometheusServer(workdir, targets=["127.0.0.1:9101"], rules=[rules_file]) as prom:
        prom.query_range('failover_leader', start, end)   # the HTTP API's result list
        prom.alerts()                                     # active (pending or firing) alerts

Bound to 127.0.0.1 on a free port; scrape and evaluation every 0.5 s so a test sees a series
or an alert change within a second or two.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from harness.zk import free_port
from tests.integration.deploy.tools import require_tool

INTERVAL = "500ms"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def shortened_rules(src: Path, dst: Path, *, for_s: str = "2s", windows: dict[str, str]) -> Path:
    """A copy of the project's rule file for a quick test: every `for:` set to `for_s` and the
    given range windows replaced (e.g. `[15m]` -> `[10s]`), so an alert fires and resolves in
    seconds. Expressions and labels stay the project's own."""
    text = re.sub(r"^(\s*)for: \S+$", rf"\1for: {for_s}", src.read_text(), flags=re.M)
    for old, new in windows.items():
        text = text.replace(old, new)
    dst.write_text(text)
    return dst


class PrometheusServer:
    def __init__(self, workdir: Path, *, targets: list[str], rules: list[Path], job: str = "failover",
                 external_labels: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "prometheus.log"
        doc = {
            "global": {"scrape_interval": INTERVAL, "scrape_timeout": "400ms",
                       "evaluation_interval": INTERVAL, "external_labels": external_labels or {}},
            "rule_files": [str(r) for r in rules],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
        }
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(doc))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        binary = require_tool("prometheus")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
             "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.proc.returncode}:\n{self.logs()}")
            try:
                with _OPENER.open(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.close()
        raise RuntimeError(f"prometheus not ready in 30 s:\n{self.logs()}")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def _api(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with _OPENER.open(f"{self.url}/api/v1/{path}{query}", timeout=10) as r:
                doc = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{path} {params}: HTTP {e.code}: {e.read().decode()[:500]}") from None
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self._api("query", {"query": expr})["result"])

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        return list(self._api("query_range", {"query": expr, "start": start, "end": end,
                                              "step": step})["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._api("alerts")["alerts"])

    def alert_states(self, name: str) -> set[str]:
        return {a["state"] for a in self.alerts() if a["labels"].get("alertname") == name}

    def targets_up(self) -> int:
        return sum(1 for t in self._api("targets")["activeTargets"] if t["health"] == "up")
