"""Builds the project's wheels offline (the dev extra's setuptools, no build isolation) and runs
the `failover` command of an install that holds only what a wheel carries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.integration.deploy.tools import REPO


def copy_tree(rels: list[str], dest: Path, src: Path = REPO) -> Path:
    """A clean copy of files and folders (no caches, no build leftovers) to build from."""
    for rel in rels:
        path = src / rel
        if path.is_dir():
            shutil.copytree(path, dest / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build",
                                                                            "*.egg-info"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    return dest


def build_wheel(project: Path, out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(out), str(project)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return sorted(z.namelist())


def install(project: Path, target: Path) -> Path:
    """`pip install` as the image's build stage runs it, into a folder, without dependencies."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--no-compile", "-q", "--target", str(target), str(project)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def run_installed(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`failover ARGS` with `failover` imported from TARGET only: the dependencies come from this
    environment's site-packages, but without `site` (-S), so its editable install of the source
    tree (a meta-path finder that would answer for `failover.sim`) is not loaded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]])}
    return subprocess.run([sys.executable, "-S", "-m", "failover", *args], cwd=target, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
