"""`failover demo`: the whole product on one machine, narrated for a newcomer, in under 2 minutes.

Brings the lab up, shows the controllers and the group, crashes the primary while a client
calls the service, shows the failover as the client lives it and as the journal recorded it,
brings the old primary back and drills the service home, then removes everything (also on
Ctrl-C or an error: the caller runs `Demo.run` inside try/finally via `Lab.down`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from failover.lab import analysis
from failover.lab.bench import Client
from failover.lab.runtime import Lab
from failover.lab.sides import FailoverSide
from failover.lab.spec import LabSpec

Say = Callable[[str], None]


def explain_lab(spec: LabSpec) -> list[str]:
    p, s = spec.members[0], spec.members[1]
    return [
        "Every machine below is a Linux network namespace on this host, wired to a virtual switch:",
        f"  - {p.instance_id} ({p.ip}) and {s.instance_id} ({s.ip}): two ECS instances running a tiny web",
        "    service that answers with its own name;",
        f"  - the service address {spec.eni.service_ip} lives on a movable network card (an ENI, here a veth",
        f"    with MAC {spec.eni.mac}) that starts on {p.instance_id};",
        "  - a client that calls the service every 20 ms;",
        "  - ZooKeeper and an emulator of the Alibaba Cloud ECS API (moving the ENI moves the veth);",
        f"  - two controller replicas ({', '.join(c.controller_id for c in spec.controllers)}):"
        " they probe both",
        "    instances 5 times a second, agree through ZooKeeper, and move the ENI when the primary dies.",
    ]


class Demo:
    def __init__(self, lab: Lab, say: Say) -> None:
        self.lab = lab
        self.injected = 0.0
        self.side = FailoverSide(lab)
        self.say = say

    def run(self) -> dict[str, Any]:
        spec = self.lab.spec
        t0 = time.monotonic()
        self.say("== 1. Building the lab")
        for line in explain_lab(spec):
            self.say(line)
        self.lab.up()
        holder = self.side.wait_ready(60.0)
        self.say(f"   ready in {time.monotonic() - t0:.1f}s.")
        self.say("")
        self.say("== 2. The controllers and the group (`failover status`)")
        self._show(self.lab.failover_cli("status").stdout)
        standby = spec.other(holder).instance_id
        self.say(f"== 3. Crashing {holder} while the client calls {spec.eni.service_ip}")
        client = Client(self.lab, self.side.address, self.lab.dir / "demo-client.jsonl")
        outage = self._crash(client, holder, standby)
        self.say("")
        self.say("== 4. What the controllers did (`failover history`, the journal in ZooKeeper)")
        entry = self._last_entry()
        self._show_entry(entry, outage)
        self.say(f"== 5. {holder} comes back; a drill moves the service home"
                 f" (`failover drill web --to {holder}`)")
        self.side.restore("crash", holder)
        self.side.wait_ready(60.0)
        drill = self.lab.failover_cli("drill", "web", "--to", holder, "--yes", timeout_s=90.0)
        self._show(drill.stdout or drill.stderr)
        answers = client.stop()
        back = analysis.outage(answers, standby, holder, outage.first_new or 0.0)
        if back.rto_s is not None:
            self.say(f"   the client was served by {holder} again after a {back.rto_s * 1000:.0f} ms gap"
                     f" (a planned switchover)")
        verdict = "completed" if drill.returncode == 0 else "failed"
        self.say(f"   drill exit code {drill.returncode} ({verdict}).")
        self.say("")
        return {"rto_s": outage.rto_s, "drill_exit": drill.returncode, "elapsed_s": time.monotonic() - t0}

    def _crash(self, client: Client, holder: str, standby: str) -> analysis.Outage:
        while sum(a.answer == holder for a in client.answers()) < 25:
            time.sleep(0.05)
        self.say(f"   client: answered by {holder}, 50 times a second")
        injected = self.injected = time.time()
        self.side.inject("crash", holder)
        self.say(f"   t+0.00s  {holder} crashed: its service is killed and its network is down")
        shown_error = False
        deadline = injected + 20
        while time.time() < deadline:
            answers = client.answers()
            if not shown_error and any(a.answer is None and a.done >= injected for a in answers):
                first = min(a.done for a in answers if a.answer is None and a.done >= injected)
                self.say(f"   t+{first - injected:.2f}s  client: requests are failing")
                shown_error = True
            news = [a.done for a in answers if a.answer == standby and a.done >= injected]
            if news:
                self.say(f"   t+{min(news) - injected:.2f}s  client: answered by {standby}"
                         " - the service is back")
                break
            time.sleep(0.05)
        time.sleep(0.3)
        o = analysis.outage(client.answers(), holder, standby, injected)
        if o.rto_s is None:
            self.say("   the client was not answered by the standby: the failover did not complete")
        else:
            self.say(f"   measured RTO (client's gap between the last and the first answer): {o.rto_s:.3f}s,"
                     f" {o.errors} requests failed")
        return o

    def _last_entry(self) -> dict[str, Any] | None:
        for _ in range(20):
            hist = self.lab.cli_json("history")
            entries = [e for e in hist if isinstance(e, dict)] if isinstance(hist, list) else []
            if entries:
                return max(entries, key=lambda e: str(e.get("started_at", "")))
            time.sleep(0.3)
        return None

    def _show_entry(self, entry: dict[str, Any] | None, outage: analysis.Outage) -> None:
        if not entry:
            self.say("   (no journal entry found)")
            return
        self.say(f"   failover {entry.get('from')} -> {entry.get('to')}: {entry.get('result')}"
                 f" (trigger: {entry.get('trigger')})")
        words = {"decide": "decide: a majority of controllers saw the primary down",
                 "fence": "fence: stop the old primary", "detach": "detach: take the ENI off the old primary",
                 "attach": "attach: put the ENI on the standby",
                 "guest": "guest: configure the ENI inside the standby",
                 "verify": "verify: the service answers on the standby", "done": "done"}
        started = analysis._ts(entry.get("started_at"))
        if started is not None:
            self.say(f"   {(started - self.injected) * 1000:7.0f} ms  detect: 3 failed probes 0.2 s apart,"
                     " seen by a majority of controllers")
        for step in entry.get("steps") or []:
            name = str(step.get("name"))
            dur = step.get("duration_s")
            took = f"{float(dur) * 1000:7.0f} ms" if isinstance(dur, int | float) else "        -"
            self.say(f"   {took}  {words.get(name, name)}")
        self.say("")

    def _show(self, text: str) -> None:
        for line in (text or "").rstrip().splitlines():
            self.say(f"   {line}")
        self.say("")
