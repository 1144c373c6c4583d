"""Cloud Assistant: RunCommand and the invocation queries.

Each instance of an invocation is an `InvokeRecord` moving `Pending -> Running -> Success |
Failed | Timeout` (or `Aborted` when the agent cannot take it). The script runs through the
hooks in a worker thread once the drawn command time is over (see `_wait_for_draw`); the
record's final step waits for it, with the command's timeout as its deadline, so a lost
worker still ends in `Timeout`.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Any

from failover.sim import guest_ops
from failover.sim.protocol import (
    ApiError,
    get_bool,
    get_int,
    get_list,
    get_str,
    invalid,
    missing,
    page,
    req_str,
)
from failover.sim.registry import find_instance, iso, op
from failover.sim.state import State, log
from failover.sim.world import Invocation, InvokeRecord

MAX_CONTENT_B64 = 24 * 1024
SCRIPT_OS = {"RunShellScript": "linux", "RunBatScript": "windows", "RunPowerShellScript": "windows"}
RUNNING_STATES = ("Pending", "Running")
OUTPUT_MAX = 24 * 1024


def _content(p: dict[str, str]) -> str:
    raw = req_str_unbounded(p, "CommandContent")
    encoding = (get_str(p, "ContentEncoding") or "PlainText").lower()
    if encoding == "base64":
        if len(raw) > MAX_CONTENT_B64:
            raise ApiError(
                "CmdContent.ExceedLimit", 403, "The command content exceeds 24 KB once Base64-encoded."
            )
        try:
            return base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid("CommandContent", "is not valid Base64 of UTF-8 text") from None
    if len(base64.b64encode(raw.encode("utf-8"))) > MAX_CONTENT_B64:
        raise ApiError(
            "CmdContent.ExceedLimit", 403, "The command content exceeds 24 KB once Base64-encoded."
        )
    return raw


def req_str_unbounded(p: dict[str, str], name: str) -> str:
    v = p.get(name)
    if not v:
        raise missing(name)
    return v


@op("RunCommand", mutates=True, client_token=True)
def run_command(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    cmd_type = req_str(p, "Type")
    if cmd_type not in SCRIPT_OS:
        raise ApiError("InvalidCmdType.NotFound", 403, f"The command type {cmd_type} is not supported.")
    script = _content(p)
    ids = get_list(p, "InstanceId", max_items=100)
    if not ids:
        raise missing("InstanceId.N")
    timeout = get_int(p, "Timeout", 60, lo=1, hi=86400) or 60
    name = get_str(p, "Name", max_len=10**6) or ""
    if len(name) > 128:
        raise ApiError("CmdName.ExceedLimit", 403, "The command name exceeds 128 characters.")
    if len(get_str(p, "Description", max_len=10**6) or "") > 512:
        raise ApiError("CmdDesc.ExceedLimit", 403, "The command description exceeds 512 characters.")
    for iid in ids:
        inst = find_instance(st, iid, code="InvalidInstance.NotFound")
        if inst.os_type.lower() != SCRIPT_OS[cmd_type]:
            raise ApiError(
                "InvalidInstance.NotMatch", 403, f"{cmd_type} cannot run on {iid} ({inst.os_type})."
            )
        if inst.status != "Running":
            # RunCommand's documented refusal: the instance's state does not meet the conditions
            raise ApiError(
                "InvalidInstance.NotMatch", 403,
                f"The specified instance type does not match the command: {iid} is {inst.status}, "
                "not Running.",
            )
    inv = Invocation(
        id=st.new_id("t"),
        command_id=st.new_id("c"),
        type=cmd_type,
        content=script,
        name=name or f"command-{now:.0f}",
        timeout_s=timeout,
        created=now,
        instances=ids,
        parameters=get_str(p, "Parameters", max_len=10**6) or "",
    )
    st.world.invocations[inv.id] = inv
    st.event("invocations", inv.id, None, "Created", now, instances=ids, script=script)
    for iid in ids:
        _start_record(st, inv, iid, now)
    return {"CommandId": inv.command_id, "InvokeId": inv.id}


def _start_record(st: State, inv: Invocation, iid: str, now: float) -> None:
    inst = st.world.instances[iid]
    rec = InvokeRecord(id=f"{inv.id}/{iid}", status="Pending", invoke_id=inv.id, instance=iid, created=now)
    st.world.records[rec.id] = rec
    run_s = st.timing("command", rec.id)
    running = {"status": "Running", "due": now + run_s * 0.2}
    if inst.status != "Running" or not inst.cloud_assistant or inst.crashed:
        rec.error_code = "InstanceNotRunning" if inst.status != "Running" else "ClientNotRunning"
        rec.error_info = f"the Cloud Assistant agent on {iid} is not reachable"
        st.schedule("records", rec, [{"status": "Aborted", "due": now}])
        return
    final = {"status": "Success", "due": None, "deadline": now + inv.timeout_s, "else": "Timeout"}
    st.schedule("records", rec, [running, final])
    if inst.hung:
        return  # a hung guest runs nothing; the deadline turns the record into Timeout
    injected = st.command_results.get(iid)
    if injected:
        code, output = injected.popleft()
        if not injected:
            del st.command_results[iid]
        complete(st, rec.id, code, output, now + run_s)
        return
    threading.Thread(
        target=_worker,
        args=(st, rec.id, iid, inv.content, inv.timeout_s, now + run_s),
        name=f"sim-run-{rec.id}",
        daemon=True,
    ).start()


def _wait_for_draw(st: State, not_before: float) -> None:
    """Sleeps until the drawn command time is over, before the script runs.

    The drawn duration is Cloud Assistant's delivery and start-up time: the script's effect
    (in the lab, the service IPs and ARP on the new holder) must not show before it, or a
    client would see the service back while the cloud still reports the command running.
    The script's own run time comes on top, and Success is reported when it really ended.
    """
    delay = not_before - st.clock()
    if delay > 0:
        time.sleep(delay)


def _worker(st: State, rec_id: str, iid: str, script: str, timeout_s: float, not_before: float) -> None:
    _wait_for_draw(st, not_before)
    try:
        code, output = st.hooks.run_command(iid, script, timeout_s)
    except Exception as e:
        log.warning("run_command hook failed on %s: %s", iid, e)
        code, output = -1, f"hook failed: {e}"
    with st.lock:
        complete(st, rec_id, code, output, max(not_before, st.clock()))
        st.persist()


def complete(st: State, rec_id: str, exit_code: int, output: str, at: float) -> None:
    """Sets the waiting final step of a record, unless its deadline already passed."""
    st.advance()
    rec = st.world.records.get(rec_id)
    if rec is None or not rec.plan or rec.plan[-1].get("else") != "Timeout":
        return
    final = rec.plan[-1]
    at = max(at, rec.created)
    if at > final["deadline"]:
        return
    final["status"] = "Success" if exit_code == 0 else "Failed"
    rec.exit_code, rec.output, rec.finished = exit_code, output, at
    if exit_code == 0:
        inv = st.world.invocations.get(rec.invoke_id)
        if inv is not None:
            guest_ops.note_stage(st, rec.instance, inv.content, at)
    if exit_code != 0:
        rec.error_code, rec.error_info = "ExitCodeNonzero", f"the script exited with {exit_code}"
    if len(rec.plan) == 1:
        st.unblock("records", rec, at)
    else:
        st.schedule("records", rec, [rec.plan[0], {"status": final["status"], "due": at}])


def _overall(statuses: list[str]) -> str:
    if any(s == "Pending" for s in statuses) and not any(s == "Running" for s in statuses):
        return "Pending"
    if any(s in RUNNING_STATES for s in statuses):
        return "Running"
    if all(s == "Success" for s in statuses):
        return "Success"
    return "Failed" if not any(s == "Success" for s in statuses) else "PartialFailed"


def _encode(text: str, plain: bool) -> str:
    return text if plain else base64.b64encode(text.encode("utf-8")).decode("ascii")


def _record_row(rec: InvokeRecord, plain: bool, with_output: bool) -> dict[str, Any]:
    error_code = rec.error_code or ("ExecutionTimeout" if rec.status == "Timeout" else "")
    row: dict[str, Any] = {
        "InstanceId": rec.instance,
        "InvocationStatus": rec.status,
        "InstanceInvokeStatus": "Running" if rec.status in RUNNING_STATES else "Finished",
        "Dropped": max(0, len(rec.output) - OUTPUT_MAX),
        "ErrorCode": error_code,
        "ErrorInfo": rec.error_info,
        "CreationTime": iso(rec.created),
        "StartTime": iso(rec.created),
        "Repeats": 1,
        "FinishTime": "" if rec.status in RUNNING_STATES else iso(rec.finished or rec.created),
    }
    if rec.exit_code is not None and rec.status not in RUNNING_STATES:
        row["ExitCode"] = rec.exit_code
    if with_output:
        row["Output"] = _encode(rec.output[:OUTPUT_MAX], plain)
    return row


def _invocations(st: State, p: dict[str, str]) -> list[Invocation]:
    invoke_id, command_id = get_str(p, "InvokeId"), get_str(p, "CommandId")
    instance = get_str(p, "InstanceId")
    pool = (
        [st.world.invocations[invoke_id]]
        if invoke_id in st.world.invocations
        else []
        if invoke_id
        else sorted(st.world.invocations.values(), key=lambda i: -i.created)
    )
    return [
        i
        for i in pool
        if (command_id is None or i.command_id == command_id)
        and (instance is None or instance in i.instances)
    ]


@op("DescribeInvocations")
def describe_invocations(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    plain = (get_str(p, "ContentEncoding") or "Base64").lower() == "plaintext"
    with_output = get_bool(p, "IncludeOutput")
    status_filter = get_str(p, "InvokeStatus")
    rows = []
    for inv in _invocations(st, p):
        recs = [st.world.records[f"{inv.id}/{i}"] for i in inv.instances]
        overall = _overall([r.status for r in recs])
        if status_filter is not None and status_filter != overall:
            continue
        rows.append(
            {
                "InvokeId": inv.id,
                "CommandId": inv.command_id,
                "CommandName": inv.name,
                "CommandType": inv.type,
                "CommandContent": _encode(inv.content, plain),
                "CreationTime": iso(inv.created),
                "InvocationStatus": overall,
                "InvokeStatus": "Running" if overall in RUNNING_STATES else "Finished",
                "RepeatMode": "Once",
                "Timed": False,
                "Timeout": inv.timeout_s,
                "Parameters": inv.parameters,
                "Username": "root",
                "WorkingDir": "/root",
                "InvokeInstances": {"InvokeInstance": [_record_row(r, plain, with_output) for r in recs]},
            }
        )
    chunk, fields = page(rows, p, max_results=50)
    return {**fields, "Invocations": {"Invocation": chunk}}


@op("DescribeInvocationResults")
def describe_invocation_results(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    plain = (get_str(p, "ContentEncoding") or "Base64").lower() == "plaintext"
    instance = get_str(p, "InstanceId")
    record_status = get_str(p, "InvokeRecordStatus")
    rows = []
    for inv in _invocations(st, p):
        for iid in inv.instances:
            if instance is not None and iid != instance:
                continue
            rec = st.world.records[f"{inv.id}/{iid}"]
            rstat = {"Pending": "Running", "Running": "Running", "Success": "Finished"}.get(
                rec.status, "Failed"
            )
            if record_status is not None and record_status != rstat:
                continue
            row = _record_row(rec, plain, True)
            row.update(
                {
                    "InvokeId": inv.id,
                    "CommandId": inv.command_id,
                    "InvokeRecordStatus": rstat,
                    "FinishedTime": row.pop("FinishTime"),
                    "Username": "root",
                }
            )
            rows.append(row)
    chunk, fields = page(rows, p, max_results=50)
    return {"Invocation": {**fields, "InvocationResults": {"InvocationResult": chunk}}}


@op("DescribeCloudAssistantStatus")
def describe_cloud_assistant_status(st: State, p: dict[str, str], now: float) -> dict[str, Any]:
    ids = get_list(p, "InstanceId")
    os_type = get_str(p, "OSType")
    pool = [find_instance(st, i) for i in ids] if ids else list(st.world.instances.values())
    rows = []
    for inst in pool:
        if os_type is not None and os_type.lower() != inst.os_type.lower():
            continue
        online = inst.cloud_assistant and not inst.crashed and inst.status == "Running"
        recs = [r for r in st.world.records.values() if r.instance == inst.id]
        rows.append(
            {
                "InstanceId": inst.id,
                "CloudAssistantStatus": "true" if online else "false",
                "CloudAssistantVersion": "2.2.3.857",
                "OSType": inst.os_type.capitalize(),
                "LastHeartbeatTime": iso(now) if online else "",
                "SupportSessionManager": False,
                "ActiveTaskCount": sum(1 for r in recs if r.status in RUNNING_STATES),
                "InvocationCount": len(recs),
                "LastInvokedTime": iso(max((r.created for r in recs), default=None)),
            }
        )
    chunk, fields = page(rows, p, max_results=50)
    return {**fields, "InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": chunk}}
