"""RTO benchmark: the controller against keepalived in the network-namespace lab (needs root).

Reproduce: `sudo .venv/bin/python benchmarks/bench_rto.py [--runs 10]` (what `make bench` runs),
the same as `failover lab bench --runs 10 --json`: the whole comparison matrix in one run
(about an hour: 3 settings x 2 sides x 3 modes x 10 trials, 3 x 10 min of noise, 3 seeds x
10 realistic failovers). Writes benchmarks/results/rto.json and rto_timeline.png (the chart
needs matplotlib). Not root: exits 77 ("skipped"), which `make bench` reports and fails on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = 77


def main() -> int:
    if os.geteuid() != 0:
        print("bench_rto: skipped: the lab needs root (network namespaces)", file=sys.stderr)
        return SKIPPED
    args = sys.argv[1:] or ["--runs", "10"]
    out = ROOT / "benchmarks" / "results"
    cmd = [sys.executable, "-m", "failover", "lab", "bench", *args, "--json", "--out", str(out)]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
