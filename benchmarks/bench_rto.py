"""RTO benchmark: the controller against keepalived in the network-namespace lab (needs root).

Reproduce: `sudo .venv/bin/python benchmarks/bench_rto.py [--runs 10]` (what `make bench` runs),
the same as `failover lab bench --runs 10 --json`. Writes benchmarks/results/rto.json and
benchmarks/results/rto_timeline.png (the chart needs matplotlib).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    if os.geteuid() != 0:
        print("bench_rto: the lab needs root (network namespaces); skipped", file=sys.stderr)
        return 0
    args = sys.argv[1:] or ["--runs", "10"]
    out = ROOT / "benchmarks" / "results"
    cmd = [sys.executable, "-m", "failover", "lab", "bench", *args, "--json", "--out", str(out)]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
