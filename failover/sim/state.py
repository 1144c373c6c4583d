"""The emulator's live state: one lock, a clock, plans of future transitions, the event log.

Transitions are data: each resource carries a plan of steps with due times, and `advance`
applies every step whose time has come, stamping events with the step's own due time (not the
time somebody looked). Every request advances first, so correctness never depends on a thread;
one-shot timers only make the effects (the lab's hooks) happen on time when nobody polls.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from failover.sim import guest_ops
from failover.sim.behaviour import Behaviour, make_behaviour
from failover.sim.hooks import Hooks, NoopHooks
from failover.sim.timing import Draw, Timing, draw, make_timing
from failover.sim.world import (
    Eip,
    Eni,
    Instance,
    Invocation,
    InvokeRecord,
    Stateful,
    VSwitch,
    World,
)

log = logging.getLogger("failover.sim")
EVENT_LOG_MAX = 200_000
KINDS = ("instances", "enis", "eips", "records")


class State:
    """Everything mutable; callers hold `lock` (re-entrant) while they read or change it."""

    def __init__(
        self,
        world: World,
        hooks: Hooks | None = None,
        clock: Callable[[], float] = time.time,
        state_file: Path | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.world = world
        self.hooks: Hooks = hooks or NoopHooks()
        self.clock = clock
        self.timing = timing or make_timing(world.timing, world.seed)
        self.behaviour: Behaviour = make_behaviour(world.timing)
        self.rng = random.Random(world.seed)
        self.lock = threading.RLock()
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENT_LOG_MAX)
        self.seq = 0
        self.state_file = state_file
        self.tokens: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {}
        self.command_results: dict[str, deque[tuple[int, str]]] = {}
        self.counter = 0
        self._pending: set[tuple[str, str]] = set()
        self._timers: set[threading.Timer] = set()
        self._closed = False
        for kind in KINDS:
            for obj in self._table(kind).values():
                if obj.plan:
                    self._pending.add((kind, obj.id))

    # --- plans and the clock ---

    def _table(self, kind: str) -> dict[str, Any]:
        return dict(getattr(self.world, kind))

    def _get(self, kind: str, rid: str) -> Stateful | None:
        obj = getattr(self.world, kind).get(rid)
        return obj if isinstance(obj, Stateful) else None

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.rng.getrandbits(48):012x}{self.counter:04x}"

    def draw(self, kind: str, rid: str) -> Draw:
        """The next transition of this kind on this resource: its duration and outcome."""
        return draw(self.timing, kind, rid)

    def event(self, kind: str, rid: str, old: str | None, new: str, at: float, **detail: Any) -> None:
        self.seq += 1
        self.events.append(
            {"seq": self.seq, "t": at, "kind": kind, "id": rid, "from": old, "to": new, **detail}
        )

    def set_status(self, kind: str, obj: Stateful, status: str, at: float, **detail: Any) -> None:
        if obj.status != status:
            self.event(kind, obj.id, obj.status, status, at, **detail)
            obj.status = status

    def schedule(self, kind: str, obj: Stateful, steps: list[dict[str, Any]]) -> None:
        """Replaces the resource's plan; a step with due None waits until something unblocks it."""
        obj.plan = steps
        key = (kind, obj.id)
        if steps:
            self._pending.add(key)
        else:
            self._pending.discard(key)
        now = self.clock()
        for step in steps:
            for t in (step.get("due"), step.get("deadline")):
                if t is not None:
                    self._wake_at(t - now)

    def unblock(self, kind: str, obj: Stateful, at: float) -> None:
        if obj.plan and obj.plan[0].get("due") is None:
            obj.plan[0]["due"] = at
            self._pending.add((kind, obj.id))
            self._wake_at(at - self.clock())

    def advance(self, now: float | None = None) -> None:
        """Applies every due step in time order (a step may schedule or unblock others)."""
        now = self.clock() if now is None else now
        with self.lock:
            while True:
                best: tuple[float, str, Stateful, dict[str, Any], bool] | None = None
                for kind, rid in list(self._pending):
                    obj = self._get(kind, rid)
                    if obj is None or not obj.plan:
                        self._pending.discard((kind, rid))
                        continue
                    step = obj.plan[0]
                    due, late = step.get("due"), False
                    if due is None and step.get("deadline") is not None:
                        due, late = step["deadline"], True
                    if due is not None and due <= now and (best is None or due < best[0]):
                        best = (due, kind, obj, step, late)
                if best is None:
                    return
                at, kind, obj, step, late = best
                obj.plan.pop(0)
                if not obj.plan:
                    self._pending.discard((kind, obj.id))
                if late:
                    obj.plan.clear()
                    self._pending.discard((kind, obj.id))
                    self.set_status(kind, obj, step["else"], at)
                    continue
                self.set_status(kind, obj, step["status"], at, **step.get("detail", {}))
                if obj.plan and obj.plan[0].get("due") is None and "after" in obj.plan[0]:
                    obj.plan[0]["due"] = at + float(obj.plan[0]["after"])
                    self._wake_at(obj.plan[0]["due"] - now)
                effect = step.get("effect")
                if effect:
                    self._effect(effect, kind, obj, at)

    def _effect(self, effect: str, kind: str, obj: Stateful, at: float) -> None:
        if effect == "attached" and isinstance(obj, Eni):
            self._attached(obj, at)
        elif effect == "detached" and isinstance(obj, Eni):
            owner = obj.instance or ""
            obj.instance, obj.device_index = None, None
            try:
                self.hooks.on_detach(obj.id, owner)
            except Exception as e:
                log.warning("on_detach hook failed for %s: %s", obj.id, e)
                self.event("hook", obj.id, None, "on_detach_failed", at, error=str(e))
        elif effect == "attach_failed" and isinstance(obj, Eni):
            obj.instance, obj.device_index = None, None  # the cloud gave up: never InUse
        elif effect == "unbound":
            for attr in ("network_interface", "private_ip", "mode"):
                setattr(obj, attr, None)
        elif effect in ("stopped", "booted") and isinstance(obj, Instance):
            # the guest went down (or came up fresh): whatever hung or crashed it is gone
            obj.hung = obj.crashed = False
            obj.crash_stalls_detach = None
            if effect == "stopped":
                self._instance_stopped(obj.id, at)
            else:
                guest_ops.booted(self, obj, at)

    def _attached(self, eni: Eni, at: float) -> None:
        error = "injected attach failure" if eni.fail_next_attach else None
        eni.fail_next_attach = False
        if error is None:
            try:
                self.hooks.on_attach(eni.id, eni.mac, eni.instance or "")
            except Exception as e:
                error = f"on_attach hook failed: {e}"
        if error is not None:
            self.event("enis", eni.id, "InUse", "Available", at, error=error, instance=eni.instance)
            eni.status, eni.instance, eni.device_index = "Available", None, None
            return
        guest_ops.plugged(self, eni, at)

    def _instance_stopped(self, instance_id: str, at: float) -> None:
        """A stopped instance lets go of the ENIs a hung guest was holding in `Detaching`."""
        for eni in self.world.enis.values():
            if eni.instance == instance_id and eni.status == "Detaching":
                self.unblock("enis", eni, at)

    # --- timers: only to run effects on time; reads advance anyway ---

    def _wake_at(self, delay: float) -> None:
        if self._closed:
            return
        timer = threading.Timer(max(0.0, delay) + 0.001, self._tick)
        timer.daemon = True
        self._timers.add(timer)
        timer.start()

    def _tick(self) -> None:
        try:
            with self.lock:
                self._timers = {
                    t for t in self._timers if t.is_alive() and t is not threading.current_thread()
                }
                if not self._closed:
                    self.advance()
                    self.persist()
        except Exception:
            log.exception("timer advance failed (the next request will advance instead)")

    def close(self) -> None:
        with self.lock:
            self._closed = True
            timers, self._timers = self._timers, set()
        for t in timers:
            t.cancel()

    # --- persistence and dumps ---

    def dump(self) -> dict[str, Any]:
        with self.lock:
            self.advance()
            out = self.world.to_dict()
            out.pop("access_keys")
            out["now"] = self.clock()
            return out

    def persist(self) -> None:
        """Atomically rewrites the state file (write a temp file, fsync, rename)."""
        if self.state_file is None:
            return
        with self.lock:
            data = self.world.to_dict()
            data["tokens"] = {k: list(v) for k, v in self.tokens.items()}
            data["seq"] = self.seq
            payload = json.dumps(data)
        directory = self.state_file.parent
        fd, tmp = tempfile.mkstemp(prefix=".sim-state-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def restore(cls, path: Path, **kwargs: Any) -> State:
        data = json.loads(path.read_text(encoding="utf-8"))
        st = cls(world_from_dict(data), state_file=path, **kwargs)
        st.tokens = {k: (v[0], v[1], v[2]) for k, v in data.get("tokens", {}).items()}
        st.seq = int(data.get("seq", 0))
        return st


def world_from_dict(d: dict[str, Any]) -> World:
    """Rebuilds a `World` from `World.to_dict()` (the persisted state file)."""

    def build(cls: type, items: list[dict[str, Any]]) -> dict[str, Any]:
        names = {f.name for f in fields(cls)}
        return {it["id"]: cls(**{k: v for k, v in it.items() if k in names}) for it in items}

    return World(
        region=d["region"],
        access_keys=d["access_keys"],
        vpcs=d["vpcs"],
        vswitches=build(VSwitch, d["vswitches"]),
        security_groups=d["security_groups"],
        instances=build(Instance, d["instances"]),
        enis=build(Eni, d["enis"]),
        eips=build(Eip, d["eips"]),
        timing=d["timing"],
        limits=d["limits"],
        seed=d.get("seed", 0),
        invocations=build(Invocation, d.get("invocations", [])),
        records=build(InvokeRecord, d.get("records", [])),
    )
