"""Loading a hook implementation from `module:factory`, as `--hooks` does."""

from __future__ import annotations

import pytest

from failover.sim.hooks import HookLoadError, Hooks, NoopHooks, load_hooks


def test_loads_a_factory_and_checks_the_protocol() -> None:
    hooks = load_hooks("failover.sim.hooks:NoopHooks")
    assert isinstance(hooks, NoopHooks) and isinstance(hooks, Hooks)
    assert hooks.run_command("i-1", "echo", 5) == (0, "")


@pytest.mark.parametrize(
    "spec", ["nomodule", "no_such_module_xyz:f", "failover.sim.hooks:missing", "json:dumps"]
)
def test_bad_specs_are_named(spec: str) -> None:
    with pytest.raises(HookLoadError, match="--hooks"):
        load_hooks(spec)
