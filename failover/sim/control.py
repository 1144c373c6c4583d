"""The test-control API under `/_sim/` (JSON in, JSON out; never mixed with the cloud API).

See failover/sim/README.md for the routes. Instance controls act like the real world: a crash
takes the guest and its agent down, a hang makes the guest ignore unplugs and graceful stops.
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from failover.sim.behaviour import make_behaviour
from failover.sim.faults import FaultSpecError, parse_rule
from failover.sim.instance_ops import start, stop
from failover.sim.manual import manual_route
from failover.sim.protocol import ApiError
from failover.sim.timing import TimingError, make_timing, throttles

if TYPE_CHECKING:
    from failover.sim.server import Emulator

Reply = tuple[int, dict[str, Any]]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError(400, "body: not valid JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body: expected a JSON object")
    return data


def _field(d: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in d:
        if default is ...:
            raise ControlError(400, f"{name}: required")
        return default
    v = d[name]
    if not isinstance(v, kind) or (
        isinstance(v, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
    ):
        raise ControlError(400, f"{name}: invalid value {v!r}")
    return v


def handle_control(emu: Emulator, method: str, target: str, body: bytes) -> Reply:
    parts = urlsplit(target)
    segs = [s for s in parts.path.split("/") if s][1:]
    query = parse_qs(parts.query)
    try:
        return _route(emu, method, segs, query, _json(body) if method in ("POST", "PUT") else {})
    except ControlError as e:
        return e.status, {"error": str(e)}
    except FaultSpecError as e:
        return 400, {"error": str(e)}
    except ApiError as e:
        return 409, {"error": e.message, "code": e.code}


def _route(
    emu: Emulator, method: str, segs: list[str], query: dict[str, list[str]], d: dict[str, Any]
) -> Reply:
    st = emu.state
    route = (method, *segs[:1])
    if route == ("GET", "state"):
        return 200, {**st.dump(), "faults": emu.faults.snapshot()}
    if route == ("GET", "health"):
        return 200, {"ok": True}
    if route == ("GET", "events"):
        try:
            since = int(query.get("since", ["0"])[0])
        except ValueError:
            raise ControlError(400, "since: must be an integer") from None
        with st.lock:
            st.advance()
            events = [e for e in st.events if e["seq"] > since]
            return 200, {"events": events, "last": st.seq}
    if route == ("POST", "faults"):
        emu.faults.add(parse_rule(d))
        return 200, {"ok": True}
    if route == ("DELETE", "faults"):
        emu.faults.clear()
        return 200, {"ok": True}
    if route == ("POST", "latency"):
        emu.faults.set_latency(_field(d, "action", str, "*"), float(_field(d, "seconds", (int, float))))
        return 200, {"ok": True}
    if route == ("POST", "qps"):
        limit = _field(d, "limit", (int, type(None)))
        if limit is not None and limit < 1:
            raise ControlError(400, "limit: must be >= 1 (or null to remove)")
        emu.faults.set_qps(_field(d, "action", str, "*"), limit)
        return 200, {"ok": True}
    if route == ("POST", "timing"):
        return _set_timing(emu, d)
    if route == ("POST", "unstage"):
        # Every guest's pre-staged triggers gone, as on a re-imaged instance (its tags stay): a
        # bench that staged the guests for one part must not lend their triggers to a part that
        # measures the RunCommand path.
        with st.lock:
            for inst in st.world.instances.values():
                inst.staged.clear()
            st.persist()
        return 200, {"ok": True}
    with st.lock:
        now = st.clock()
        st.advance(now)
        reply = _mutate(emu, method, segs, d, now)
        st.persist()
        return reply


def _set_timing(emu: Emulator, d: dict[str, Any]) -> Reply:
    """Swaps the timing profile of a running world (a bench moves from instant to cloud-like
    timing without losing the ENI's place); transitions already planned keep their times."""
    st = emu.state
    try:
        timing = make_timing(d, st.world.seed)
        behaviour = make_behaviour(d)
        limits = throttles(d)
    except TimingError as e:
        raise ControlError(400, str(e)) from None
    with st.lock:
        st.timing = timing
        st.behaviour = behaviour
        st.world.timing = dict(d)
        st.persist()
    for action, limit in limits.items():
        emu.faults.set_qps(action, limit)
    return 200, {"ok": True, "profile": str(d.get("profile", "fixed"))}


def _mutate(emu: Emulator, method: str, segs: list[str], d: dict[str, Any], now: float) -> Reply:
    st = emu.state
    manual = manual_route(st, method, segs, d, now)
    if manual is not None:
        return manual
    if method == "POST" and len(segs) == 3 and segs[0] == "instances":
        inst = st.world.instances.get(segs[1])
        if inst is None:
            raise ControlError(404, f"instance {segs[1]}: not found")
        verb = segs[2]
        if verb == "crash":
            inst.crashed = True
            # {stall_detach: bool}: this crash stalls detaches (or not); absent: drawn
            inst.crash_stalls_detach = _field(d, "stall_detach", bool, None) if d.get(
                "stall_detach") is not None else None
            st.event("instances", inst.id, None, "Crashed", now, stall_detach=inst.crash_stalls_detach)
        elif verb == "hang":
            inst.hung = True
            st.event("instances", inst.id, None, "Hung", now)
            for eni in st.world.enis.values():
                if eni.instance == inst.id and eni.status == "Detaching" and eni.plan:
                    eni.plan[0]["due"] = None
        elif verb == "unhang":
            inst.hung = False
            st.event("instances", inst.id, None, "Unhung", now)
            for eni in st.world.enis.values():
                # not the hang's doing: a drawn or crash stall stays
                drawn = bool(eni.plan) and eni.plan[0].get("stuck") in ("drawn", "crashed")
                if eni.instance == inst.id and eni.status == "Detaching" and not drawn:
                    st.unblock("enis", eni, now + st.timing("detach", eni.id))
            if inst.status == "Stopping":
                st.unblock("instances", inst, now + st.timing("stop", inst.id))
        elif verb == "stop":
            stop(st, inst, True, now)
        elif verb == "start":
            start(st, inst, now)
        else:
            raise ControlError(404, f"unknown instance action {verb!r} (crash, hang, unhang, stop, start)")
        return 200, {"ok": True, "status": inst.status}
    if method == "POST" and len(segs) == 3 and segs[0] == "enis" and segs[2] == "fail_attach":
        target = st.world.enis.get(segs[1])
        if target is None:
            raise ControlError(404, f"network interface {segs[1]}: not found")
        target.fail_next_attach = True
        return 200, {"ok": True}
    if method == "POST" and len(segs) == 3 and segs[0] == "enis" and segs[2] == "status":
        target = st.world.enis.get(segs[1])
        if target is None:
            raise ControlError(404, f"network interface {segs[1]}: not found")
        # null: show the real status again
        shown = _field(d, "status", str) if d.get("status") is not None else None
        if shown is not None and not shown:
            raise ControlError(400, "status: must be a non-empty string (or null)")
        target.shown_status = shown
        st.event("enis", target.id, None, "Shown", now, shown=shown)
        return 200, {"ok": True}
    if method == "POST" and len(segs) == 2 and segs[0] == "cloud_assistant":
        inst = st.world.instances.get(segs[1])
        if inst is None:
            raise ControlError(404, f"instance {segs[1]}: not found")
        inst.cloud_assistant = _field(d, "online", bool)
        st.event("instances", inst.id, None, "AgentOnline" if inst.cloud_assistant else "AgentOffline", now)
        return 200, {"ok": True}
    if method == "POST" and segs == ["command_result"]:
        iid = _field(d, "instance", str)
        if iid not in st.world.instances:
            raise ControlError(404, f"instance {iid}: not found")
        result = (_field(d, "exit_code", int), _field(d, "output", str, ""))
        st.command_results.setdefault(iid, deque()).append(result)
        return 200, {"ok": True}
    raise ControlError(404, f"unknown control route {method} /_sim/{'/'.join(segs)}")
