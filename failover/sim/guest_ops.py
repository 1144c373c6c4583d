"""The emulated guest's pre-staged hot-plug triggers: what a udev rule + systemd unit would do.

A stage script (recognised by its header line, `# failover guest stage: ENI <mac>, version
<v>`) that Cloud Assistant ran to success leaves a trigger on the instance's disk:
`Instance.staged[mac] = version`. When an ENI with that MAC reaches InUse on the instance, the
guest's kernel sees the NIC after the drawn `hotplug` time and the trigger runs the staged
configure script, without any API call: `hooks.hotplug(instance, mac)` (the lab runs the
staged script in the instance's namespace; without that hook it succeeds and does nothing).
Each run is an event `guest/<instance>` `HotplugConfigured` or `HotplugFailed`, with the MAC.
A crashed or hung guest, or one that is not Running, runs nothing; nor does a trigger whose ENI
left the instance before the hot-plug time was over. A guest that boots with the NIC already
there (a cold standby, attached while Stopped, then started) runs it too: udev replays `add`
for every device at boot.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from failover.sim.state import State
    from failover.sim.world import Eni, Instance

_STAGE = re.compile(r"^# failover guest stage: ENI ([0-9a-f:]{17}), version ([0-9a-f]+)", re.M)


def note_stage(st: State, instance_id: str, script: str, at: float) -> None:
    """A command ended Success on `instance_id`: a stage script there installed its trigger."""
    m = _STAGE.search(script)
    inst = st.world.instances.get(instance_id)
    if m is None or inst is None:
        return
    mac, version = m.group(1), m.group(2)
    if inst.staged.get(mac) != version:
        inst.staged[mac] = version
        st.event("guest", instance_id, None, "Staged", at, mac=mac, version=version)


def plugged(st: State, eni: Eni, at: float) -> None:
    """The ENI reached InUse (the hook moved it): start the guest's trigger if one is staged."""
    inst = st.world.instances.get(eni.instance or "")
    if inst is None or eni.mac not in inst.staged:
        return
    if inst.status != "Running" or inst.crashed or inst.hung:
        return
    delay = st.timing("hotplug", eni.id)
    threading.Thread(target=_trigger, args=(st, eni.id, inst.id, eni.mac, at + delay),
                     name=f"sim-hotplug-{inst.id}", daemon=True).start()


def booted(st: State, inst: Instance, at: float) -> None:
    """The instance came up Running: every staged ENI InUse there appears to its OS now."""
    for eni in st.world.enis.values():
        if eni.instance == inst.id and eni.status == "InUse":
            plugged(st, eni, at)


def _trigger(st: State, eni_id: str, instance_id: str, mac: str, due: float) -> None:
    delay = due - st.clock()
    if delay > 0:
        time.sleep(delay)
    with st.lock:
        eni = st.world.enis.get(eni_id)
        inst = st.world.instances.get(instance_id)
        if (eni is None or inst is None or eni.instance != instance_id or eni.status != "InUse"
                or inst.crashed or inst.hung or inst.status != "Running"):
            return
    run = getattr(st.hooks, "hotplug", None)
    try:
        code, output = run(instance_id, mac) if callable(run) else (0, "")
    except Exception as e:
        code, output = -1, f"hotplug hook failed: {e}"
    with st.lock:
        st.event("guest", instance_id, None, "HotplugConfigured" if code == 0 else "HotplugFailed",
                 max(due, st.clock()), mac=mac, exit_code=code, output=str(output)[-300:])
        st.persist()
