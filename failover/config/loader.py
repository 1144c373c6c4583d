"""Loading: YAML in, defaults merged into groups, every problem named by its key path."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from failover.config.models import CHECK_TYPES, Config, ConfigError, Defaults
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
        elif not key and (_BRANCH.match(part) or part in _BRANCH_LABELS or "-" in part):
            continue  # pydantic's labels for union branches (`constrained-int`); keys have no "-"
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


def _problem(e: Any) -> tuple[str, str]:
    path = _path(e["loc"], last_is_key=e["type"] == "extra_forbidden")
    if e["type"] in _FRIENDLY:
        msg = _FRIENDLY[e["type"]]
    elif e["type"] == "too_short" and path.endswith("members"):
        msg = "needs at least 2 instances"
    elif e["type"] == "too_short" and path.endswith("checks"):
        msg = "needs at least one check"
    elif path.endswith("health.quorum"):  # a union: each branch's message alone misleads
        msg = "must be majority, all, or a number of replicas (1 or more)"
    else:
        msg = str(e["msg"]).removeprefix("Value error, ")
    return path, msg


def _pydantic_problems(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[str]:
    problems: dict[str, str] = {}
    for e in err.errors():
        path, msg = _problem({**e, "loc": (*prefix, *e["loc"])})
        # A union reports each branch; the first message per path is enough.
        problems.setdefault(path, msg)
    return [f"{p}: {m}" for p, m in problems.items()]


def _drop(doc: Any, loc: tuple[Any, ...]) -> None:
    """Removes the value at `loc` (in place), as far as the path exists."""
    for part in loc[:-1]:
        found = (isinstance(doc, dict) and part in doc) or (
            isinstance(doc, list) and isinstance(part, int) and part < len(doc))
        if not found:
            return
        doc = doc[part]
    if isinstance(doc, dict) and loc and loc[-1] in doc:
        del doc[loc[-1]]


def _clean_defaults(defaults: Any) -> tuple[Any, list[str]]:
    """`defaults` checked on its own, so its errors are named once at `defaults.*` (not once
    per group that inherits them); the bad keys are dropped before groups inherit the rest."""
    if not isinstance(defaults, dict):
        return defaults, []
    try:
        Defaults.model_validate(defaults)
    except ValidationError as err:
        cleaned = copy.deepcopy(defaults)
        for e in err.errors():
            _drop(cleaned, tuple(e["loc"])[:2])
        return cleaned, _pydantic_problems(err, ("defaults",))
    return defaults, []


# Stand-ins for required values that were missing or wrong, so the semantic rules still run
# over everything else in the same pass; their own problem is already reported, and semantic
# problems about those values are not (`_judges_a_standin`).
_PLACEHOLDER: dict[tuple[Any, ...], Any] = {("cloud",): {"region": "-"}, ("cloud", "region"): "-"}
_GROUP_STANDIN: dict[str, Any] = {
    "name": lambda i: f"invalid-group-{i}",
    "network_interface": lambda i: f"eni-invalid-{i}",
    "members": lambda i: [f"i-invalid-{i}a", f"i-invalid-{i}b"],
    "checks": lambda i: [{"type": "ecs_status"}],
}


def _patch_group(group: Any, rest: tuple[Any, ...], index: int) -> bool:
    """Makes one group's bad value harmless; False when the group itself is unusable."""
    if not isinstance(group, dict) or not rest:
        return False
    key = rest[0]
    checks = group.get("checks")
    if key == "checks" and len(rest) > 1 and isinstance(rest[1], int) and isinstance(checks, list) \
            and rest[1] < len(checks):
        checks[rest[1]] = {"type": "ecs_status"}  # keeps the other checks' indices
    elif key in _GROUP_STANDIN:
        group[key] = _GROUP_STANDIN[key](index)
    else:
        _drop(group, rest)
    return True


def _partial(doc: dict[str, Any]) -> tuple[Config | None, list[int]]:
    """The valid part of a config that failed validation: bad values dropped or stood in for,
    unusable groups left out. Returns it with each kept group's index in the file."""
    doc = copy.deepcopy(doc)
    raw_groups = doc.get("groups")
    groups: list[Any] = raw_groups if isinstance(raw_groups, list) else []
    kept = list(range(len(groups)))
    for _ in range(5):
        try:
            return Config.model_validate({**doc, "groups": [groups[i] for i in kept]}), kept
        except ValidationError as err:
            bad: set[int] = set()
            for e in err.errors():
                loc = tuple(e["loc"])
                if loc[:1] == ("groups",) and len(loc) > 1 and isinstance(loc[1], int):
                    gi = kept[loc[1]]
                    if not _patch_group(groups[gi], loc[2:], gi):
                        bad.add(gi)
                elif loc[:1] == ("groups",):
                    bad.update(kept)
                elif loc in _PLACEHOLDER:
                    if len(loc) == 1:
                        doc[str(loc[0])] = copy.deepcopy(_PLACEHOLDER[loc])
                    elif isinstance(doc.get(str(loc[0])), dict):
                        doc[str(loc[0])][str(loc[1])] = _PLACEHOLDER[loc]
                    else:
                        doc[str(loc[0])] = {str(loc[1]): _PLACEHOLDER[loc]}
                else:
                    _drop(doc, loc)
            kept = [i for i in kept if i not in bad]
    return None, []


def _judges_a_standin(problem: str, broken: list[str]) -> bool:
    """A semantic finding about a value already reported wrong (it would judge the stand-in):
    at or below a broken path, or in the same section naming the broken key."""
    path = problem.split(": ", 1)[0]
    for bad in broken:
        section, _, key = bad.rpartition(".")
        if path.startswith(bad) or bad.startswith(path) or (
                section and path.startswith(section + ".") and key in problem):
            return True
    return False


_GROUP_PATH = re.compile(r"groups\[(\d+)\]")
_INHERITED = re.compile(r"^groups\[(\d+)\]\.(health|policy|guest)\.")


def _in_file_terms(problem: str, kept: list[int], raw_groups: list[Any]) -> str:
    """A semantic problem of the partial config, in the file's terms: its group indices, and
    `defaults.<section>` when the group wrote nothing of that section (it inherited it all)."""
    problem = _GROUP_PATH.sub(lambda m: f"groups[{kept[int(m.group(1))]}]", problem)
    m = _INHERITED.match(problem)
    if m:
        own = raw_groups[int(m.group(1))] if int(m.group(1)) < len(raw_groups) else None
        section = own.get(m.group(2)) if isinstance(own, dict) else None
        if not section:
            return f"defaults.{m.group(2)}." + problem[m.end():]
    return problem


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
    """Every problem in one pass, structural and semantic, each once at the path written."""
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level): {source} must be a mapping of sections"])
    # Replicas share one file (a ConfigMap); each takes its id from its environment.
    env_id = os.environ.get("FAILOVER_CONTROLLER_ID")
    if env_id and isinstance(raw.get("controller", {}), dict):
        raw = {**raw, "controller": {**(raw.get("controller") or {}), "id": env_id}}
    problems: list[str] = []
    if "groups" not in raw:
        problems.append("groups: missing (required); a file with nothing to fail over is a mistake")
    doc = raw
    if "defaults" in raw:
        cleaned, problems_d = _clean_defaults(raw["defaults"])
        problems += problems_d
        doc = {**raw, "defaults": cleaned}
    merged = _merge_defaults(doc)
    raw_groups = raw["groups"] if isinstance(raw.get("groups"), list) else []
    try:
        cfg: Config | None = Config.model_validate(merged)
        kept = list(range(len(raw_groups)))
    except ValidationError as err:
        problems += _pydantic_problems(err)
        cfg, kept = _partial(merged)
    if cfg is not None:
        # A semantic finding where a value was already wrong would judge a stand-in: skip it.
        broken = [p.split(": ", 1)[0] for p in problems]
        problems += [p for p in (_in_file_terms(p, kept, raw_groups) for p in semantic_problems(cfg))
                     if not _judges_a_standin(p, broken)]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    assert cfg is not None
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
