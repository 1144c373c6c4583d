"""`failover drill GROUP`: a switchover through the leader, followed live, step by step.

The CLI never moves anything itself: it writes a request to ZooKeeper, the
leader validates and executes it once, and the CLI follows the journal.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
import uuid

import click

from failover import app, quorum
from failover.commands.common import emit_json, fail, is_tty, known_group, open_client
from failover.commands.context import complete_group, config_option, state
from failover.commands.drill_progress import Progress, progress_for
from failover.config import Config, GroupConfig
from failover.engine.actions import Action, Drill
from failover.engine.decide import Snapshot, decide
from failover.engine.readiness import evaluate
from failover.engine.view import GroupView, build_view
from failover.model import CloudError, EniStatus, Result
from failover.ports import RequestDesk
from failover.records import DrillRequest, FailoverRecord, StepRecord

REQUEST_TTL_S = 60.0


@click.command()
@config_option
@click.argument("group", shell_complete=complete_group)
@click.option("--to", "to_instance", help="The standby to move to (default: the first healthy one).")
@click.option("--dry-run", is_flag=True, help="Print the plan and every precondition; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--timeout", default=300.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds to follow the drill before giving up (it keeps running).")
@click.pass_context
def drill(ctx: click.Context, group: str, to_instance: str | None, dry_run: bool, yes: bool,
          timeout: float) -> None:
    """Ask the leader for a switchover and follow it; exit 0 only if it completed."""
    st = state(ctx)
    cfg = st.load_config()
    known_group(cfg, group)
    g = cfg.group(group)
    if to_instance is not None and to_instance not in g.members:
        fail(f"--to: {to_instance} is not a member of {group} ({', '.join(g.members)})", 2)
    if not dry_run and not yes:
        if not is_tty():
            fail("--yes is required when not on a terminal (or use --dry-run)", 2)
        click.confirm(f"Move {group}'s ENI {g.network_interface} now?", abort=True)
    with open_client(st, cfg) as c:
        checks, holder, target = preconditions(c, cfg, g, to_instance)
        if dry_run:
            _print_plan(st.json, group, holder, target, checks)
            raise SystemExit(0 if all(ok for _, ok, _ in checks) else 1)
        failed = [name for name, ok, _ in checks if not ok and name in BLOCKING]
        if failed:
            _print_plan(st.json, group, holder, target, checks)
            fail(f"preconditions failed: {', '.join(failed)}")
        with progress_for(group, st.json, is_tty()) as progress:
            record = _submit_and_follow(c, group, to_instance, timeout, progress)
        if record is not None and not record.finished:
            fail(f"{record.id} still running after --timeout; follow it with `failover history {group}`")
    _print_timeline(record, st.json)
    raise SystemExit(0 if record is not None and record.result is Result.COMPLETED else 1)


BLOCKING = ("leader", "no failover running")


def preconditions(c: app.Client, cfg: Config, g: GroupConfig,
                  to_instance: str | None) -> tuple[list[tuple[str, bool, str]], str | None, str | None]:
    """Every check the leader will make, answered from here, for the plan and --dry-run."""
    coord = c.coordination
    checks: list[tuple[str, bool, str]] = []
    leader = coord.leadership.leader_id()
    checks.append(("leader", leader is not None, leader or "no leader elected"))
    running = [r for r in coord.journal.unfinished() if r.group == g.name]
    checks.append(("no failover running", not running, running[0].id if running else "none"))
    # The leader's own decision, on a view built by the leader's builder from a live read.
    facts, enis = c.facts([g])
    ready = {} if facts is None else evaluate(g, facts[g.name])
    now = time.time()
    view = build_view(g, coord.journal.group_state(g.name), coord.observations.snapshot().get(g.name, {}),
                      quorum.electorate(len(coord.leadership.controllers()), c.cfg.controller.replicas),
                      eni=enis.get(g.network_interface),
                      ready={m: r.ready for m, r in ready.items()},
                      unfinished=running[0] if running else None)
    up = view.member_up
    holder = view.holder
    request = DrillRequest("dry-run", g.name, to_instance, now, now + REQUEST_TTL_S)
    actions = decide(Snapshot(now, (view,), (request,)))
    action = actions[0] if actions else None
    target = action.to_instance if isinstance(action, Drill) else None
    checks.append(("leader's decision", target is not None, _decision(action, view)))
    checks.append(("target", target is not None and target != holder,
                   target or to_instance or "no healthy and ready standby"))
    if target is not None:
        checks.append(("target healthy by quorum", up.get(target) is True, f"verdict {up.get(target)}"))
        known = ready.get(target)
        checks.append(("target ready for the ENI", known is None or known.ready,
                       "unknown (the cloud did not answer)" if known is None
                       else known.reason or "ready"))
    try:
        eni = c.cloud.describe_eni(g.network_interface)
        checks.append(("ENI attached", eni.status is EniStatus.IN_USE,
                       f"{eni.status} on {eni.instance_id or 'nothing'}"))
        if target is not None:
            info = c.cloud.describe_instances([target]).get(target)
            same = info is not None and info.zone_id == eni.zone_id and info.vpc_id == eni.vpc_id
            where = f"{info.zone_id}/{info.vpc_id}" if info else "not found"
            checks.append(("target in the ENI's zone and VPC", same,
                           f"target {where}, ENI {eni.zone_id}/{eni.vpc_id}"))
            if info is not None:
                checks.append(("target running", info.status == "Running", info.status))
    except CloudError as e:
        checks.append(("cloud reachable", False, str(e)))
    return checks, holder, target


def _decision(action: Action | None, view: GroupView) -> str:
    if action is None:
        return ("the request would wait: the ENI was not read or a release of the target is "
                "running" if view.eni is None or view.releasing else "the request would wait")
    if isinstance(action, Drill):
        return f"drill from {action.from_instance or 'nothing'} to {action.to_instance}"
    return f"{action.kind.value}: {action.reason}"


def _print_plan(as_json: bool, group: str, holder: str | None, target: str | None,
                checks: list[tuple[str, bool, str]]) -> None:
    if as_json:
        emit_json({"group": group, "from": holder, "to": target,
                   "checks": [{"check": n, "ok": ok, "detail": d} for n, ok, d in checks]})
        return
    click.echo(f"plan: move {group} from {holder or 'nothing'} to {target or '?'}")
    for name, ok, detail in checks:
        click.echo(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")


def _submit_and_follow(c: app.Client, group: str, to_instance: str | None, timeout: float,
                       progress: Progress) -> FailoverRecord | None:
    now = time.time()
    request = DrillRequest(f"drill-{uuid.uuid4().hex[:12]}", group, to_instance, now, now + REQUEST_TTL_S,
                           f"{getpass.getuser()}@{socket.gethostname()}")
    requests: RequestDesk = c.coordination.requests
    requests.submit(request)
    progress.event("requested", request=request.id, group=group)
    deadline = time.monotonic() + timeout
    answer = requests.wait_for_result(request.id, min(timeout, REQUEST_TTL_S))
    if not answer.answered or not answer.failover_id:
        why = answer.message or ("no leader answered in time" if answer.exists else "the request expired")
        fail(f"drill not started: {why}")
        return None
    progress.event("started", failover=answer.failover_id)
    return _follow(c, answer.failover_id, deadline, progress)


def _follow(c: app.Client, failover_id: str, deadline: float, progress: Progress) -> FailoverRecord | None:
    record = None
    while time.monotonic() < deadline:
        record = c.coordination.journal.get(failover_id)
        if record is not None:
            progress.record(record)
            if record.finished:
                return record
        time.sleep(0.1)
    return record


def _print_timeline(record: FailoverRecord | None, as_json: bool) -> None:
    if record is None:
        return
    if as_json:
        click.echo(json.dumps({"event": "finished", **record.to_dict()}, default=str))
        return
    total = f"{record.duration_s:.2f} s" if record.duration_s is not None else "-"
    click.echo(f"{record.result.value}: {record.group} {record.from_instance} -> {record.to_instance} "
               f"in {total}")
    for s in record.steps:
        click.echo("  " + _step_line(record, s))
    if record.error:
        click.echo(f"error: {record.error}")


def _step_line(record: FailoverRecord, s: StepRecord) -> str:
    offset = s.started_at - record.started_at
    dur = f"{s.duration_s:.3f} s" if s.duration_s is not None else "..."
    ids = f"  requests: {', '.join(s.request_ids)}" if s.request_ids else ""
    return f"+{offset:6.3f} s  {s.name.value:<7} {s.status:<8} {dur:>9}{ids}"
