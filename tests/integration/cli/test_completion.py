"""Shell completion (click's own, `_FAILOVER_COMPLETE`): commands, options, and GROUP names
read from the configuration on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FAILOVER = str(Path(sys.executable).parent / "failover")  # the console script: its name is the prog name


def _complete(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    out = subprocess.run([FAILOVER], capture_output=True, text=True, timeout=240, check=True,
                         env={**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword),
                              "_FAILOVER_COMPLETE": "bash_complete"}, cwd="/")
    return [line.split(",", 1)[1] for line in out.stdout.splitlines() if line]


def test_the_bash_script_and_command_names() -> None:
    script = subprocess.run([FAILOVER], capture_output=True, text=True, timeout=240,
                            check=True, env={**os.environ, "_FAILOVER_COMPLETE": "bash_source"}).stdout
    assert "complete -o nosort -F _failover_completion failover" in script
    assert _complete("failover status -o ") == ["table", "wide", "json", "yaml"]


def test_group_names_come_from_the_config() -> None:
    example = ROOT / "config" / "example.yaml"
    assert _complete(f"failover --config {example} drill d") == ["db-proxy"]
    assert _complete("failover --config /nonexistent.yaml ack ") == []
