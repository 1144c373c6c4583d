"""The ZooKeeper session of one replica: the KazooClient, its state, and a worker thread.

Kazoo calls state listeners and watch callbacks on its own threads; anything
slow there delays heartbeats and other callbacks. So listeners here only flip
flags and set an event; the roles' `reconcile` functions (re-register,
re-contend, re-publish after a lost session) run on this session's worker
thread, level-triggered: each pass compares what should be with what is, so a
missed wake-up costs at most one tick.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry
from kazoo.security import ACL, OPEN_ACL_UNSAFE, make_digest_acl

from failover import metrics
from failover.config import ZkAuth, ZookeeperConfig
from failover.coordination.layout import Layout, check_name
from failover.model import NotLeader

log = logging.getLogger(__name__)
T = TypeVar("T")
Reconciler = Callable[[], None]
TICK_S = 1.0


class ZkUnavailable(NotLeader):
    """ZooKeeper cannot be reached now; for the engine this means it may not act."""


class ZkAuthError(ValueError):
    """The configured ZooKeeper credential is missing or malformed (never shows its value)."""


def auth_settings(
    auth: ZkAuth | None, environ: Mapping[str, str]
) -> tuple[list[tuple[str, str]] | None, list[ACL] | None]:
    """kazoo's auth_data and default ACL: only this identity may read or write."""
    if auth is None:
        return None, None
    where = f"zookeeper.auth.credential_env: environment variable {auth.credential_env}"
    value = environ.get(auth.credential_env)
    if not value:
        raise ZkAuthError(f"{where} is not set")
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ZkAuthError(f"{where} must hold user:password")
    return [(auth.scheme, value)], [make_digest_acl(user, password, all=True)]


class _Redact(logging.Filter):
    """kazoo logs its Auth packet at debug level, credential included: blank it out."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self._secret in text:
            record.msg, record.args = text.replace(self._secret, "<redacted>"), ()
        return True


def kazoo_logger(controller_id: str, auth_data: list[tuple[str, str]] | None) -> logging.Logger:
    """The logger handed to kazoo, redacting our credential (one per session)."""
    logger = logging.getLogger(f"kazoo.client.{controller_id}")
    logger.filters.clear()
    for _, credential in auth_data or ():
        logger.addFilter(_Redact(credential))
    return logger


_UNREACHABLE = (
    ConnectionLoss, SessionExpiredError, ConnectionClosedError, OperationTimeoutError,
    KazooTimeoutError,
)


def tls_settings(config: ZookeeperConfig) -> dict[str, Any]:
    """kazoo's TLS arguments for `zookeeper.tls` (none: plain TCP)."""
    if config.tls is None:
        return {}
    return {"use_ssl": True, "verify_certs": True, "ca": config.tls.ca,
            "certfile": config.tls.cert, "keyfile": config.tls.key}


class ZkSession:
    """Owns the KazooClient of one replica (or of a CLI invocation)."""

    def __init__(
        self, config: ZookeeperConfig, controller_id: str,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.controller_id = check_name("controller.id", controller_id)
        self.layout = Layout(config.root)
        self.config = config
        self.op_timeout_s = max(1.0, config.session_timeout_s)
        auth_data, acl = auth_settings(config.auth, os.environ if environ is None else environ)
        self.acl = acl
        self.client = KazooClient(
            hosts=config.hosts, timeout=config.session_timeout_s,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=2, max_delay=1.0,
                                        max_jitter=0.1),
            auth_data=auth_data, default_acl=acl,
            logger=kazoo_logger(self.controller_id, auth_data),
            **tls_settings(config),
        )
        self.client.add_listener(self._on_state)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._reconcilers: list[Reconciler] = []
        self._closers: list[Callable[[], None]] = []
        self._always: list[Reconciler] = []  # also run while disconnected (local state only)
        self._stale_listeners: list[Callable[[int], None]] = []
        self._worker: threading.Thread | None = None

    def __repr__(self) -> str:
        return (f"ZkSession(id={self.controller_id!r}, hosts={self.config.hosts!r}, "
                f"root={self.config.root!r}, auth={'on' if self.acl else 'off'})")

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        try:
            self.client.start(timeout=self.config.connect_timeout_s)
        except KazooTimeoutError:
            raise ZkUnavailable(
                f"ZooKeeper at {self.config.hosts} not reachable within "
                f"{self.config.connect_timeout_s:g}s"
            ) from None
        try:
            self.ensure_root()
        except BaseException:
            self.release_client()  # connected but unusable: leave no kazoo threads behind
            raise

    def release_client(self) -> None:
        """Stops kazoo's connection and worker threads (a start that failed half way)."""
        try:
            self.client.stop()
        except Exception:
            log.debug("kazoo stop failed", exc_info=True)
        finally:
            self.client.close()

    def run_worker(self) -> None:
        """Starts the reconcile thread (replicas; the CLI only reads and writes)."""
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._work, name=f"zk-worker-{self.controller_id}", daemon=True
            )
            self._worker.start()

    def close(self) -> None:
        """Releases everything at once: leadership first, then the session (ephemerals go)."""
        self._stopping.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=self.op_timeout_s + 1)
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.warning("release on close failed", exc_info=True)
        try:
            self.client.stop()
        finally:
            self.client.close()
            metrics.set_zk_connected(False)

    # -------------------------------------------------------- state and worker

    def _on_state(self, state: str) -> None:
        # Runs on kazoo's connection thread: flags only, never I/O or locks held long.
        metrics.set_zk_connected(state == KazooState.CONNECTED)
        self._wake.set()

    @property
    def connected(self) -> bool:
        return bool(self.client.state == KazooState.CONNECTED)

    @property
    def state(self) -> str:
        return str(self.client.state).lower()

    @property
    def session_id(self) -> int | None:
        """The live session's id; None while suspended or lost."""
        cid = self.client.client_id
        return None if cid is None else int(cid[0])

    def add_reconciler(self, fn: Reconciler, closer: Callable[[], None] | None = None) -> None:
        self._reconcilers.append(fn)
        if closer is not None:
            self._closers.append(closer)
        self._wake.set()

    def add_local_hook(self, fn: Reconciler) -> None:
        """Runs on the worker after every pass, connected or not; must not do I/O."""
        self._always.append(fn)

    def add_stale_listener(self, fn: Callable[[int], None]) -> None:
        """`fn(epoch)` runs on the writer's thread when a fenced write finds `epoch` stale."""
        self._stale_listeners.append(fn)

    def stale_epoch(self, epoch: int) -> None:
        for fn in list(self._stale_listeners):
            fn(epoch)

    def wake(self, *_: Any) -> None:
        """Safe from any thread, including kazoo's watch callbacks."""
        self._wake.set()

    def _work(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            if self._stopping.is_set():
                break
            if self.connected:
                self._reconcile_all()
            for hook in list(self._always):
                try:
                    hook()
                except Exception:
                    log.exception("local hook failed")

    def _reconcile_all(self) -> None:
        for fn in list(self._reconcilers):
            if self._stopping.is_set():
                break
            try:
                fn()
            except (NotLeader, *_UNREACHABLE) as e:
                log.debug("reconcile deferred: %s", e.__class__.__name__)
            except Exception:
                log.exception("reconcile failed; retrying on the next tick")

    # ------------------------------------------------------------------ calls

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs a kazoo `*_async` call with a bound: never waits out a suspended session.

        Kazoo queues requests while it reconnects; a caller here gets
        `ZkUnavailable` instead of hanging until ZooKeeper returns.
        """
        if not self.connected:
            raise ZkUnavailable(f"ZooKeeper session is {self.state}")
        try:
            return fn(*args, **kwargs).get(timeout=self.op_timeout_s)
        except _UNREACHABLE as e:
            raise ZkUnavailable(f"ZooKeeper unavailable ({e.__class__.__name__})") from None

    def commit(self, tx: Any) -> list[Any]:
        results: list[Any] = self.call(tx.commit_async)
        return results

    def ensure_path(self, path: str) -> None:
        self.call(self.client.ensure_path_async, path)

    def ensure_root(self) -> None:
        """Ancestors above the root are shared path components (open ACL); the root gets ours."""
        parts = [p for p in self.layout.root.split("/") if p]
        for i in range(1, len(parts) + 1):
            path = "/" + "/".join(parts[:i])
            acl = self.acl if i == len(parts) else OPEN_ACL_UNSAFE
            with contextlib.suppress(NodeExistsError):
                self.call(self.client.create_async, path, b"", acl=acl)

    def get_or_none(self, path: str, watch: Callable[..., Any] | None = None) -> tuple[bytes, Any] | None:
        try:
            result: tuple[bytes, Any] = self.call(self.client.get_async, path, watch=watch)
        except NoNodeError:
            return None
        return result

    def children(self, path: str) -> list[str]:
        try:
            names: list[str] = self.call(self.client.get_children_async, path)
        except NoNodeError as e:
            # kazoo's AsyncResult keeps the exception, whose traceback holds the frame that
            # raised it, which holds the AsyncResult: a cycle only a full collection frees. The
            # leader lists absent `pauses`/`requests` every tick (issue 23c: the replica's
            # only steady cyclic garbage, and what made its full collections frequent).
            e.__traceback__ = None
            return []
        return names

    def delete_tree(self, path: str) -> int:
        """Deletes `path` and everything below it; returns how many znodes went."""
        count = 0
        for name in self.children(path):
            count += self.delete_tree(f"{path}/{name}")
        try:
            self.call(self.client.delete_async, path)
        except NoNodeError:
            return count
        return count + 1

    def many(self, fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        """Pipelines one async call per args tuple; each item is a value or the exception raised.

        Thousands of reads take one round trip's latency plus transfer, not N round trips.
        """
        if not self.connected:
            raise ZkUnavailable(f"ZooKeeper session is {self.state}")
        out: list[Any] = []
        for res in [fn(*a) for a in args]:
            try:
                out.append(res.get(timeout=self.op_timeout_s))
            except _UNREACHABLE as e:
                raise ZkUnavailable(f"ZooKeeper unavailable ({e.__class__.__name__})") from None
            except Exception as e:
                out.append(e)
        return out
