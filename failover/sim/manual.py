"""What happens to an ENI outside the controller: an operator at the console, or a cloud reply
the controller has never seen. Control routes under `/_sim/enis/<id>/`:

- `detach`: the console's "Detach" on the ENI's current holder (the same operation, so the same
  timing, errors and events), logged as a `calls` event `ByHand`.
- `move {to}`: detach from the current holder (if any), then, once `Available`, attach to `to`:
  what an operator does by hand to switch over without the controller.

A status the controller has never seen (`Creating`, ...) is `POST /_sim/enis/<id>/status`
(control.py): one shown status, with moves refused while it is shown.

Each route answers at once; a move's attach happens later, from a short-lived thread that waits
(bounded) for the detach to complete, as a person watching the console would.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from failover.sim.eni_ops import attach_network_interface, detach_network_interface
from failover.sim.protocol import ApiError
from failover.sim.world import Eni

if TYPE_CHECKING:
    from failover.sim.state import State

Reply = tuple[int, dict[str, Any]]
MOVE_WAIT_S = 120.0  # a move whose detach never completes gives up: the event log says so


def manual_route(st: State, method: str, segs: list[str], d: dict[str, Any], now: float) -> Reply | None:
    """The reply of one of this module's routes, or None when the route is not one of them.
    Called with the state lock held and the clock advanced; an `ApiError` is the cloud's refusal."""
    if method != "POST" or len(segs) != 3 or segs[0] != "enis":
        return None
    verb = segs[2]
    if verb not in ("detach", "move"):
        return None
    eni = st.world.enis.get(segs[1])
    if eni is None:
        return 404, {"error": f"network interface {segs[1]}: not found"}
    if verb == "detach":
        if eni.instance is None or eni.status != "InUse":
            return 409, {"error": f"{eni.id} is {eni.status}, not attached",
                         "code": "InvalidOperation.InvalidEniState"}
        _detach(st, eni, now)
        return 200, {"ok": True, "status": eni.status}
    return _move(st, eni, d, now)


def _detach(st: State, eni: Eni, now: float) -> None:
    holder = eni.instance or ""
    st.event("calls", eni.id, None, "ByHand", now, action="detach", instance=holder)
    detach_network_interface(st, {"NetworkInterfaceId": eni.id, "InstanceId": holder}, now)


def _move(st: State, eni: Eni, d: dict[str, Any], now: float) -> Reply:
    to = d.get("to")
    if not isinstance(to, str) or to not in st.world.instances:
        return 400, {"error": f"to: an instance id of the world, got {to!r}"}
    if eni.instance == to and eni.status == "InUse":
        return 409, {"error": f"{eni.id} is already InUse on {to}"}
    if eni.status == "InUse":
        _detach(st, eni, now)
    elif eni.status != "Available":
        return 409, {"error": f"{eni.id} is {eni.status}; a move starts from InUse or Available"}
    st.event("calls", eni.id, None, "ByHand", now, action="move", instance=to)
    threading.Thread(target=_attach_when_available, args=(st, eni.id, to), daemon=True,
                     name=f"sim-move-{eni.id}").start()
    return 200, {"ok": True, "status": eni.status}


def _attach_when_available(st: State, eni_id: str, to: str) -> None:
    deadline = time.monotonic() + MOVE_WAIT_S
    while time.monotonic() < deadline:
        with st.lock:
            now = st.clock()
            st.advance(now)
            eni = st.world.enis[eni_id]
            if eni.status == "Available":
                try:
                    attach_network_interface(st, {"NetworkInterfaceId": eni_id, "InstanceId": to}, now)
                except ApiError as e:
                    st.event("calls", eni_id, None, "ByHandFailed", now, action="move", instance=to,
                             code=e.code)
                st.persist()
                return
            if eni.status not in ("Detaching", "Available"):
                st.event("calls", eni_id, None, "ByHandFailed", now, action="move", instance=to,
                         code=f"ENI became {eni.status}")
                return
        time.sleep(0.01)
    with st.lock:
        st.event("calls", eni_id, None, "ByHandFailed", st.clock(), action="move", instance=to,
                 code="detach never completed")
