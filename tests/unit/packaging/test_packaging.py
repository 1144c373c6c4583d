"""Packaging: the license, one version, the constraints file, deptry's verdict."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import failover

REPO = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_license_file_and_spdx_expression() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "Apache-2.0" in (REPO / "deploy" / "Dockerfile").read_text()  # the image label agrees


def test_one_version_source() -> None:
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    assert metadata.version("failover") == failover.__version__
    # The image tags the examples use are that version (the lead bumps one place, the test
    # names the others).
    for rel in ("deploy/kubernetes/base/kustomization.yaml", "deploy/kubernetes/overlays/example/kustomization.yaml"):
        for tag in re.findall(r"newTag: (\S+)", (REPO / rel).read_text()):
            assert tag == failover.__version__, rel


def _runtime_closure() -> dict[str, str]:
    """Every distribution `pip install failover` brings (no extras), with the installed version."""
    seen: dict[str, str] = {}
    todo = [Requirement(r) for r in metadata.requires("failover") or []]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        seen[name] = metadata.version(req.name)
        todo += [Requirement(r) for r in metadata.requires(req.name) or []]
    return seen


def test_the_constraints_pin_every_runtime_dependency_within_the_declared_ranges() -> None:
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    closure = _runtime_closure()
    missing = sorted(set(closure) - set(pins))
    assert not missing, f"constraints.txt lacks {missing}: run `make constraints`"
    for dep in PROJECT["dependencies"]:
        req = Requirement(dep)
        pinned = pins[re.sub(r"[-_.]+", "-", req.name).lower()]
        assert req.specifier.contains(pinned), f"constraints.txt pins {req.name}=={pinned} outside {req.specifier}"


def test_deptry_finds_every_import_declared_and_nothing_unused() -> None:
    deptry = Path(sys.executable).parent / "deptry"
    out = subprocess.run([str(deptry), "failover"], cwd=REPO, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
