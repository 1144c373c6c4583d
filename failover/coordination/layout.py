"""Where every znode lives below the configured root, and which names are legal (pure).

Layout (root = zookeeper.root):
  leader                           ephemeral, JSON {id, epoch, at}: the elected controller
  epoch                            persistent; its *version* is the fencing epoch
  controllers/<id>                 ephemeral, JSON {id, started_at}: live replicas
  observations/<group>/<instance>/<controller>   ephemeral, JSON {up, at, reason}
  journal/<group>/<failover-id>    JSON FailoverRecord.to_dict()
  journal-ids/<failover-id>        the record's group (find a record by id)
  journal-running/<failover-id>    the record's group while it is unfinished
  groups/<group>                   JSON GroupState.to_dict()
  requests/<id>                    JSON DrillRequest.to_dict(); children `claim`, `result`
  pauses/<group>                   JSON {at, by} while `failover pause` holds the group
"""

from __future__ import annotations

from dataclasses import dataclass

_MAX_NAME = 200


def check_name(what: str, value: str) -> str:
    """A value used as one znode name: raises ValueError naming `what` when unusable."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what}: must be a non-empty string")
    if len(value) > _MAX_NAME:
        raise ValueError(f"{what}: longer than {_MAX_NAME} characters")
    if value in (".", "..", "zookeeper") or "/" in value:
        raise ValueError(f"{what}: {value!r} cannot be a znode name (no '/', '.', '..')")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xF8FF for c in value):
        raise ValueError(f"{what}: {value!r} contains characters ZooKeeper refuses")
    return value


@dataclass(frozen=True)
class Layout:
    root: str

    def __post_init__(self) -> None:
        if not self.root.startswith("/") or (len(self.root) > 1 and self.root.endswith("/")):
            raise ValueError(f"zookeeper.root: must be an absolute znode path, got {self.root!r}")

    def _p(self, *parts: str) -> str:
        base = "" if self.root == "/" else self.root
        return "/".join((base, *parts))

    @property
    def leader(self) -> str:
        return self._p("leader")

    @property
    def epoch(self) -> str:
        return self._p("epoch")

    @property
    def controllers(self) -> str:
        return self._p("controllers")

    def controller(self, cid: str) -> str:
        return self._p("controllers", check_name("controller id", cid))

    @property
    def observations(self) -> str:
        return self._p("observations")

    def observation(self, group: str, instance: str, cid: str) -> str:
        return self._p(
            "observations", check_name("group", group), check_name("instance", instance),
            check_name("controller id", cid),
        )

    @property
    def rounds(self) -> str:
        return self._p("rounds")

    def round_times(self, cid: str) -> str:
        return self._p("rounds", check_name("controller id", cid))

    @property
    def journal(self) -> str:
        return self._p("journal")

    def journal_group(self, group: str) -> str:
        return self._p("journal", check_name("group", group))

    def record(self, group: str, failover_id: str) -> str:
        return self._p("journal", check_name("group", group), check_name("failover id", failover_id))

    @property
    def journal_ids(self) -> str:
        return self._p("journal-ids")

    def journal_id(self, failover_id: str) -> str:
        return self._p("journal-ids", check_name("failover id", failover_id))

    @property
    def running(self) -> str:
        return self._p("journal-running")

    def running_entry(self, failover_id: str) -> str:
        return self._p("journal-running", check_name("failover id", failover_id))

    @property
    def groups(self) -> str:
        return self._p("groups")

    def group(self, group: str) -> str:
        return self._p("groups", check_name("group", group))

    @property
    def requests(self) -> str:
        return self._p("requests")

    def request(self, request_id: str) -> str:
        return self._p("requests", check_name("request id", request_id))

    def claim(self, request_id: str) -> str:
        return self.request(request_id) + "/claim"

    def result(self, request_id: str) -> str:
        return self.request(request_id) + "/result"

    @property
    def pauses(self) -> str:
        return self._p("pauses")

    def pause(self, group: str) -> str:
        return self._p("pauses", check_name("group", group))
