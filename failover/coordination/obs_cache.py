"""The leader's mirror of every observation znode (kazoo's TreeCache), read without I/O.

Polling 1,000 groups x 2 members x 3 replicas costs ~9,000 reads per round
(seconds of CPU in kazoo); the cache pays that once, then one read per changed
verdict through watches. It refreshes itself after a reconnect. Until it has
loaded, `read` falls back to direct, pipelined reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from kazoo.recipe.cache import TreeCache, TreeEvent

from failover.coordination.session import ZkSession

log = logging.getLogger(__name__)
Entry = tuple[str, str, str, bytes | None]  # group, instance, controller, raw


class ObservationCache:
    def __init__(self, coord: ZkSession) -> None:
        self._coord = coord
        self._lock = threading.Lock()
        self._tree: Any = None
        self._ready = threading.Event()
        self._version = 0  # +1 for every event of the tree: what `entries` returns may differ

    @property
    def version(self) -> int | None:
        """Changes whenever the mirror may have; None while `entries` reads ZooKeeper directly.
        Read it before `entries`: an event between the two only makes the caller read again."""
        return self._version if self._ready.is_set() else None

    def entries(self, live: set[str]) -> list[Entry]:
        self._start()
        if self._ready.wait(self._coord.op_timeout_s):
            for _ in range(3):
                try:
                    return list(self._walk(live))
                except RuntimeError:  # the tree changed while we iterated: read again
                    continue
        return self._direct(live)

    def close(self) -> None:
        with self._lock:
            tree, self._tree = self._tree, None
        if tree is not None:
            tree.close()

    def _start(self) -> None:
        with self._lock:
            if self._tree is not None:
                return
            self._coord.ensure_path(self._coord.layout.observations)
            self._tree = TreeCache(self._coord.client, self._coord.layout.observations)
            self._tree.listen(self._on_event)
            self._tree.listen_fault(lambda e: log.warning("observation cache: %r", e))
            self._tree.start()

    def _on_event(self, event: Any) -> None:
        # The cache's own thread: flags only.
        with self._lock:
            self._version += 1
        if event.event_type == TreeEvent.INITIALIZED:
            self._ready.set()

    def _walk(self, live: set[str]) -> Iterator[Entry]:
        tree, root = self._tree, self._coord.layout.observations
        for g in tree.get_children(root, default=frozenset()):
            for i in tree.get_children(f"{root}/{g}", default=frozenset()):
                for c in tree.get_children(f"{root}/{g}/{i}", default=frozenset()):
                    if c in live:
                        node = tree.get_data(f"{root}/{g}/{i}/{c}")
                        if node is not None:
                            yield g, i, c, node.data

    def _direct(self, live: set[str]) -> list[Entry]:
        coord = self._coord
        client, root = coord.client, coord.layout.observations
        groups = coord.children(root)
        inst = coord.many(client.get_children_async, [(f"{root}/{g}",) for g in groups])
        pairs = [(g, i) for g, names in zip(groups, inst, strict=True)
                 if isinstance(names, list) for i in names]
        ctls = coord.many(client.get_children_async, [(f"{root}/{g}/{i}",) for g, i in pairs])
        triples = [(g, i, c) for (g, i), names in zip(pairs, ctls, strict=True)
                   if isinstance(names, list) for c in names if c in live]
        datas = coord.many(client.get_async, [(f"{root}/{g}/{i}/{c}",) for g, i, c in triples])
        return [(g, i, c, got[0]) for (g, i, c), got in zip(triples, datas, strict=True)
                if not isinstance(got, Exception)]
