"""The lab's fixtures: a lab per test, always torn down, and nothing of it may be left behind.

The lab needs root (network namespaces). CI runs as root; elsewhere these tests fail with the
reason rather than skip, so a lab that cannot run is never mistaken for a lab that works.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from failover.lab import topology
from failover.lab.runtime import Lab
from harness.root import require_root


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A lab that is not up yet; the test brings up what it needs. Removed however it ends."""
    require_root()
    lab = Lab()
    try:
        yield lab
    finally:
        lab.down()
    assert topology.leftovers(lab.prefix) == []
