"""Logging set-up: JSON lines on stderr for machines, readable lines on a TTY.

$FAILOVER_LOG_LEVEL and $FAILOVER_LOG_FORMAT (json | text) set them without flags, for a
systemd unit or a pod spec. The JSON formatter is python-json-logger's.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger import json as jsonlogger

_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {"message"}


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line: `ts` (ISO-8601, UTC, milliseconds), `level`, `logger`, `msg`,
    the record's extras, and for `log.exception` the `error` line and the full `traceback`."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "message": "msg",
                           "exc_info": "traceback"},
            json_default=str,
        )

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_record["ts"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_record, record, message_dict)
        log_record["level"] = record.levelname.lower()
        if record.exc_info and record.exc_info[0] is not None:
            log_record["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")
        )
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line}  {extras}" if extras else line
        if record.exc_info and record.exc_info[0] is not None:  # log.exception: keep the traceback
            line += "\n" + self.formatException(record.exc_info)
        return line


def env_level() -> str:
    """$FAILOVER_LOG_LEVEL, else info (the --log-level option wins over both)."""
    return os.environ.get("FAILOVER_LOG_LEVEL", "").lower() or "info"


def env_format() -> bool | None:
    """$FAILOVER_LOG_FORMAT: json -> True, text -> False, unset (or other) -> None (by TTY)."""
    return {"json": True, "text": False}.get(os.environ.get("FAILOVER_LOG_FORMAT", "").lower())


def setup(level: str = "info", *, json_lines: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines is None:
        json_lines = env_format()
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
