"""The image's Dockerfile, linted structurally (no Docker engine runs on the CI machines).

Checks what a review would: stages, a pinned base without a registry host, a non-root numeric
user in the final stage, no ADD and no secret copied or set, the command the Deployment
expects, and that the files the build copies are all the package needs.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.integration.deploy.tools import DEPLOY, REPO
from tests.integration.deploy.wheels import copy_tree, install, run_installed

DOCKERFILE = DEPLOY / "Dockerfile"
IGNORE = DEPLOY / "Dockerfile.dockerignore"
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")
SECRETISH = re.compile(r"secret|password|passwd|token|access_?key|credential|\.pem$|\.key$|\.env$|id_rsa",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Instr:
    op: str
    args: str


def instructions() -> list[Instr]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, args = line.partition(" ")
            out.append(Instr(op.upper(), args.strip()))
    return out


def stages() -> list[list[Instr]]:
    out: list[list[Instr]] = []
    for ins in instructions():
        if ins.op == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def base_images() -> list[str]:
    args = {}
    for ins in instructions():
        if ins.op == "ARG" and "=" in ins.args:
            k, _, v = ins.args.partition("=")
            args[k] = v
    images = []
    for ins in instructions():
        if ins.op == "FROM":
            ref = ins.args.split()[0]
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], ref))
    return images


def test_multi_stage_with_a_pinned_base_and_no_registry_host() -> None:
    assert len(stages()) >= 2
    for image in base_images():
        assert PINNED_BASE.match(image), f"base {image!r} is not pinned to a full python:3.11.x-slim-bookworm"
        first = image.split("/")[0]
        assert "/" not in image or not ("." in first or ":" in first), f"{image}: registry host"
    assert "COPY --from=build" in DOCKERFILE.read_text(), "the runtime stage must copy from the build stage"


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [i.args for i in stages()[-1] if i.op == "USER"]
    assert users, "no USER in the final stage: the image would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER {users[-1]}: numeric and non-root (runAsNonRoot checks it)"
    assert int(user) == 10001, "keep in step with the Deployment's runAsUser"


def test_no_add_and_no_secret_copied_or_baked_in() -> None:
    for ins in instructions():
        assert ins.op != "ADD", "use COPY: ADD fetches URLs and unpacks archives"
        if ins.op == "COPY":
            sources = [a for a in ins.args.split() if not a.startswith("--")][:-1]
            for src in sources:
                assert not SECRETISH.search(src), f"COPY {src}: looks like a secret"
        if ins.op in {"ENV", "ARG"}:
            for name in re.findall(r"(\w+)=", ins.args):
                assert not SECRETISH.search(name), f"{ins.op} {name}: secrets come at run time"


def test_runs_the_controller_as_the_deployment_expects() -> None:
    final = stages()[-1]
    entry = [i.args for i in final if i.op == "ENTRYPOINT"][-1]
    cmd = [i.args for i in final if i.op == "CMD"][-1]
    assert entry == '["failover"]'
    assert cmd == '["run", "--config", "/etc/failover/config.yaml"]'
    assert any(i.op == "HEALTHCHECK" and "/healthz" in i.args for i in final)
    assert any(i.op == "EXPOSE" and "9108" in i.args for i in final)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path, pat.replace("**/", "")) or path.startswith(pat + "/"):
            ignored = not neg
    return ignored


def test_the_build_copies_everything_the_package_needs_and_nothing_else() -> None:
    copied = set()
    for ins in stages()[0]:
        if ins.op == "COPY":
            copied |= {a.rstrip("/").removeprefix("./") for a in ins.args.split()[:-1] if not a.startswith("--")}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = {"pyproject.toml", project["project"]["readme"], "failover", *project["project"]["license-files"],
              "constraints.txt"}
    assert needed <= copied, f"the build stage does not copy {sorted(needed - copied)}"
    patterns = [ln.strip() for ln in IGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    package_files = [rel for rel in _tree_files("failover") if not rel.startswith(RIG)]
    for rel in ["pyproject.toml", project["project"]["readme"], "LICENSE", "constraints.txt", *package_files]:
        assert not _ignored(rel, patterns), f"{rel} is excluded from the build context"
    for rel in (".venv/bin/python", "tests/conftest.py", "config/local.yaml", ".git/config",
                "failover/sim/server.py", "failover/lab/runtime.py", "rig/pyproject.toml"):
        assert _ignored(rel, patterns), f"{rel} would be sent to the build"


RIG = ("failover/sim/", "failover/lab/")


def _tree_files(top: str) -> list[str]:
    return [p.relative_to(REPO).as_posix() for p in (REPO / top).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]


def _build_context(dest: Path) -> Path:
    """The files BuildKit sends: the repository's, less the .dockerignore's."""
    patterns = [ln.strip() for ln in IGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    top = ["pyproject.toml", "README.md", "LICENSE", "constraints.txt", "failover", "rig", "tests", "config"]
    sent = [rel for t in top for rel in ([t] if (REPO / t).is_file() else _tree_files(t))
            if not _ignored(rel, patterns)]
    return copy_tree(sent, dest)


def test_the_image_installs_the_controller_without_the_emulator_or_the_lab(tmp_path: Path) -> None:
    """The build stage's `pip install .` over the build context, run here (no Docker engine):
    the controller installs and runs; the rig is neither sent nor installed, and asking for it
    gets one error line."""
    (install_step,) = [i for i in stages()[0] if i.op == "RUN" and "pip install" in i.args]
    assert install_step.args.split("&&")[0].rstrip().endswith(" ."), install_step.args
    context = _build_context(tmp_path / "context")
    assert not (context / "failover" / "sim").exists() and not (context / "failover" / "lab").exists()
    assert (context / "failover" / "cli.py").is_file() and not (context / "tests").exists()
    site = install(context, tmp_path / "venv")
    installed = {p.relative_to(site).as_posix() for p in (site / "failover").rglob("*.py")}
    assert "failover/cli.py" in installed and "failover/engine/decide.py" in installed
    assert not [f for f in installed if f.startswith(RIG)]
    assert run_installed(site, "--version").returncode == 0
    refused = run_installed(site, "demo")
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1


def test_dependencies_install_at_the_versions_of_the_constraints_file() -> None:
    (install,) = [i for i in stages()[0] if i.op == "RUN" and "pip install" in i.args]
    assert "-c constraints.txt" in install.args
