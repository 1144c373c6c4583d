"""Runbooks as data: their settings, commands (with `# needs:` / `# expect:` marks) and the
dashboard panels they name. The format is described in runbooks/README.md."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

NEEDS = {"real-cloud"}
SETTING = re.compile(r"^export ([A-Z_][A-Z0-9_]*)=(\S+)")
PANEL = re.compile(r'panel "([^"]+)"')
VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# CLI commands that talk to running controllers through ZooKeeper (and the cloud they watch).
NEED_CONTROLLERS = {"status", "drill", "history", "ack", "journal", "provision", "pause", "resume"}
GLOBAL_WITH_VALUE = {"--config", "--log-level"}


@dataclass(frozen=True)
class Command:
    runbook: str
    line: int
    text: str
    needs: str | None = None
    expect: int = 0

    def failover_invocations(self) -> list[list[str]]:
        """Each `failover ...` in the command, as words from the subcommand on."""
        out = []
        for segment in re.split(r"[|;&]+", self.text):
            try:
                words = shlex.split(segment)
            except ValueError:
                words = segment.split()
            if words and words[0] == "failover":
                i = 1
                while i < len(words) and words[i].startswith("-"):
                    i += 2 if words[i] in GLOBAL_WITH_VALUE else 1
                out.append(words[i:])
        return out

    def subcommands(self) -> set[str]:
        return {inv[0] for inv in self.failover_invocations() if inv}

    def lab_needs(self) -> set[str]:
        """The CLI commands that must be built for this command to run in the lab."""
        needs = set(self.subcommands())
        if needs & NEED_CONTROLLERS or "$OPS" in self.text:
            needs |= {"run", "sim"}
        if "validate" in needs and "--live" in self.text:
            needs.add("sim")
        return needs

    def variables(self) -> set[str]:
        return set(VAR.findall(self.text))


@dataclass
class Runbook:
    path: Path
    settings: dict[str, str] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    panels: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def parse(path: Path) -> Runbook:
    rb = Runbook(path)
    rb.panels = PANEL.findall(path.read_text())
    in_sh = False
    needs: str | None = None
    expect = 0
    pending = ""
    start = 0
    for no, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            if in_sh and (needs or pending):
                rb.problems.append(f"{path.name}:{no}: a mark or a continued line ends the block")
            in_sh = line == "```sh" if not in_sh else False
            needs, expect, pending = None, 0, ""
            continue
        if not in_sh or (not line and not pending):
            continue
        if line.startswith("#") and not pending:
            m = re.fullmatch(r"#\s*(needs|expect):\s*(\S+)", line)
            if m and m.group(1) == "needs":
                if m.group(2) not in NEEDS:
                    rb.problems.append(f"{path.name}:{no}: unknown need {m.group(2)!r}")
                needs = m.group(2)
            elif m:
                expect = int(m.group(2))
            continue
        if not pending:
            start = no
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        setting = SETTING.match(text)
        if setting and needs is None:
            rb.settings[setting.group(1)] = setting.group(2)
        else:
            rb.commands.append(Command(path.name, start, text, needs, expect))
        needs, expect = None, 0
    return rb


def runbooks(folder: Path) -> list[Runbook]:
    return [parse(p) for p in sorted(folder.glob("*.md")) if p.name != "README.md"]
