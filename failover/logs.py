"""Logging set-up: JSON lines on stderr for machines, readable lines on a TTY."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(doc, default=str)


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")
        )
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        return f"{line}  {extras}" if extras else line


def env_level() -> str:
    """$FAILOVER_LOG_LEVEL, else info (the --log-level option wins over both)."""
    return os.environ.get("FAILOVER_LOG_LEVEL", "").lower() or "info"


def setup(level: str = "info", *, json_lines: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler.setFormatter(JsonFormatter() if use_json else ReadableFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter (kazoo's connection loop, urllib3) drowns the product's own lines.
    for noisy in ("kazoo", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # A skipped round is counted in failover_health_rounds_missed_total; a log line
    # per skip would flood the log exactly when the machine is already struggling.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def quiet_for_one_shot(level: str) -> None:
    """A one-shot command (status, drill...) reports ZooKeeper trouble as its own single error
    line; kazoo's reconnect warnings (one per attempt, ~27 in 5 s) only bury it. `--log-level
    debug` keeps them."""
    if level.lower() != "debug":
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)
