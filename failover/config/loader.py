"""Loading: YAML in, defaults merged into groups, every problem named by its key path."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from failover.config.models import CHECK_TYPES, Config, ConfigError
from failover.config.rules import semantic_problems

_BRANCH_LABELS = frozenset({"int", "str", "float", "bool", "dict", "list", "none"})


_BRANCH = re.compile(r"^[a-z][a-z-]*\[.*\]$")  # `literal['all']`, `function-after[...]`


def _path(loc: Iterable[int | str], *, last_is_key: bool = False) -> str:
    out = ""
    items = list(loc)
    for i, part in enumerate(items):
        key = last_is_key and i == len(items) - 1
        if isinstance(part, int):
            out += f"[{part}]"
        elif not key and part in CHECK_TYPES and i > 0 and isinstance(items[i - 1], int):
            continue  # pydantic's discriminator tag: not a key the operator wrote
        elif not key and (_BRANCH.match(part) or part in _BRANCH_LABELS):
            continue  # pydantic's labels for union branches
        else:
            # A key with a line break or a control character must not split the line.
            out += ("." if out else "") + (part if part.isprintable() else repr(part))
    return out or "(top level)"


_FRIENDLY = {
    "missing": "missing (required)",
    "extra_forbidden": "unknown key",
    "union_tag_invalid": "unknown check type; use one of " + ", ".join(CHECK_TYPES),
    "union_tag_not_found": "needs a 'type' (one of " + ", ".join(CHECK_TYPES) + ")",
}


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems: dict[str, str] = {}
    for e in err.errors():
        path = _path(e["loc"], last_is_key=e["type"] == "extra_forbidden")
        if e["type"] in _FRIENDLY:
            msg = _FRIENDLY[e["type"]]
        elif e["type"] == "too_short" and path.endswith("members"):
            msg = "needs at least 2 instances"
        elif e["type"] == "too_short" and path.endswith("checks"):
            msg = "needs at least one check"
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
        # A union reports each branch; the first message per path is enough.
        problems.setdefault(path, msg)
    return [f"{p}: {m}" for p, m in problems.items()]


def _merge_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Groups inherit `defaults` and override them field by field."""
    defaults = raw.get("defaults") or {}
    groups = raw.get("groups")
    if not isinstance(defaults, dict) or not isinstance(groups, list):
        return raw
    merged = []
    for group in groups:
        if isinstance(group, dict):
            group = {**group}  # noqa: PLW2901 - a merged copy replaces the raw one
            for section in ("health", "policy", "guest"):
                base = defaults.get(section)
                own = group.get(section)
                if isinstance(base, dict) and (own is None or isinstance(own, dict)):
                    group[section] = {**base, **(own or {})}
        merged.append(group)
    return {**raw, "groups": merged}


def parse(raw: Any, source: str = "config") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level): {source} must be a mapping of sections"])
    # Replicas share one file (a ConfigMap); each takes its id from its environment.
    env_id = os.environ.get("FAILOVER_CONTROLLER_ID")
    if env_id and isinstance(raw.get("controller", {}), dict):
        raw = {**raw, "controller": {**(raw.get("controller") or {}), "id": env_id}}
    try:
        cfg = Config.model_validate(_merge_defaults(raw))
    except ValidationError as err:
        raise ConfigError(_pydantic_problems(err)) from None
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


# Where the CLI looks without --config, in this order ($FAILOVER_CONFIG first, when set).
SYSTEM_PATH = Path("/etc/failover/config.yaml")
LOCAL_PATH = Path("config/local.yaml")


def search_paths() -> list[Path]:
    env = os.environ.get("FAILOVER_CONFIG")
    return [*([Path(env)] if env else []), SYSTEM_PATH, LOCAL_PATH]


def default_path() -> Path:
    """$FAILOVER_CONFIG when set (even if missing: the operator asked for it), else the first of
    /etc/failover/config.yaml and ./config/local.yaml that exists, else the last."""
    env = os.environ.get("FAILOVER_CONFIG")
    if env:
        return Path(env)
    return next((p for p in (SYSTEM_PATH, LOCAL_PATH) if p.is_file()), LOCAL_PATH)


def not_found_message() -> str:
    """The error when no --config was given and the search found nothing: names every place."""
    return ("no configuration file: give --config FILE, or put one at $FAILOVER_CONFIG"
            f" ({os.environ.get('FAILOVER_CONFIG') or 'unset'}), {SYSTEM_PATH} or ./{LOCAL_PATH}")


def load(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"--config: file not found: {p}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"--config: cannot read {p}: {e.__class__.__name__}"]) from None
    except ValueError:  # found by fuzzing: a path with a NUL byte never reaches the OS
        raise ConfigError([f"--config: not a usable file name: {str(path)!r}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ConfigError([f"{p}{where}: YAML syntax error: {problem}"]) from None
    return parse(raw, str(p))
