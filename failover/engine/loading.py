"""A group's state as the leader loads it: the journal's, its holder learned from the cloud
when the journal never knew one; a group whose state cannot be read is left out of every
decision (a guessed holder could move a healthy service), and retried, never stopping the
others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from failover.config import GroupConfig
from failover.engine.errors import describe_error
from failover.engine.execute import Collaborators
from failover.model import CloudError, EniState, EniStatus, JournalCorrupt, Priority
from failover.records import GroupState

log = logging.getLogger("failover.engine")

RETRY_S = 2.0  # a group left out is read again this long after


class GroupLoader:
    def __init__(self, deps: Callable[[], Collaborators]) -> None:
        self._deps = deps  # the current ports (a reload replaces them)
        self.left_out: dict[str, str] = {}  # groups left out of decisions, and why
        self._retry_at: dict[str, float] = {}

    def due(self, name: str) -> bool:
        """A group left out that may be read again now."""
        return self._deps().clock.monotonic() >= self._retry_at.get(name, 0.0)

    def read_enis(self, groups: Sequence[GroupConfig]) -> Mapping[str, EniState]:
        """Every group's ENI in one batched read (pages of 100, not a round per group: a new
        leader of 1,000 groups took minutes to take office); {} if the cloud does not answer
        (each group then reads its own)."""
        try:
            return self._deps().cloud.describe_enis([g.network_interface for g in groups],
                                                    priority=Priority.FAILOVER)
        except CloudError as e:
            log.warning("could not read the groups' ENIs at once", extra={"error": describe_error(e)})
            return {}

    def load(self, group: GroupConfig, enis: Mapping[str, EniState] | None = None) -> GroupState | None:
        """The group's state, its holder filled in from the cloud; None while it cannot be known."""
        deps = self._deps()
        try:
            state = deps.journal.group_state(group.name)
            if state.holder is None:
                eni = (enis or {}).get(group.network_interface) or deps.cloud.describe_eni(
                    group.network_interface, priority=Priority.FAILOVER)
                if eni.instance_id and eni.status in (EniStatus.IN_USE, EniStatus.ATTACHING):
                    # A group the journal never knew: its holder is taken as found, serving.
                    state = replace(state, holder=eni.instance_id, configured=eni.instance_id)
                    deps.journal.set_group_state(state, deps.leadership.fence())
        except (JournalCorrupt, CloudError) as e:
            reason = describe_error(e)
            if self.left_out.get(group.name) != reason:
                log.error("group left out of decisions until its state can be read",
                          extra={"group": group.name, "error": reason})
            self.left_out[group.name] = reason
            self._retry_at[group.name] = deps.clock.monotonic() + RETRY_S
            return None
        if self.left_out.pop(group.name, None) is not None:
            log.info("group state readable again", extra={"group": group.name})
        return state
