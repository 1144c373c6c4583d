"""The two distributions: `failover` (the controller) carries neither the emulator nor the lab;
`failover-rig` carries both and nothing else; a controller-only install says so when asked for
the rig's commands."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import failover
from tests.integration.deploy.tools import REPO
from tests.integration.deploy.wheels import build_wheel, copy_tree, install, run_installed, wheel_files

RIG = ("failover/sim/", "failover/lab/")
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "failover", "rig/pyproject.toml"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(SOURCES, tmp_path_factory.mktemp("src"))


@pytest.fixture(scope="module")
def product_files(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return wheel_files(build_wheel(tree, tmp_path_factory.mktemp("product")))


def test_the_controller_wheel_carries_neither_the_emulator_nor_the_lab(product_files: list[str]) -> None:
    assert not [f for f in product_files if f.startswith(RIG)]
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "failover").rglob("*.py")
               if not p.relative_to(REPO).as_posix().startswith(RIG)}
    assert modules <= set(product_files), sorted(modules - set(product_files))
    for data in ("failover/py.typed", "failover/guest/scripts/configure.sh",
                 "failover/guest/scripts/release.ps1.tmpl"):
        assert data in product_files


def test_the_rig_wheel_carries_the_emulator_and_the_lab_and_nothing_else(
        tree: Path, tmp_path: Path) -> None:
    files = wheel_files(build_wheel(tree / "rig", tmp_path))
    code = [f for f in files if ".dist-info/" not in f]
    rig_modules = {p.relative_to(REPO).as_posix() for rel in RIG for p in (REPO / rel).rglob("*.py")}
    assert set(code) == rig_modules
    rig = tomllib.loads((REPO / "rig" / "pyproject.toml").read_text())["project"]
    assert rig["version"] == failover.__version__
    assert f"failover=={failover.__version__}" in rig["dependencies"]


def test_a_controller_only_install_runs_and_refuses_the_rig_commands_in_one_line(
        tree: Path, tmp_path: Path) -> None:
    target = install(tree, tmp_path / "site")
    assert not (target / "failover" / "sim").exists() and not (target / "failover" / "lab").exists()
    version = run_installed(target, "--version")
    assert version.returncode == 0 and failover.__version__ in version.stdout, version.stderr
    for argv in (["sim", "ecs", "--listen", "127.0.0.1:0"], ["lab", "up"], ["demo"], ["sim", "--help"]):
        out = run_installed(target, *argv)
        assert out.returncode == 1, (argv, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "failover-rig" in lines[0] and f"`failover {argv[0]}`" in lines[0], lines
    listed = run_installed(target, "--help")
    assert listed.returncode == 0 and "sim" in listed.stdout
    # the controller's own commands run from it (nothing outside the rig imports the rig)
    config = copy_tree(["config/local.yaml"], tmp_path / "cfg") / "config" / "local.yaml"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "test-id")
        mp.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "test-secret")
        valid = run_installed(target, "validate", "--config", str(config))
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_a_source_checkout_still_has_the_rig_commands() -> None:
    import click

    from failover import cli
    from failover.commands.sim import sim

    assert cli.rig_installed()
    assert cli.main.get_command(click.Context(cli.main), "sim") is sim
