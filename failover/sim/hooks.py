"""The hook interface through which the network lab makes attach, detach and commands real.

The emulator calls `on_attach` when an ENI reaches `InUse`, `on_detach` when it reaches
`Available`, and `run_command` (in a worker thread) for each instance of a `RunCommand`, and, when the hooks
have it (optional: older hooks lack it), `hotplug(instance_id, mac) -> (exit code, output)` when
the guest's pre-staged trigger for that MAC runs (see `guest_ops.py`).
A hook that raises makes an attach fail (the ENI goes back to `Available`) or a command end
`Failed`. `NoopHooks` runs nothing on the host: it only reports success.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable


@runtime_checkable
class Hooks(Protocol):
    def on_attach(self, eni_id: str, mac: str, instance_id: str) -> None: ...

    def on_detach(self, eni_id: str, instance_id: str) -> None: ...

    def run_command(self, instance_id: str, script: str, timeout_s: float) -> tuple[int, str]: ...


class NoopHooks:
    """No side effects: the script is only recorded (by the emulator) and reported successful."""

    def on_attach(self, eni_id: str, mac: str, instance_id: str) -> None:
        return None

    def on_detach(self, eni_id: str, instance_id: str) -> None:
        return None

    def run_command(self, instance_id: str, script: str, timeout_s: float) -> tuple[int, str]:
        return 0, ""

    def hotplug(self, instance_id: str, mac: str) -> tuple[int, str]:
        return 0, ""


class HookLoadError(ValueError):
    pass


def load_hooks(spec: str) -> Hooks:
    """`module:factory` -> the hooks the factory returns (called without arguments)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise HookLoadError(f"--hooks: expected module:factory, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise HookLoadError(f"--hooks: cannot load {spec!r}: {e}") from None
    try:
        hooks = factory()
    except Exception as e:
        raise HookLoadError(f"--hooks: {spec}() failed: {e}") from None
    if not isinstance(hooks, Hooks):
        raise HookLoadError(
            f"--hooks: {spec} did not return an object with on_attach, on_detach, run_command"
        )
    return hooks
