"""Hypothesis strategies: valid configuration documents, and ways to break them.

A valid document is built field by field inside the documented ranges, so the
loader must accept every one; a broken one replaces, deletes or adds one key
somewhere in a valid document, so most of it still parses and the error has
to come from deep inside.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
INSTANCES = st.from_regex(r"i-[a-z0-9]{3,8}", fullmatch=True)

junk: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

checks = st.one_of(
    st.builds(lambda p: {"type": "tcp", "port": p}, st.integers(1, 65535)),
    st.builds(lambda p: {"type": "http", "url": f"http://{{ip}}:{p}/healthz"}, st.integers(1, 65535)),
    st.just({"type": "ecs_status"}),
    st.just({"type": "command", "run": ["test", "-e", "/run/{instance}"]}),
)


@st.composite
def health(draw: st.DrawFn) -> dict[str, Any]:
    interval = draw(st.floats(0.5, 5.0))
    timeout = draw(st.floats(0.05, 0.9)) * interval
    return {"interval_s": interval, "timeout_s": timeout, "fall": draw(st.integers(1, 5)),
            "rise": draw(st.integers(1, 5))}


@st.composite
def valid_config(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 3))
    names = draw(st.lists(NAMES, min_size=n, max_size=n, unique=True))
    groups = []
    for k, name in enumerate(names):
        members = draw(st.lists(INSTANCES, min_size=2, max_size=3, unique=True))
        group: dict[str, Any] = {
            "name": name, "network_interface": f"eni-{k:04d}", "members": members,
            "service_ips": [f"192.168.{k}.{draw(st.integers(10, 250))}"],
            "checks": draw(st.lists(checks, min_size=1, max_size=3)),
        }
        if draw(st.booleans()):
            group["health"] = draw(health())
        if draw(st.booleans()):
            group["policy"] = {"cooldown_s": draw(st.floats(0, 3600)),
                               "fence": draw(st.sampled_from(["never", "on_detach_timeout", "always"])),
                               "flap_max_failovers": draw(st.integers(1, 10))}
        groups.append(group)
    doc: dict[str, Any] = {
        "cloud": {"region": draw(st.sampled_from(["cn-hangzhou", "cn-beijing"])),
                  "endpoint": "127.0.0.1:8800", "protocol": "http"},
        "zookeeper": {"hosts": "127.0.0.1:2181", "root": "/" + draw(NAMES),
                      "session_timeout_s": 30},
        "groups": groups,
    }
    if draw(st.booleans()):
        doc["controller"] = {"listen": f"127.0.0.1:{draw(st.integers(1, 65535))}",
                             "max_parallel_failovers": draw(st.integers(1, 256))}
    return doc


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def broken_config(draw: st.DrawFn) -> Any:
    """A valid document with one thing changed: a value replaced, a key deleted or a key added."""
    # A deep copy: st.just() hands out the same dict every time, and editing it in
    # place would leak into later examples (Hypothesis calls that a flaky strategy).
    doc = copy.deepcopy(draw(valid_config()))
    paths = _paths(doc)
    path = draw(st.sampled_from(paths))
    parent: Any = doc
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if how == "replace":
        parent[path[-1]] = draw(junk)
    elif how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = draw(junk)
    else:
        parent.append(draw(junk))
    return doc

