"""Logging: JSON lines with ISO-8601 time and kept tracebacks; level and format by environment."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import datetime

import pytest

from failover import logs


def _capture(json_lines: bool | None = True) -> io.StringIO:
    logs.setup("info", json_lines=json_lines)
    buf = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.stream = buf
    return buf


def test_json_lines_carry_iso_time_extras_and_the_traceback_of_log_exception() -> None:
    buf = _capture()
    log = logging.getLogger("failover.test")
    log.info("hello", extra={"group": "web", "n": 3})
    try:
        raise KeyError("gone")
    except KeyError:
        log.exception("job crashed", extra={"job": "readiness"})
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert (first["level"], first["logger"], first["msg"], first["group"], first["n"]) == (
        "info", "failover.test", "hello", "web", 3)
    when = datetime.fromisoformat(first["ts"])
    assert when.tzinfo is not None and abs(when.timestamp() - __import__("time").time()) < 60
    assert second["level"] == "error" and second["job"] == "readiness"
    assert second["error"] == "KeyError: 'gone'"
    assert second["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise KeyError("gone")' in second["traceback"]


def test_readable_lines_keep_the_traceback_too() -> None:
    buf = _capture(json_lines=False)
    try:
        raise ValueError("bad")
    except ValueError:
        logging.getLogger("failover.test").exception("job crashed")
    text = buf.getvalue()
    assert "ERROR   failover.test: job crashed" in text and "ValueError: bad" in text and "Traceback" in text


@pytest.mark.parametrize(("env", "is_json"), [({"FAILOVER_LOG_FORMAT": "json"}, True),
                                              ({"FAILOVER_LOG_FORMAT": "text"}, False)])
def test_level_and_format_from_the_environment(env: dict[str, str], is_json: bool) -> None:
    code = ("import logging, sys; from failover import cli, logs; "
            "logs.setup(logs.env_level()); "
            "logging.getLogger('failover.t').info('quiet'); logging.getLogger('failover.t').warning('loud')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env={**os.environ, "FAILOVER_LOG_LEVEL": "warning", **env})
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "loud" in lines[0]
    if is_json:
        assert json.loads(lines[0])["level"] == "warning"
    else:
        assert "WARNING" in lines[0] and not lines[0].startswith("{")
