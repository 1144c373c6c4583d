"""The reliability suite at full count (issue 11): chaos trials with measured figures.

The same trial functions `tests/reliability/` runs at a small count in `make
test`, here at the issue's counts, each against a fresh system (emulator,
ZooKeeper, three `failover run` processes). Prints progress; writes
benchmarks/results/reliability.json and benchmarks/results/reliability.md.

    .venv/bin/python benchmarks/bench_reliability.py            # full count (~20 min)
    .venv/bin/python benchmarks/bench_reliability.py --quick    # the CI counts
    .venv/bin/python benchmarks/bench_reliability.py --only 7 --merge   # re-run one, keep the rest
    .venv/bin/python benchmarks/bench_reliability.py --only P --merge   # the partial-failure family
    .venv/bin/python benchmarks/bench_reliability.py --only P3,P7 --merge   # two of its trials
    .venv/bin/python benchmarks/bench_reliability.py --only 26 --out benchmarks/results/issue26
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)

from harness.chaos import ChaosSystem, Spec  # noqa: E402
from harness.trials import TrialResult  # noqa: E402
from harness.trials_auth import auth_upgrade  # noqa: E402
from harness.trials_faults import FAULT_SPEC, FLAP_SPEC, HANG_SPEC, api_faults, flapping, hung_primary  # noqa: E402
from harness.trials_input import (  # noqa: E402
    corrupt_group_isolated,
    corrupt_group_state,
    corrupt_record,
    garbage_observation,
)
from harness.trials_kill import leader_kill  # noqa: E402
from harness.trials_partial import FAMILY as PARTIAL  # noqa: E402
from harness.trials_pause import HUNG_SPEC as PAUSE_HUNG_SPEC  # noqa: E402
from harness.trials_pause import paused_leader  # noqa: E402
from harness.trials_prestage import PRESTAGE, agent_offline_everywhere  # noqa: E402
from harness.trials_scale import combined, outage_spec, zone_outage  # noqa: E402
from harness.trials_voter import stale_voter  # noqa: E402
from harness.trials_zk import zk_leader_killed, zk_outage  # noqa: E402
from harness.zk import ZkCluster  # noqa: E402

FULL = {"kills": 50, "zk": 5, "faults": 20, "flap": (2.0, 60.0), "partition": 5, "hang": 5,
        "groups": 100, "outages": 5, "fuzz": 500, "pauses": 50, "voters": 5, "partial": 10,
        "prestaged": 20}
QUICK = {"kills": 2, "zk": 1, "faults": 2, "flap": (1.0, 8.0), "partition": 1, "hang": 1,
         "groups": 20, "outages": 1, "fuzz": 50, "pauses": 2, "voters": 1, "partial": 1,
         "prestaged": 1}
T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def on_system(zk: ZkCluster, tmp: Path, name: str, spec: Spec,
              body: Callable[[ChaosSystem], list[TrialResult]]) -> list[TrialResult]:
    try:
        with ChaosSystem(tmp / name, zk, f"/bench/{name}", spec) as system:
            return body(system)
    except Exception as e:
        r = TrialResult(name, 0)
        r.fail(f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return [r.done()]


def partial_family(zk: ZkCluster, tmp: Path, only: set[str], runs: int) -> list[TrialResult]:
    """The partial-failure trials (issue 20), each on a fresh system; `P` selects them all."""
    from harness.partial import PartialSystem

    results = []
    for name, member in sorted(PARTIAL.items()):
        if "P" not in only and name not in only:
            continue
        say(f"trial {name}: partial failures")
        try:
            with PartialSystem(tmp / name, zk, f"/bench/{name}", member.spec,
                               second_group=member.second_group) as system:
                results.append(member.trial(system, runs, say))
        except Exception as e:
            r = TrialResult(f"{name}. (its system failed)", 0)
            r.fail(f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            results.append(r.done())
    return results


def trial_partition(runs: int) -> list[TrialResult]:
    if os.geteuid() != 0:
        r = TrialResult("5. one controller partitioned from the primary (lab)", 0)
        r.fail("needs root (network namespaces)")
        return [r.done()]
    from failover.lab.runtime import Lab
    from harness.trials_lab import partition

    lab = Lab()
    try:
        lab.up()
        return [partition(lab, runs, progress=say)]
    finally:
        lab.down()


def trial_fuzz(examples: int) -> list[TrialResult]:
    r = TrialResult("8a. fuzzed config files and CLI arguments (hypothesis)", examples)
    env = {**os.environ, "FUZZ_EXAMPLES": str(examples)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/fuzz"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    tail = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:]
    r.check(out.returncode == 0, f"pytest tests/unit/fuzz: {tail}")
    r.figures = {"examples_per_property": examples, "pytest": tail}
    return [r.done()]


def run(only: set[str], counts: dict[str, Any], tmp: Path) -> list[TrialResult]:
    results: list[TrialResult] = []
    zk = ZkCluster(tmp / "zk", size=1)
    zk.start()
    try:
        if "1" in only:
            say("trial 1: leader SIGKILL during a failover")
            results += on_system(zk, tmp, "t1", Spec(),
                                 lambda s: [leader_kill(s, counts["kills"], progress=say)])
        if "3" in only:
            say("trial 3: API faults")
            results += on_system(zk, tmp, "t3", FAULT_SPEC, lambda s: [api_faults(s, counts["faults"], say)])
        if "4" in only:
            say("trial 4: flapping")
            period, duration = counts["flap"]
            results += on_system(zk, tmp, "t4", FLAP_SPEC, lambda s: [flapping(s, period, duration, say)])
        if "6" in only:
            say("trial 6: hung primary")
            results += on_system(zk, tmp, "t6", HANG_SPEC, lambda s: [hung_primary(s, counts["hang"], say)])
        if "7" in only:
            n = counts["groups"]
            say(f"trial 7: zone outage, {n} groups")
            outages = [r for i in range(counts["outages"])
                       for r in on_system(zk, tmp, f"t7-{i}", outage_spec(n, 10),
                                          lambda s: [zone_outage(s, 10, say)])]
            results.append(combined(outages))
        if only & {"21", "21a", "21b"}:
            say("trials 21a/21b: the leader paused (SIGSTOP) past its session mid-failover")
        if only & {"21", "21a"}:
            results += on_system(zk, tmp, "t21a", Spec(),
                                 lambda s: [paused_leader(s, counts["pauses"], progress=say)])
        if only & {"21", "21b"}:
            results += on_system(zk, tmp, "t21b", PAUSE_HUNG_SPEC,
                                 lambda s: [paused_leader(s, counts["pauses"], hung=True, progress=say)])
        if only & {"21", "21c"}:
            results += on_system(zk, tmp, "t21c", Spec(), lambda s: [auth_upgrade(s, say)])
        if "21" in only or "21d" in only:
            say("trial 21d: stale voter")
            results += on_system(zk, tmp, "t21d", Spec(),
                                 lambda s: [stale_voter(s, counts["voters"], progress=say)])
        if "8" in only:
            say("trial 8: bad input")
            results += trial_fuzz(counts["fuzz"])
            results += on_system(zk, tmp, "t8b", Spec(), lambda s: [corrupt_record(s, say)])
            results += on_system(zk, tmp, "t8c", Spec(), lambda s: [corrupt_group_state(s, say)])
            results += on_system(zk, tmp, "t8d", Spec(), lambda s: [garbage_observation(s, progress=say)])
            results += on_system(zk, tmp, "t8e", Spec(groups=2), lambda s: [corrupt_group_isolated(s, say)])
        results += partial_family(zk, tmp, only, counts["partial"])
        if "26" in only:
            say("trial 26: Cloud Assistant offline on every member, pre-staged guest configuration")
            from harness.partial import PartialSystem

            try:
                with PartialSystem(tmp / "t26", zk, "/bench/t26", PRESTAGE) as system:
                    results.append(agent_offline_everywhere(system, counts["prestaged"], say))
            except Exception as e:
                r = TrialResult("26. (its system failed)", 0)
                r.fail(f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                results.append(r.done())
    finally:
        zk.stop()
    if "2" in only:
        say("trial 2: ZooKeeper ensemble faults")
        ens = ZkCluster(tmp / "ens", size=3)
        ens.start()
        try:
            results += on_system(ens, tmp, "t2", Spec(),
                                 lambda s: [zk_leader_killed(s, counts["zk"], progress=say),
                                            zk_outage(s, counts["zk"], progress=say)])
        finally:
            ens.stop()
    if "5" in only:
        say("trial 5: partition (lab)")
        results += trial_partition(counts["partition"])
    return sorted(results, key=lambda r: r.trial)


def merged(old: dict[str, Any], new: list[TrialResult]) -> list[TrialResult]:
    """The new results, plus the old file's trials that were not re-run (matched by number)."""
    rerun = {r.trial.split(" ")[0] for r in new}
    kept = []
    for t in old.get("trials", []):
        if t["trial"].split(" ")[0] not in rerun:
            r = TrialResult(t["trial"], t["runs"], list(t["failures"]), dict(t["figures"]))
            r.elapsed_s = t["elapsed_s"]
            kept.append(r)
    return sorted([*kept, *new], key=lambda r: r.trial)


def _fig(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fig(x)}" for k, x in v.items())
    return str(v)


def markdown(results: list[TrialResult], command: str) -> str:
    lines = ["# Reliability trials (issue 11)", "", f"Command: `{command}`", "",
             "| trial | runs | failures | passed | figures | time |", "|---|---|---|---|---|---|"]
    for r in results:
        figs = "; ".join(f"{k}: {_fig(v)}" for k, v in r.figures.items() if k != "runs") or "-"
        lines.append(f"| {r.trial} | {r.runs} | {len(r.failures)} | {'yes' if not r.failures else 'NO'} "
                     f"| {figs} | {r.elapsed_s:g} s |")
    per_run = [(r.trial, x) for r in results for x in r.figures.get("runs", [])]
    if per_run:
        lines += ["", "## Partial failures, per run (seconds after the fault)", "",
                  "| trial | run | served after | unserved | status lying | beyond window | CLI lies "
                  "| holder | attaches | guest runs there |", "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {t.split(' ')[0]} | {x['run']} | {x['served_after_s']} | {x['unserved_s']} "
                  f"| {x['lying_s']} | {x['lying_beyond_window_s']} | {x['cli_lies']}/{x['cli_samples']} "
                  f"| {x.get('holder')} | {x.get('attaches')} | {x.get('guest_runs_on_holder')} |"
                  for t, x in per_run]
    failed = [(r.trial, f) for r in results for f in r.failures]
    if failed:
        lines += ["", "## Failures", ""] + [f"- {t}: {f}" for t, f in failed]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the small counts of `make test`")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,P",
                    help="comma-separated trial numbers; P is the partial-failure family, P1..P9 one of it; "
                         "21 is 21a-21d, 21a/21b/21c/21d one of them")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other trials of an existing reliability.json (re-run only --only)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the controller logs and configs here, not in a temporary directory")
    args = ap.parse_args()
    counts = QUICK if args.quick else FULL
    load_at_start = [round(x, 2) for x in os.getloadavg()]  # 2 cores shared with other work
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        results = run(set(args.only.split(",")), counts, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-rel-") as tmp:
            results = run(set(args.only.split(",")), counts, Path(tmp))
    command = "benchmarks/bench_reliability.py " + " ".join(sys.argv[1:])
    # The host's load around this invocation, by trial number (a merge keeps the other rows').
    here = {"load_avg_at_start": load_at_start, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    machine = {r.trial.split(" ")[0]: here for r in results}
    if args.merge and (args.out / "reliability.json").exists():
        previous = json.loads((args.out / "reliability.json").read_text())
        machine = {**(previous.get("machine") or {}), **machine}
        results = merged(previous, results)
        # The other rows came from earlier runs; say so, or the table claims one command made it all.
        command = f"{previous.get('command', '?')}, then {command.strip()}"
    doc = {"what": "reliability trials of issue 11", "command": command.strip(), "counts": counts,
           "elapsed_s": round(time.monotonic() - T0, 1), "trials": [r.to_dict() for r in results],
           "machine": {k: v for k, v in machine.items() if k in {r.trial.split(" ")[0] for r in results}}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reliability.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "reliability.md").write_text(markdown(results, command.strip()))
    say(f"wrote {args.out / 'reliability.json'} and reliability.md")
    print(markdown(results, command.strip()))
    if any(r.failures for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
