"""Golden files: what `failover guest render` prints, per family. UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from failover.guest import FAMILIES, render_bundle
from failover.model import GuestNetwork

GOLDEN = Path(__file__).parent / "golden"
CASES = [(f, False) for f in FAMILIES] + [("auto", True), ("windows", True)]


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 and review the diff"
    assert text == path.read_text(), f"{name} changed: review, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize(("family", "release"), CASES)
def test_render_matches_golden(net: GuestNetwork, family: str, release: bool) -> None:
    # auto finds the device by MAC: its golden shows that path
    n = replace(net, device=None) if family == "auto" else net
    text = render_bundle(family, n, release=release).to_text()
    _check(f"{family}{'-release' if release else ''}.txt", text)


def test_every_golden_file_has_a_case() -> None:
    names = {f"{f}{'-release' if r else ''}.txt" for f, r in CASES}
    assert {p.name for p in GOLDEN.glob("*.txt")} == names
