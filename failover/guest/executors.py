"""Guest executors: run the rendered script through Cloud Assistant, or trust the image.

`CloudAssistantGuest` sends the script with `CloudPort.run_script` (which
waits for the invocation's result; PowerShell for Windows guests, POSIX sh
for the rest) and turns anything but success into a
`GuestError` carrying the script's own one-line reason. `NoopGuest` is the
`none` method: the image brings the ENI up itself; the engine's verify step
is what checks it.
"""

from __future__ import annotations

from failover.guest.script import DEFAULT_WAIT_S, render_release, render_runtime
from failover.guest.validate import FAMILIES, GuestInputError, check_family
from failover.model import CallTrace, CommandResult, GuestNetwork, Priority, ScriptLanguage
from failover.ports import GuestConfigurator, ScriptRunner

MAX_DETAIL = 300  # characters of guest output an error message carries
_ERROR_PREFIX = "failover-guest: error: "


class GuestError(Exception):
    """The guest script did not succeed; `result` is the raw Cloud Assistant outcome."""

    def __init__(self, message: str, *, instance_id: str, result: CommandResult | None = None) -> None:
        super().__init__(message)
        self.instance_id = instance_id
        self.result = result


def reason(output: str) -> str:
    """The script's own error line when it wrote one, else the tail of its output (bounded)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln[len(_ERROR_PREFIX):] for ln in lines if ln.startswith(_ERROR_PREFIX)]
    text = errors[-1] if errors else " | ".join(lines[-3:])
    if len(text) > MAX_DETAIL:
        text = "..." + text[-(MAX_DETAIL - 3):]
    return text or "no output"


def wait_for(timeout_s: float) -> int:
    """How long the script waits for the hot-plugged device: it must give up before the agent kills it."""
    return max(1, min(DEFAULT_WAIT_S, int(timeout_s / 2)))


class CloudAssistantGuest:
    """Runs the guest scripts over Cloud Assistant (`RunCommand`) through the cloud port."""

    def __init__(self, cloud: ScriptRunner, os_family: str = "auto", *, persist: bool = True) -> None:
        check_family(os_family)
        self._cloud = cloud
        # `auto` detects among the Linux families from inside a POSIX sh script, so a Windows
        # guest must be named: its script is PowerShell and is sent as such.
        self._language = ScriptLanguage.POWERSHELL if os_family == "windows" else ScriptLanguage.SHELL
        self._family = os_family
        self._persist = persist

    def configure(
        self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
        trace: CallTrace | None = None,
    ) -> CommandResult:
        script = render_runtime(network, self._family, wait_s=wait_for(timeout_s), persist=self._persist)
        return self._run("configure", instance_id, script, timeout_s, trace, Priority.FAILOVER)

    def release(
        self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
        trace: CallTrace | None = None,
    ) -> CommandResult:
        script = render_release(network, self._family, persist=self._persist)
        # The ENI already serves from its new holder: cleaning the old one waits for any
        # failover's calls (after a zone returns, a hundred releases must not delay one).
        return self._run("release", instance_id, script, timeout_s, trace, Priority.ROUTINE)

    def _run(
        self, action: str, instance_id: str, script: str, timeout_s: float, trace: CallTrace | None,
        priority: Priority,
    ) -> CommandResult:
        result = self._cloud.run_script(instance_id, script, timeout_s=timeout_s, trace=trace,
                                        language=self._language, priority=priority)
        if not result.ok:
            raise GuestError(
                f"guest {action} on {instance_id} failed ({result.status}, exit {result.exit_code}, "
                f"invocation {result.invoke_id or '-'}): {reason(result.output)}",
                instance_id=instance_id, result=result,
            )
        return result


class NoopGuest:
    """Method `none`: the image configures the ENI itself; nothing runs here."""

    def configure(
        self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
        trace: CallTrace | None = None,
    ) -> CommandResult:
        return CommandResult("", "Success", 0, "guest method none: the image configures the ENI")

    def release(
        self, instance_id: str, network: GuestNetwork, *, timeout_s: float,
        trace: CallTrace | None = None,
    ) -> CommandResult:
        return CommandResult("", "Success", 0, "guest method none: the image releases the ENI")


def make_guest(method: str, os_family: str, cloud: ScriptRunner) -> GuestConfigurator:
    """The executor for a group's `guest: {method, os}` settings."""
    if method == "none":
        check_family(os_family)
        return NoopGuest()
    if method == "cloud_assistant":
        return CloudAssistantGuest(cloud, os_family)
    raise GuestInputError("method", f"unknown method {method!r}; use cloud_assistant or none")


__all__ = ["FAMILIES", "CloudAssistantGuest", "GuestError", "NoopGuest", "make_guest", "reason"]
