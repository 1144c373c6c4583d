"""A tick's actions narrowed to the kinds a test expects, so the fields it reads are typed.

Each helper fails the test (with the actions in the message) when an action is of another kind:
the same outcome as reading a field the action does not have, said more plainly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from failover.engine.actions import Abandon, Action, Adopt, Drill, Failover, Resume

# The kinds that name the instance the ENI goes to (and the one it comes from).
Targeted = Failover | Drill | Adopt | Resume | Abandon

A = TypeVar("A", bound=Action)


def targeted(actions: Sequence[Action]) -> list[Targeted]:
    out = [a for a in actions if isinstance(a, Targeted)]
    assert len(out) == len(actions), f"an action without a target among {actions}"
    return out


def of_kind(kind: type[A], actions: Sequence[Action]) -> list[A]:
    out: list[A] = [a for a in actions if isinstance(a, kind)]
    assert len(out) == len(actions), f"an action other than {kind.__name__} among {actions}"
    return out
