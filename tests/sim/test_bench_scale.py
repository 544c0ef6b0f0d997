"""`python -m bench.sim scale` (the command of the 100,000-node run) still runs.

A 100-node run of the same command: it completes without a violation, prints
the memory figures docs/benchmarks.md quotes, and ends with a pinned trace
digest (re-pinned with tests/sim/test_digests.py when a node's messages came
to draw from one stream per sender, docs/decisions/0015-sim-scale.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_command_runs_and_keeps_its_digest() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.sim", "scale", "--nodes", "100", "--rate", "2",
         "--stop", "5", "--assessments", "5", "--sync-interval", "20"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "baseline at 100 nodes: 21 tokens" in text and "violation None" in text
    assert re.search(r"seen caches at the end: \d+ bytes per node", text)
    assert re.search(r"peak RSS per node: [\d.]+ KiB", text)
    assert "digest 12ab683003f5a618c046f123e0f24e3e3df8ed8a8f688a30b3922b1a76ebd1ad" in text
