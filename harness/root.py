"""What a test that builds network namespaces asks first."""

from __future__ import annotations

import os

import pytest


def require_root() -> None:
    """Fails (never skips) without root, so a lab that cannot run is never mistaken for one
    that works."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces): run them as root, as CI does")
