"""`failover validate` under fuzzed configuration files: exit 0 or 2 with error lines, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from failover.cli import main
from tests.unit.fuzz.strategies import broken_config, valid_config

# `make test` runs 50 examples each; benchmarks/bench_reliability.py raises it with FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate(content: bytes) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(content)
        env = {"FAILOVER_CONTROLLER_ID": ""}
        return CliRunner().invoke(main, ["validate", "--config", str(path)], env=env)


def assert_clean(result: Result) -> None:
    text = result.output + (result.stderr or "")
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, text)
    if result.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        errors = [line for line in lines if line.startswith("error: ")]
        assert errors and all(line.startswith(("error: ", "warning: ")) for line in lines), lines
        assert all(len(line) < 2000 for line in lines), "an error line swallowed a whole document"


def dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True).encode()


@FUZZ
@given(valid_config())
def test_every_valid_config_is_accepted(doc: dict[str, Any]) -> None:
    result = validate(dump(doc))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"ok: {len(doc['groups'])} groups")


@FUZZ
@given(broken_config())
# Found by this test: a key holding a line break splits its error into two lines.
@example({"cloud": {"region": "cn-hangzhou"}, "\r": None})
def test_a_broken_config_is_refused_with_error_lines(doc: Any) -> None:
    assert_clean(validate(dump(doc)))


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_arbitrary_bytes_never_crash_the_loader(content: bytes) -> None:
    assert_clean(validate(content))


@FUZZ
@given(st.recursive(st.none() | st.integers() | st.text(max_size=10) | st.booleans(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["cloud", "groups", "zookeeper", "controller",
                                                       "defaults", "region", "name", "members"]),
                                      inner, max_size=4), max_leaves=10))
def test_arbitrary_yaml_structures_are_refused_cleanly(doc: Any) -> None:
    assert_clean(validate(dump(doc)))


def test_a_real_process_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("cloud: {region: ''}\ngroups:\n  - {name: web, members: [i-a]}\n")
    env = {k: v for k, v in os.environ.items() if k != "FAILOVER_CONTROLLER_ID"}
    out = subprocess.run([sys.executable, "-m", "failover", "validate", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60, env=env, check=False)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), lines
    assert any("groups[0].members" in line for line in lines), lines
    assert any("cloud.region" in line for line in lines), lines
